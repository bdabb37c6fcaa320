"""Exact integer GEMM for operands of at most 8 bits: the order-independent part of the numba backend.

The engine is this machine's (kernels/exact_gemm.py: int8 torch._int_mm, float32 in K-chunks,
or float64, chosen by measurement or forced by STAMP_SIM_EXACT_GEMM). On the int8 engine,
operands whose values span at most 256 consecutive integers (uint8, |int8|, ...) are shifted
into int8 and the shift is undone exactly with row/column sums, and K is cut into chunks of at
most 131071 so that no int32 partial sum can overflow (131071 * 128 * 128 < 2^31). The float
engines take the values as they are, in chunks bounded by their operands' declared ranges.
"""

from __future__ import annotations

import threading

import numpy as np

from ..exact_gemm import INT8_CHUNK_K as _CHUNK_K
from ..exact_gemm import engine_choice, float_matmul

__all__ = ["exact_matmul", "exact_matmul_parts", "scratch_int32"]


_SCRATCH_MAX_BYTES = 64 << 20
_scratch = threading.local()


def scratch_int32(m_rows: int, n_cols: int) -> np.ndarray | None:
    """A reused int32 (m_rows x n_cols) buffer for a GEMM result that dies within one call, or
    None when it would exceed 64 MiB. One per thread: the caller must be done with it before
    asking again. Why: a fresh M x N result page-faults on every call (each fault a trip to the
    hypervisor on a VM), which took longer than the int8 GEMM itself (4 ms vs 1.6 ms for 2048 x
    1536); the buffer is kept between calls instead.
    """
    size = m_rows * n_cols
    if size * 4 > _SCRATCH_MAX_BYTES:
        return None
    buf = getattr(_scratch, "buf", None)
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=np.int32)
        _scratch.buf = buf
    return buf[:size].reshape(m_rows, n_cols)


def _offset(lo: int, hi: int) -> int:
    """Shift c with values - c inside int8 [-128, 127]; needs hi - lo <= 255."""
    if lo >= -128 and hi <= 127:
        return 0
    if hi - lo > 255:
        raise ValueError(f"operand values span [{lo}, {hi}]; allowed: at most 256 consecutive integers")
    return lo + 128


def exact_matmul_parts(x: np.ndarray, w: np.ndarray, x_range: tuple[int, int], w_range: tuple[int, int],
                       out: np.ndarray | None = None, integer: bool = True):
    """Exact x (M x K) @ w (K x N) of small integers as core + row[:, None] + col[None, :] + const.

    x_range, w_range : (lo, hi) bounds of the values present; each must span <= 256 integers.
    core : int32 (M x N) when every sum provably fits int32, else int64; row (M,), col (N,)
    int64 and const int undo the shifts into int8 (zeros for int8 operands). Callers fuse the
    corrections into their next pass instead of paying extra passes over M x N.
    out : optional C-contiguous int32 (M x N) buffer the core is written to when it is int32
    (callers looping over tiles reuse one, instead of page-faulting a fresh M x N per call).
    integer : False lets a float engine return its integer-valued float core (a reused buffer,
    valid until this thread's next call), for a caller that widens it next anyway.
    """
    m_rows, k_len = x.shape
    n_cols = w.shape[1]
    row = np.zeros(m_rows, dtype=np.int64)
    col = np.zeros(n_cols, dtype=np.int64)
    if m_rows == 0 or n_cols == 0 or k_len == 0:
        return np.zeros((m_rows, n_cols), dtype=np.int64), row, col, 0
    engine = engine_choice("cpu").engine
    if engine != "int8":
        max_x, max_w = max(-x_range[0], x_range[1]), max(-w_range[0], w_range[1])
        return float_matmul(x, w, max_x, max_w, engine, out, as_float=not integer), row, col, 0
    import torch

    a = _offset(*x_range)
    b = _offset(*w_range)
    x8 = np.ascontiguousarray(x if (a == 0 and x.dtype == np.int8) else (x.astype(np.int16) - a).astype(np.int8))
    w8 = np.ascontiguousarray(w if (b == 0 and w.dtype == np.int8) else (w.astype(np.int16) - b).astype(np.int8))
    xt = torch.from_numpy(x8)
    wt = torch.from_numpy(w8)
    if k_len <= _CHUNK_K and out is not None:
        torch._int_mm(xt, wt, out=torch.from_numpy(out))
        core = out
    elif k_len <= _CHUNK_K:
        core = torch._int_mm(xt, wt).numpy()
    else:
        core = np.zeros((m_rows, n_cols), dtype=np.int64)
        for k0 in range(0, k_len, _CHUNK_K):
            core += torch._int_mm(xt[:, k0 : k0 + _CHUNK_K].contiguous(), wt[k0 : k0 + _CHUNK_K]).numpy()
    # x @ w = (x' + a)(w' + b) = x'w' + b * rowsum(x') + a * colsum(w') + a * b * K
    if b:
        row = b * x8.sum(axis=1, dtype=np.int64)
    if a:
        col = a * w8.sum(axis=0, dtype=np.int64)
    return core, row, col, a * b * k_len


def exact_matmul(x: np.ndarray, w: np.ndarray, x_range: tuple[int, int], w_range: tuple[int, int],
                 out: np.ndarray | None = None, integer: bool = True) -> np.ndarray:
    """Exact x @ w: int32 (M x N) when every sum fits it (callers widen it in their next pass),
    else int64. See exact_matmul_parts (and its `out`, `integer`)."""
    core, row, col, const = exact_matmul_parts(x, w, x_range, w_range, out, integer)
    if not (row.any() or col.any() or const):
        return core
    return core.astype(np.int64) + row[:, None] + col[None, :] + const
