import os

import numpy as np
import pytest

from stamp_sim.models import clean_wiki_markup, token_windows
from stamp_sim.models.cache import save_npy_atomic
from tests.models.conftest import needs

needs_gensim = needs("gensim", "pip install gensim")

WIKITEXT = """{{Infobox person|name=Ada}}
'''Ada Lovelace''' was an [[England|English]] [[mathematician]].<ref name="a">Cited.</ref>
<!-- hidden comment -->
== Early life ==
She was born in ''London''.{{citation needed|date=2020}}
* First item
*
{| class="wikitable"
|-
! Year !! Event
|-
| 1843 || Notes published
|}
== References ==
* Someone, ''A Book'', 1999.
== Later section ==
Never reached.
"""


@needs_gensim
def test_clean_wiki_markup():
    text = clean_wiki_markup(WIKITEXT)
    lines = text.split("\n")
    assert lines[0] == "Ada Lovelace was an English mathematician."
    assert "Early life" in lines  # heading kept as its bare title
    assert "She was born in London." in lines
    assert "First item" in lines  # list marker removed
    assert "1843" in text and "Notes published" in text  # table cell text kept
    for markup in ("{{", "}}", "[[", "]]", "''", "<ref", "Cited", "hidden comment", "==", "{|", "|}", "!!", "Infobox"):
        assert markup not in text, markup
    # everything from the appendix heading on is dropped
    assert "A Book" not in text and "Never reached" not in text and "References" not in text
    assert all(line.strip() == line and line for line in lines)


def _stream(n=10_000):
    return np.arange(n, dtype=np.int64) * 7 % 10_007  # distinct values: a window's content identifies it


def test_windows_shapes_contents_and_disjointness():
    ids = _stream()
    w = token_windows(ids, tokens=128, n_calibration=5, n_evaluation=7, seed=0)
    assert w.calibration.shape == (5, 128) and w.evaluation.shape == (7, 128)
    assert w.calibration.dtype == np.int64 and w.evaluation.dtype == np.int64
    for windows, starts in ((w.calibration, w.calibration_starts), (w.evaluation, w.evaluation_starts)):
        for row, start in zip(windows, starts):
            assert np.array_equal(row, ids[start : start + 128])
    spans = [set(range(s, s + 128)) for s in [*w.calibration_starts, *w.evaluation_starts]]
    assert sum(len(s) for s in spans) == len(set().union(*spans))  # no token in two windows


def test_windows_depend_on_seed_only():
    ids = _stream()
    a = token_windows(ids, 100, 4, 4, seed=1)
    b = token_windows(ids, 100, 4, 4, seed=1)
    c = token_windows(ids, 100, 4, 4, seed=2)
    assert np.array_equal(a.evaluation, b.evaluation) and np.array_equal(a.calibration, b.calibration)
    assert not np.array_equal(a.evaluation_starts, c.evaluation_starts)
    # the evaluation set for a seed does not move when calibration grows (and vice versa)
    more_calib = token_windows(ids, 100, 40, 4, seed=1)
    assert np.array_equal(more_calib.evaluation, a.evaluation)
    more_eval = token_windows(ids, 100, 4, 40, seed=1)
    assert np.array_equal(more_eval.calibration, a.calibration)


def test_windows_can_use_every_chunk():
    w = token_windows(_stream(1000), 100, 6, 4, seed=0)
    assert sorted([*w.calibration_starts, *w.evaluation_starts]) == list(range(0, 1000, 100))


@pytest.mark.parametrize(
    "ids, tokens, n_cal, n_eval, match",
    [
        (np.arange(1000), 100, 6, 5, "do not fit"),
        (np.arange(1000), 0, 1, 1, "tokens"),
        (np.arange(1000), 10, -1, 1, "counts"),
        (np.zeros((2, 5), dtype=np.int64), 2, 1, 1, "1-D integer"),
        (np.linspace(0, 1, 50), 5, 1, 1, "1-D integer"),
    ],
)
def test_windows_reject_bad_arguments(ids, tokens, n_cal, n_eval, match):
    with pytest.raises(ValueError, match=match):
        token_windows(ids, tokens, n_cal, n_eval, seed=0)


def test_save_npy_atomic_leaves_only_the_file(tmp_path):
    path = tmp_path / "ids.npy"
    save_npy_atomic(path, np.arange(5, dtype=np.uint16))
    save_npy_atomic(path, np.arange(7, dtype=np.uint16))  # replaces
    assert os.listdir(tmp_path) == ["ids.npy"]
    assert np.array_equal(np.load(path), np.arange(7))


@needs("tokenizers", "pip install tokenizers")
def test_encode_texts_ignores_truncation_and_padding_in_the_tokenizer():
    from types import SimpleNamespace

    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    from stamp_sim.models.text import encode_texts

    vocab = {"[UNK]": 0, "a": 1, "b": 2, "c": 3, "|": 4}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = Whitespace()
    backend.enable_truncation(max_length=2)  # as MiniLM's tokenizer.json does (at 128)
    backend.enable_padding(length=8)
    tokenizer = SimpleNamespace(backend_tokenizer=backend)
    ids = encode_texts(tokenizer, ["a b c a", "c c z"], separator=" | ")
    assert ids.dtype == np.int64
    assert ids.tolist() == [1, 2, 3, 1, 4, 3, 3, 0]
    assert backend.truncation is not None  # the caller's tokenizer is left as it was
