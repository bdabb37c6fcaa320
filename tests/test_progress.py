"""Stage lines: one per stage, in the order the work happens, with the config's k of n and name."""

from __future__ import annotations

import io

import pytest

from stamp_sim.config import RunConfig, get_preset
from stamp_sim.progress import QUIET, Stages
from stamp_sim.workflows.run import run_experiment


def test_a_stage_without_steps_prints_its_name_then_its_time():
    out = io.StringIO()
    ticks = iter([10.0, 13.25])
    with Stages(file=out, clock=lambda: next(ticks)).stage("integer check"):
        pass
    assert out.getvalue() == "integer check ... 3.2 s\n"


def test_a_failing_stage_says_so_and_reraises():
    out = io.StringIO()
    with pytest.raises(KeyError), Stages(file=out).stage("loading model x"):
        raise KeyError("x")
    assert out.getvalue() == "loading model x ... failed\n"


def test_a_stage_with_steps_is_a_bar_counting_them():
    out = io.StringIO()
    with Stages(file=out).stage("config 1 of 2 fp: evaluating", total=3, unit="window") as bar:
        for _ in range(3):
            bar.update(1)
    assert "config 1 of 2 fp: evaluating: 3/3 window" in out.getvalue()


def test_quiet_prints_nothing(capsys):
    with QUIET.stage("x", total=2) as bar:
        bar.update(1)
    QUIET.say("y")
    assert capsys.readouterr() == ("", "")


def test_run_reports_each_stage_in_order(tmp_path):
    out = io.StringIO()
    run = RunConfig(model="tiny-llama", configs=(get_preset("fp"), get_preset("w4a4-stamp")), profiles=("tiny",),
                    tokens=32, windows=2, calib_windows=1, out=str(tmp_path))
    run_experiment(run, stages=Stages(file=out))
    text = out.getvalue()
    expected = ["stamp-sim run: 2 config(s) on tiny-llama, 2 window(s) of 32 tokens, priced on tiny",
                "loading model tiny-llama ...", "preparing data (2 evaluation + 1 calibration", "run directory:",
                "float reference: 2/2 window", "config 1 of 2 fp: evaluating: 2/2 window",
                "config 1 of 2 fp: pricing on tiny ...", "config 2 of 2 w4a4-stamp: evaluating",
                "config 2 of 2 w4a4-stamp: integer check: 14/14 layer", "config 2 of 2 w4a4-stamp: pricing on tiny ...",
                "writing the report"]
    positions = [text.find(line) for line in expected]
    assert -1 not in positions, [line for line, p in zip(expected, positions) if p == -1]
    assert positions == sorted(positions)


def test_a_profiled_stage_records_its_time_and_peak_memory_even_when_quiet():
    import numpy as np

    stages = Stages(enabled=False, profile=True)
    with stages.stage("config 1 of 2 w4a4: evaluating", total=2):
        big = np.ones(64 << 20, dtype=np.uint8)  # 64 MB touched inside the stage
        big[::4096] = 2
        del big  # freed (an mmap-sized block goes back to the OS) before the next stage
    with stages.stage("writing the report"):
        pass
    stages.add("config 1 of 2 w4a4: calibrating weights [solve]", 1.5)
    first, second, part = stages.records
    assert (first.name, second.name, part.seconds) == ("config 1 of 2 w4a4: evaluating", "writing the report", 1.5)
    assert first.seconds >= 0 and second.seconds >= 0
    # the 64 MB array was alive in the first stage only; with a resettable peak the second's is lower
    if stages._memory.per_stage:
        assert first.peak_mb - second.peak_mb > 48
    assert stages.peak_overall_mb >= first.peak_mb


def test_profile_table_splits_configs_from_run_wide_stages():
    from stamp_sim.stage_profile import StageRecord, profile_text, split_label, stage_table

    assert split_label("config 3 of 9 w4a4-stamp: evaluating, 2 layers on the integer kernels") == ("w4a4-stamp",
                                                                                                     "evaluating")
    assert split_label("loading model smollm2-135m") == ("", "loading model smollm2-135m")
    records = [StageRecord("loading model m", 2.0, 500.0), StageRecord("config 1 of 2 a: evaluating", 3.0, 600.0),
               StageRecord("config 1 of 2 a: calibrating weights", 4.0, 700.0),
               StageRecord("config 1 of 2 a: calibrating weights [solve]", 1.0, float("nan")),
               StageRecord("config 1 of 2 a: calibrating activations (KLT / SmoothQuant)", 0.5, 650.0),
               StageRecord("config 2 of 2 b: evaluating", 5.0, 650.0)]
    table = stage_table(records)
    assert list(table.config) == ["", "a", "a", "a", "a", "b"]
    text = profile_text(records, total_s=15.0, overall_peak_mb=710.0)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("config (seconds)"))
    # stages in the order a config runs them, the part right after its stage
    order = ["calibrating activations (KLT / SmoothQuant)", "calibrating weights", "weights: solve", "evaluating"]
    positions = [header.find(step) for step in order]
    assert -1 not in positions and positions == sorted(positions), header
    # a stage whose own name holds a slash is a stage, not a part: it counts in the totals
    assert any(line.split()[:1] == ["a"] and line.split()[-2:] == ["7.5", "700"] for line in lines)
    assert any(line.startswith("all configs") and line.split()[-2:] == ["12.5", "700"] for line in lines)
    assert lines[-1] == "wall time 15.0 s (0.5 s outside the stages above); peak resident memory 710 MB"


def test_run_profile_stages_writes_stages_csv(tmp_path):
    from click.testing import CliRunner

    from stamp_sim.cli import main
    from stamp_sim.report import read_table

    configs = tmp_path / "c.yaml"
    configs.write_text("- fp\n- w4a8\n")
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--hw", "tiny", "--configs", str(configs),
                                       "--tokens", "16", "--windows", "1", "--calib-windows", "1", "--out",
                                       str(tmp_path / "r"), "--no-progress", "--profile-stages"])
    assert result.exit_code == 0, result.output
    assert "peak resident memory" in result.output
    (run_dir,) = (tmp_path / "r").iterdir()
    table = read_table(run_dir / "stages.csv")
    assert list(table.columns) == ["config", "stage", "seconds", "peak_mb"]
    assert {"fp", "w4a8"} <= set(table.config)
    assert "writing the report (figures, report.md, report.html)" in set(table.stage)
    assert (table.seconds >= 0).all()
