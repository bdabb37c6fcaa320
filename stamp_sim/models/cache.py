"""Where stamp-sim keeps derived files, and how it writes them atomically.

Derived files (dequantized SmolLM2 weights, token ids of the wiki sample) are
slow to make and cheap to reload. They live under ``$STAMP_SIM_CACHE`` or
``~/.cache/stamp-sim`` in names keyed by a hash of everything they derive from,
so a stale file is never read: a changed input gives a new name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["cache_dir", "file_sha256", "save_npy_atomic", "publish_dir_atomic"]


def cache_dir() -> Path:
    """The cache root, created if needed: ``$STAMP_SIM_CACHE`` or ``~/.cache/stamp-sim``."""
    root = Path(os.environ.get("STAMP_SIM_CACHE") or Path.home() / ".cache" / "stamp-sim")
    root.mkdir(parents=True, exist_ok=True)
    return root


def file_sha256(path: Path, chunk_bytes: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes (about 0.3 s per 100 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` (.npy) so readers see the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish_dir_atomic(tmp_dir: Path, final_dir: Path) -> None:
    """Rename a fully written ``tmp_dir`` to ``final_dir``.

    A directory rename is atomic on one file system. If another process
    published ``final_dir`` first, its copy wins and ours is deleted.
    """
    try:
        os.rename(tmp_dir, final_dir)
    except OSError:
        if not final_dir.is_dir():
            raise
        shutil.rmtree(tmp_dir, ignore_errors=True)
