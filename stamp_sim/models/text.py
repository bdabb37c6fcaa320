"""Wikipedia text from gensim's test data: markup removed, tokenized, cut into windows.

The ``gensim`` wheel ships a shortened dump of the first English Wikipedia
articles (``enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2``,
206 pages). Cleaning, in order:

1. redirect pages and pages with no text are dropped;
2. ``gensim.corpora.wikicorpus.filter_wiki`` removes comments, ``<ref>``
   footnotes, templates ``{{...}}``, ``<math>``, file/image links,
   categories and other tags, strips table markup ``{| ... |}`` (cell text
   is kept, one cell a line) and keeps the visible text of ``[[links]]``;
3. bold/italic quote runs (``''``, ``'''``) are removed, headings
   ``== Title ==`` become the bare title, and list/indent markers (``*#:;``)
   at line starts are removed;
4. lines with no letter or digit (left-over bullets, separators) are
   dropped and runs of spaces collapsed;
5. everything from the first appendix heading (References, Notes, See also,
   External links, Further reading, Bibliography, Sources, Citations,
   Footnotes) to the end of the article is dropped: those are lists of
   citations and links, not prose (without this step the sample is about
   697k SmolLM2 tokens, with it about 667k).

Articles are joined by a blank line. Token ids are cached per (dump, cleaner
version, tokenizer) under the stamp-sim cache.
"""

from __future__ import annotations

import bz2
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cache
from .errors import package_dir, require

__all__ = [
    "CLEANER_VERSION",
    "TokenWindows",
    "clean_wiki_markup",
    "encode_texts",
    "token_windows",
    "wiki_articles",
    "wiki_path",
    "wiki_token_ids",
]

WHAT = "the Wikipedia sample"
GENSIM_INSTALL = "pip install gensim"
WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
# Bump when clean_wiki_markup or encode_texts changes, so cached token ids are recomputed
# (2: encode_texts turns off truncation set in tokenizer.json).
CLEANER_VERSION = 2
ARTICLE_SEPARATOR = "\n\n"

_QUOTES = re.compile(r"'{2,}")
_HEADING = re.compile(r"^\s*=+\s*(.*?)\s*=+\s*$")
_LIST_MARK = re.compile(r"^[*#:;]+\s*")
_SPACES = re.compile(r"[ \t\u00a0]+")
_ALNUM = re.compile(r"\w", re.UNICODE)
# Wikipedia's standard appendix sections; they come after the prose.
APPENDIX_HEADINGS = frozenset(
    {"references", "notes", "see also", "external links", "further reading", "bibliography", "sources", "citations", "footnotes"}
)


def wiki_path() -> Path:
    """Path of the bz2 XML dump inside the installed gensim wheel (gensim is not imported)."""
    path = package_dir(WHAT, "gensim", GENSIM_INSTALL) / "test" / "test_data" / WIKI_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {GENSIM_INSTALL} --force-reinstall")
    return path


def clean_wiki_markup(raw: str) -> str:
    """Plain text of one article's wikitext (steps 2-5 of the module docstring)."""
    require(WHAT, ("gensim", GENSIM_INSTALL))
    from gensim.corpora.wikicorpus import filter_wiki

    lines = []
    for line in filter_wiki(raw).splitlines():
        line = _QUOTES.sub("", line)
        heading = _HEADING.match(line)
        if heading:
            line = heading.group(1)
            if line.lower() in APPENDIX_HEADINGS:
                break
        line = _SPACES.sub(" ", _LIST_MARK.sub("", line)).strip()
        if _ALNUM.search(line):
            lines.append(line)
    return "\n".join(lines)


def wiki_articles() -> list[tuple[str, str]]:
    """(title, cleaned text) of every non-redirect, non-empty article, in dump order."""
    require(WHAT, ("gensim", GENSIM_INSTALL))
    from gensim.corpora.wikicorpus import extract_pages

    articles = []
    with bz2.open(wiki_path()) as f:
        for title, raw, _page_id in extract_pages(f):
            if raw.lstrip()[:9].upper() == "#REDIRECT":
                continue
            text = clean_wiki_markup(raw)
            if text:
                articles.append((title, text))
    return articles


def _tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TypeError(f"{type(tokenizer).__name__} is not a fast (Rust) Hugging Face tokenizer")
    return hashlib.sha256(backend.to_str().encode()).hexdigest()[:16]


