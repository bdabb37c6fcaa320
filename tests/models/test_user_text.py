"""--data PATH: .txt, .jsonl and .parquet text, disjoint seed-chosen windows, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")

from stamp_sim.evaluation import prepare_data  # noqa: E402
from stamp_sim.models import LoadedModel, ModelKind, tiny_llama  # noqa: E402
from stamp_sim.models.errors import DataFileError  # noqa: E402
from stamp_sim.models.user_text import read_texts  # noqa: E402

from ._local_fixtures import sample_text, word_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def loaded():
    return LoadedModel("tiny", ModelKind.CAUSAL_LM, tiny_llama(), word_tokenizer(), None, None, "", "test")


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_txt_windows_are_the_file_tokens(tmp_path, loaded):
    text = sample_text(400)
    path = tmp_path / "a.txt"
    path.write_text(text)
    data = prepare_data(loaded, 16, 3, 2, seed=5, data=str(path))
    ids = np.asarray(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
    windows = [b["input_ids"][0].numpy() for b in (*data.evaluation, *data.calibration)]
    starts = []
    for w in windows:  # each window is a 16-token stretch of the file, aligned to 16
        hits = [s for s in range(0, len(ids) - 15, 16) if np.array_equal(ids[s:s + 16], w)]
        assert hits
        starts.append(hits[0])
    assert len(set(starts)) == 5  # disjoint
    again = prepare_data(loaded, 16, 3, 2, seed=5, data=str(path))
    other = prepare_data(loaded, 16, 3, 2, seed=6, data=str(path))
    same = lambda a, b: all(np.array_equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b))  # noqa: E731
    assert same(data.evaluation, again.evaluation)
    assert not same(data.evaluation, other.evaluation)


def test_jsonl_reads_the_named_field(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", [{"text": "one two", "body": "x"}, {"text": "three", "body": "y"}])
    assert read_texts(path) == ["one two", "three"]
    assert read_texts(path, "body") == ["x", "y"]
    with pytest.raises(DataFileError, match=r"line 1 has no field 'content'.*\['body', 'text'\]"):
        read_texts(path, "content")


def test_jsonl_and_txt_of_the_same_text_give_the_same_stream(tmp_path, loaded):
    texts = [sample_text(200, seed=s) for s in range(3)]
    txt = tmp_path / "a.txt"
    txt.write_text("\n\n".join(texts))
    jsonl = _jsonl(tmp_path / "a.jsonl", [{"text": t} for t in texts])
    a = prepare_data(loaded, 8, 2, 1, 0, str(txt))
    b = prepare_data(loaded, 8, 2, 1, 0, str(jsonl))
    assert all(np.array_equal(x["input_ids"], y["input_ids"]) for x, y in zip(a.evaluation, b.evaluation))


def test_parquet_column(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["alpha beta", None, "gamma"], "n": [1, 2, 3]}), path)
    assert read_texts(path) == ["alpha beta", "gamma"]
    with pytest.raises(DataFileError, match="column 'n' row 0 is int"):
        read_texts(path, "n")


def test_too_short_names_both_numbers(tmp_path, loaded):
    path = tmp_path / "short.txt"
    path.write_text(sample_text(40))
    n = len(loaded.tokenizer(path.read_text(), add_special_tokens=False)["input_ids"])
    with pytest.raises(DataFileError) as err:
        prepare_data(loaded, 32, 4, 2, 0, str(path))
    assert f"has {n} tokens" in str(err.value) and "need 192" in str(err.value)


@pytest.mark.parametrize("name,content", [("blank.txt", "  \n\n "), ("blank.jsonl", '{"text": "  "}\n')])
def test_file_with_no_text(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataFileError, match="has no text"):
        read_texts(path)


def test_missing_and_wrong_suffix(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        read_texts(tmp_path / "none.txt")
    (tmp_path / "a.csv").write_text("text\nhello\n")
    with pytest.raises(DataFileError, match=r"suffix '.csv'; allowed: .jsonl, .parquet, .txt"):
        read_texts(tmp_path / "a.csv")
