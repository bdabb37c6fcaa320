"""A user's own evaluation and calibration text: ``--data PATH`` (.txt, .jsonl, .parquet).

A .txt file is one text; a .jsonl file holds one JSON object a line and each object's
``field`` (default "text") is one text; a .parquet file's ``field`` column holds one text
a row. Texts are joined by a blank line and tokenized once with the model's tokenizer,
without special tokens (``text.encode_texts``); windows are then cut from that stream
like the Wikipedia sample's (disjoint, chosen by seed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import DataFileError, require
from .text import encode_texts

__all__ = ["DATA_SUFFIXES", "check_length", "file_token_ids", "read_texts"]

DATA_SUFFIXES = (".jsonl", ".parquet", ".txt")


def _jsonl(path: Path, field: str) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DataFileError(f"{path}: line {number} is not JSON ({exc})") from None
            if not isinstance(row, dict) or field not in row:
                keys = sorted(row) if isinstance(row, dict) else []
                raise DataFileError(f"{path}: line {number} has no field {field!r}; its fields: {keys} "
                                    "(choose one with --data-field)")
            if not isinstance(row[field], str):
                raise DataFileError(f"{path}: line {number} field {field!r} is {type(row[field]).__name__}, not text")
            texts.append(row[field])
    return texts


def _parquet(path: Path, field: str) -> list[str]:
    require("--data PATH.parquet", ("pyarrow", "pip install pyarrow"))
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: cannot be read as Parquet ({str(exc).splitlines()[0]})") from None
    if field not in table.column_names:
        raise DataFileError(f"{path}: has no column {field!r}; its columns: {table.column_names} "
                            "(choose one with --data-field)")
    values = table.column(field).to_pylist()
    bad = next((i for i, v in enumerate(values) if v is not None and not isinstance(v, str)), None)
    if bad is not None:
        raise DataFileError(f"{path}: column {field!r} row {bad} is {type(values[bad]).__name__}, not text")
    return [v for v in values if v is not None]


def read_texts(path: Path | str, field: str = "text") -> list[str]:
    """The texts of a data file (see the module docstring); DataFileError when it has none.

    Returns
    -------
    list of str, every text non-blank, in file order.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"data file {str(path)!r} does not exist; allowed: a {', '.join(DATA_SUFFIXES)} file")
    if path.suffix not in DATA_SUFFIXES:
        raise DataFileError(f"data file {path} has suffix {path.suffix or '(none)'!r}; "
                            f"allowed: {', '.join(DATA_SUFFIXES)}")
    if path.suffix == ".txt":
        try:
            texts = [path.read_text(encoding="utf-8")]
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{path}: is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    else:
        texts = _jsonl(path, field) if path.suffix == ".jsonl" else _parquet(path, field)
    texts = [t for t in texts if t.strip()]
    if not texts:
        where = "" if path.suffix == ".txt" else f" in field {field!r}"
        raise DataFileError(f"{path}: has no text{where}; allowed: a file with at least one non-blank text")
    return texts


def file_token_ids(tokenizer, path: Path | str, field: str = "text") -> np.ndarray:
    """Token ids of a data file's texts joined by a blank line; shape (n,), int64."""
    return encode_texts(tokenizer, read_texts(path, field))


def check_length(ids: np.ndarray, path: Path | str, tokens: int, windows: int, calib_windows: int) -> None:
    """DataFileError naming both numbers when the windows asked for do not fit in ``ids``."""
    needed = tokens * (windows + calib_windows)
    if len(ids) < needed:
        raise DataFileError(f"{path}: has {len(ids)} tokens; {windows} evaluation + {calib_windows} calibration "
                            f"windows of {tokens} tokens need {needed} (use a longer file or fewer/shorter windows)")