def encode_texts(tokenizer, texts: list[str], separator: str = ARTICLE_SEPARATOR) -> np.ndarray:
    """Token ids of ``separator.join(texts)``, without special tokens, padding or truncation.

    Parameters
    ----------
    tokenizer : fast Hugging Face tokenizer (anything with ``backend_tokenizer``)
    texts : list of str
    separator : str, put between texts

    Returns
    -------
    ndarray, shape (n_tokens,), int64
    """
    _tokenizer_fingerprint(tokenizer)  # TypeError for slow tokenizers
    # A copy, because tokenizer.json files may enable truncation (MiniLM's cuts
    # at 128 tokens) and padding; neither may touch a corpus.
    backend = type(tokenizer.backend_tokenizer).from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    # Encoding texts separately lets the Rust tokenizer use every core; the
    # separator's ids are spliced between them as if the text were joined.
    encodings = backend.encode_batch(texts, add_special_tokens=False)
    between = backend.encode(separator, add_special_tokens=False).ids
    ids: list[int] = []
    for i, encoding in enumerate(encodings):
        if i:
            ids.extend(between)
        ids.extend(encoding.ids)
    return np.asarray(ids, dtype=np.int64)


def wiki_token_ids(tokenizer=None) -> np.ndarray:
    """Token ids of the cleaned Wikipedia sample (667,405 for SmolLM2, 617,131 for MiniLM).

    Parameters
    ----------
    tokenizer : fast Hugging Face tokenizer or None
        None means SmolLM2-135M's tokenizer. No BOS/EOS tokens are added.

    Returns
    -------
    ndarray, shape (n_tokens,), int64. Cached in ``<cache>/wiki-<hash>.npy``
    keyed by the dump's bytes, CLEANER_VERSION and the tokenizer's vocabulary
    and rules; the first call takes about 10 s.
    """
    if tokenizer is None:
        from .smollm2 import smollm2_tokenizer

        tokenizer = smollm2_tokenizer()
    fingerprint = _tokenizer_fingerprint(tokenizer)
    key = hashlib.sha256(f"{cache.file_sha256(wiki_path())}|{CLEANER_VERSION}|{fingerprint}".encode()).hexdigest()[:16]
    path = cache.cache_dir() / f"wiki-{key}.npy"
    if path.is_file():
        return np.load(path).astype(np.int64)
    array = encode_texts(tokenizer, [text for _title, text in wiki_articles()])
    store = array.astype(np.uint16) if array.max(initial=0) < 2**16 else array.astype(np.int32)
    cache.save_npy_atomic(path, store)
    return array


@dataclass(frozen=True)
class TokenWindows:
    """Disjoint calibration and evaluation windows cut from one token stream.

    Attributes
    ----------
    calibration : ndarray, shape (n_calibration, tokens), int64
    evaluation : ndarray, shape (n_evaluation, tokens), int64
    calibration_starts, evaluation_starts : ndarray of int64
        Offset of each window in the stream (multiples of ``tokens``).
    """

    calibration: np.ndarray
    evaluation: np.ndarray
    calibration_starts: np.ndarray
    evaluation_starts: np.ndarray


def token_windows(ids: np.ndarray, tokens: int, n_calibration: int, n_evaluation: int, seed: int) -> TokenWindows:
    """Pick disjoint windows of ``tokens`` consecutive ids, by seed.

    The stream is cut into ``len(ids) // tokens`` aligned chunks and the chunks
    are shuffled with ``numpy.random.default_rng(seed)``. Evaluation windows
    are taken from the front of that order and calibration windows from the
    back, so they never overlap, and the evaluation windows for a seed do not
    change with ``n_calibration`` (nor calibration with ``n_evaluation``).

    Parameters
    ----------
    ids : ndarray, shape (n,), integer token ids
    tokens : int, window length (>= 1)
    n_calibration, n_evaluation : int, number of windows (>= 0)
    seed : int
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D integer array, got shape {ids.shape} and dtype {ids.dtype}")
    if tokens < 1:
        raise ValueError(f"tokens must be >= 1, got {tokens}")
    if n_calibration < 0 or n_evaluation < 0:
        raise ValueError(f"window counts must be >= 0, got n_calibration={n_calibration}, n_evaluation={n_evaluation}")
    n_chunks = len(ids) // tokens
    if n_calibration + n_evaluation > n_chunks:
        raise ValueError(
            f"n_calibration + n_evaluation = {n_calibration + n_evaluation} windows of {tokens} tokens "
            f"do not fit in {len(ids)} tokens (at most {n_chunks})"
        )
    order = np.random.default_rng(seed).permutation(n_chunks)
    eval_starts = order[:n_evaluation].astype(np.int64) * tokens
    calib_starts = order[::-1][:n_calibration].astype(np.int64) * tokens

    def cut(starts: np.ndarray) -> np.ndarray:
        return ids[starts[:, None] + np.arange(tokens)].astype(np.int64).reshape(len(starts), tokens)

    return TokenWindows(cut(calib_starts), cut(eval_starts), calib_starts, eval_starts)
