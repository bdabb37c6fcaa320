"""Output arrays of the numba backend."""

from __future__ import annotations

import mmap

import numpy as np

__all__ = ["lazy_zeros"]

_MIN_BYTES = 1 << 21


def lazy_zeros(shape: tuple[int, ...], dtype=np.int64) -> np.ndarray:
    """A writable zero array whose pages cost nothing until written.

    Overflow counts are zero almost everywhere, so they are not written at all: the array is a
    fresh anonymous mapping (zero pages from the kernel, huge zero pages where the kernel has
    them), which reads as zeros at memory speed. np.zeros gives the same only when malloc
    happens to take a fresh mapping; when it reuses freed heap memory it clears every byte
    (13 ms for 2048 x 1536 int64 here, more than the int8 GEMM). Small arrays use np.zeros.
    """
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size < _MIN_BYTES or not hasattr(mmap, "MAP_ANONYMOUS"):  # (no anonymous maps: Windows)
        return np.zeros(shape, dtype=dtype)
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        buf.madvise(mmap.MADV_HUGEPAGE)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)
