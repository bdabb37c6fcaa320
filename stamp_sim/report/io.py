"""Run directories and atomic file writes.

Every file is written to a temporary sibling, flushed and fsynced, then moved over
the target with ``os.replace`` (atomic on POSIX and Windows within one filesystem).
A reader, or a run killed half-way, therefore sees either the old file or the new
one, never a truncated mix.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import io as _io
import json
import math
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from stamp_sim.report.errors import ReportError
from stamp_sim.schema import TEXT_COLUMNS

__all__ = [
    "append_rows_atomic",
    "new_run_dir",
    "read_table",
    "to_jsonable",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

# What pandas' default reading takes as missing, for the non-text columns (to_csv writes
# NaN as an empty cell; "nan"/"inf" spellings may come from other tools).
_NA_WORDS = ["", "nan", "NaN", "NA", "N/A", "null", "NULL", "None", "<NA>", "-nan", "-NaN"]

# Enough to get past any realistic same-second collision (16 bits of randomness each).
_MAX_RUN_DIR_ATTEMPTS = 64


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def new_run_dir(root: Path | str, prefix: str) -> Path:
    """Create and return a fresh ``root/<prefix>-<YYYYmmdd-HHMMSS UTC>-<4 hex>`` directory.

    The directory is made with ``exist_ok=False``, so an existing run is never
    reused or overwritten; a name collision draws a new random suffix. ``root``
    is created when missing.

    Raises ReportError (one line, the path and the OS reason) when the prefix is
    not a plain name or the directory cannot be created.
    """
    root = Path(root)
    if not isinstance(prefix, str) or not prefix or prefix != Path(prefix).name or prefix in (".", ".."):
        raise ReportError(f"run directory prefix={prefix!r} is invalid; allowed: a non-empty name without '/'")
    if root.exists() and not root.is_dir():
        raise ReportError(f"cannot create a run directory under {root}: it is not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportError(f"cannot create the output directory {root}: {_reason(err)}") from None
    for _ in range(_MAX_RUN_DIR_ATTEMPTS):
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = root / f"{prefix}-{stamp}-{secrets.token_hex(2)}"
        try:
            path.mkdir(exist_ok=False)
        except FileExistsError:
            continue
        except OSError as err:
            raise ReportError(f"cannot create the run directory {path}: {_reason(err)}") from None
        return path
    raise ReportError(
        f"cannot create a run directory under {root}: {_MAX_RUN_DIR_ATTEMPTS} names in a row already existed"
    )


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(data: bytes, path: Path | str) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, os.replace).

    The parent directory is created when missing. On any failure the temporary
    file is removed and an existing ``path`` is left untouched; OS errors become
    ReportError naming the path.
    """
    path = Path(path)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ReportError(f"cannot write {path}: expected bytes, got {type(data).__name__}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportError(f"cannot write {path}: {_reason(err)} (creating {path.parent})") from None
    # A dot-name so a half-written temp file never looks like a report file.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        # 0o666 minus the umask: the same permissions a plain open() would give.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        if isinstance(err, OSError):
            raise ReportError(f"cannot write {path}: {_reason(err)}") from None
        raise
    _fsync_dir(path.parent)
    return path


def write_text_atomic(text: str, path: Path | str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    if not isinstance(text, str):
        raise ReportError(f"cannot write {path}: expected str, got {type(text).__name__}")
    return write_bytes_atomic(text.encode("utf-8"), path)


def write_csv_atomic(df: pd.DataFrame, path: Path | str) -> Path:
    """Write ``df`` as CSV (no index, floats at full precision) to ``path`` atomically."""
    if not isinstance(df, pd.DataFrame):
        raise ReportError(f"cannot write {path}: expected a pandas DataFrame, got {type(df).__name__}")
    buf = _io.StringIO()
    df.to_csv(buf, index=False)
    return write_text_atomic(buf.getvalue(), path)


def to_jsonable(obj, _where: str = "$"):
    """``obj`` as plain JSON types: numpy scalars/arrays, Path, Enum, dataclasses, datetimes converted.

    NaN and infinities become ``None`` (JSON has no such numbers). Anything else
    raises ReportError naming where in the object it sits (e.g. ``$.versions.torch``).
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value, _where)
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, (Path, _dt.date, _dt.datetime)):
        return str(obj) if isinstance(obj, Path) else obj.isoformat()
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v, f"{_where}[{i}]") for i, v in enumerate(obj.tolist())]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj), _where)
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise ReportError(f"cannot write JSON: key {key!r} at {_where} is a {type(key).__name__}")
            out[str(key)] = to_jsonable(value, f"{_where}.{key}")
        return out
    if isinstance(obj, (Sequence, set, frozenset)) and not isinstance(obj, (bytes, bytearray)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v, f"{_where}[{i}]") for i, v in enumerate(items)]
    raise ReportError(f"cannot write JSON: value at {_where} is a {type(obj).__name__}, not JSON-serializable")


def write_json_atomic(obj, path: Path | str) -> Path:
    """Write ``obj`` (see ``to_jsonable``) as indented UTF-8 JSON to ``path`` atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False)
    return write_text_atomic(text + "\n", path)


def read_table(path: Path | str, text_columns: Iterable[str] = TEXT_COLUMNS) -> pd.DataFrame:
    """Read a CSV written by ``write_csv_atomic``; a missing or unreadable file raises ReportError.

    Columns named in `text_columns` (default: the schema's text columns) come back as
    the exact strings written: no number parsing ("007" stays "007") and no NA words
    ("NA", "None" stay text; an empty cell is ""). Other columns parse as pandas does,
    an empty cell being NaN.
    """
    path = Path(path)
    try:
        header = pd.read_csv(path, nrows=0).columns
        text = [c for c in header if c in set(text_columns)]
        return pd.read_csv(path, dtype={c: str for c in text}, keep_default_na=False,
                           na_values={c: _NA_WORDS for c in header if c not in text})
    except FileNotFoundError:
        raise ReportError(f"cannot read {path}: no such file") from None
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        reason = _reason(err) if isinstance(err, OSError) else str(err).splitlines()[0]
        raise ReportError(f"cannot read {path}: {reason}") from None


def append_rows_atomic(df_new: pd.DataFrame, path: Path | str, key: Sequence[str] | None = None) -> pd.DataFrame:
    """Append ``df_new`` to the CSV at ``path`` (created when missing) and rewrite it atomically.

    Used to keep the finished configs of a sweep that may be interrupted: after
    each config the file holds every finished row, complete. With ``key`` (column
    names), existing rows whose key equals a new row's key are replaced, so a
    config re-run on resume is not counted twice. Columns are the union, existing
    ones first. Returns the table as written.
    """
    path = Path(path)
    if not isinstance(df_new, pd.DataFrame):
        raise ReportError(f"cannot append to {path}: expected a pandas DataFrame, got {type(df_new).__name__}")
    old = read_table(path) if path.exists() else pd.DataFrame()
    if key is not None:
        missing = [k for k in key if k not in df_new.columns]
        if missing:
            raise ReportError(f"cannot append to {path}: key column(s) {missing} missing in the new rows")
        if len(old):
            missing = [k for k in key if k not in old.columns]
            if missing:
                raise ReportError(f"cannot append to {path}: key column(s) {missing} missing in the file")
            new_keys = set(map(tuple, df_new[list(key)].astype(str).to_numpy().tolist()))
            old_keys = map(tuple, old[list(key)].astype(str).to_numpy().tolist())
            old = old.loc[[k not in new_keys for k in old_keys]]
    columns = list(old.columns) + [c for c in df_new.columns if c not in old.columns]
    # Concatenating with an empty frame is deprecated in pandas (and warns), so skip it.
    if old.empty:
        combined = df_new.reindex(columns=columns).reset_index(drop=True)
    elif df_new.empty:
        combined = old.reindex(columns=columns).reset_index(drop=True)
    else:
        combined = pd.concat([old, df_new], ignore_index=True, sort=False)
    write_csv_atomic(combined, path)
    return combined
