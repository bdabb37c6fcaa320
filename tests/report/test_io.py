"""Atomic writes never leave a partial file or a temp file; run directories are never reused."""

import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from stamp_sim.report import io as rio
from stamp_sim.report import (
    ReportError,
    append_rows_atomic,
    new_run_dir,
    read_table,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)


def _only(directory, names):
    assert sorted(os.listdir(directory)) == sorted(names)


@pytest.mark.parametrize("writer,payload,reader", [
    (write_text_atomic, "new text\n", lambda p: p.read_text()),
    (write_bytes_atomic, b"\x00new", lambda p: p.read_bytes()),
    (write_csv_atomic, pd.DataFrame({"a": [1, 2]}), lambda p: p.read_text()),
    (write_json_atomic, {"a": 1}, lambda p: p.read_text()),
])
def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path, writer, payload, reader):
    path = tmp_path / "out.file"
    path.write_text("old")
    assert writer(payload, path) == path
    assert reader(path) != "old"
    _only(tmp_path, ["out.file"])


def test_failure_in_replace_keeps_old_file_intact_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    path.write_text("old,complete\n1,2\n")

    def boom(src, dst):
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(rio.os, "replace", boom)
    with pytest.raises(RuntimeError, match="killed"):
        write_csv_atomic(pd.DataFrame({"x": range(1000)}), path)
    assert path.read_text() == "old,complete\n1,2\n"
    _only(tmp_path, ["results.csv"])


def test_os_error_during_write_becomes_one_line_report_error(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rio.os, "fsync", full_disk)
    with pytest.raises(ReportError) as err:
        write_text_atomic("new", path)
    assert str(path) in str(err.value) and "No space left" in str(err.value) and "\n" not in str(err.value)
    assert path.read_text() == "old"
    _only(tmp_path, ["report.html"])


def test_atomic_write_creates_parent_and_has_normal_permissions(tmp_path):
    path = write_bytes_atomic(b"png", tmp_path / "figures" / "a.png")
    assert path.read_bytes() == b"png"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_json_converts_numpy_nan_and_paths(tmp_path):
    path = write_json_atomic({"seed": np.int64(3), "x": np.float32(0.5), "nan": float("nan"),
                              "p": tmp_path, "arr": np.arange(2)}, tmp_path / "run.json")
    assert json.loads(path.read_text()) == {"seed": 3, "x": 0.5, "nan": None, "p": str(tmp_path), "arr": [0, 1]}
    with pytest.raises(ReportError, match=r"\$\.bad"):
        write_json_atomic({"bad": object()}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_new_run_dir_name_and_never_reused(tmp_path):
    dirs = {new_run_dir(tmp_path / "reports", "smollm2") for _ in range(50)}
    assert len(dirs) == 50
    for d in dirs:
        assert d.is_dir() and re.fullmatch(r"smollm2-\d{8}-\d{6}-[0-9a-f]{4}", d.name)


def test_new_run_dir_retries_on_collision(tmp_path, monkeypatch):
    suffixes = iter(["beef", "beef", "cafe"])
    monkeypatch.setattr(rio.secrets, "token_hex", lambda n: next(suffixes))
    first = new_run_dir(tmp_path, "run")
    (first / "results.csv").write_text("keep me")
    second = new_run_dir(tmp_path, "run")
    assert first != second and second.name.endswith("-cafe")
    assert (first / "results.csv").read_text() == "keep me"
    assert os.listdir(second) == []


def test_new_run_dir_unwritable_root_is_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for root in (blocker, blocker / "sub"):
        with pytest.raises(ReportError) as err:
            new_run_dir(root, "run")
        msg = str(err.value)
        assert str(root) in msg and "\n" not in msg
    with pytest.raises(ReportError, match="prefix"):
        new_run_dir(tmp_path, "../escape")


def test_append_rows_keeps_finished_rows_and_replaces_by_key(tmp_path):
    path = tmp_path / "results.csv"
    append_rows_atomic(pd.DataFrame({"config": ["fp"], "hw": ["npu"], "ppl": [12.0]}), path, key=["config", "hw"])
    append_rows_atomic(pd.DataFrame({"config": ["w4a4"], "hw": ["npu"], "ppl": [np.nan], "kl": [0.3]}), path,
                       key=["config", "hw"])
    table = append_rows_atomic(pd.DataFrame({"config": ["w4a4"], "hw": ["npu"], "ppl": [30.0], "kl": [0.3]}),
                               path, key=["config", "hw"])
    back = read_table(path)
    assert list(back.columns) == ["config", "hw", "ppl", "kl"]
    assert back["config"].tolist() == ["fp", "w4a4"] and back["ppl"].tolist() == [12.0, 30.0]
    assert len(table) == 2
    _only(tmp_path, ["results.csv"])


def test_read_table_missing_file(tmp_path):
    with pytest.raises(ReportError, match="no such file"):
        read_table(tmp_path / "nope.csv")
