"""The oracle: plain Python loops, one product and one register addition at a time.

Nothing here is clever on purpose; every other backend is tested against it. Python integers
are unbounded, so the "true result" of each addition is simply ``register + addend``.
"""

from __future__ import annotations

import numpy as np

from ._registers import register_range
from .result import MatmulResult
from .spec import AccMode, AccumulatorSpec

__all__ = ["register_add", "matmul_reference"]


def register_add(register: int, addend: int, bits: int | None, mode: AccMode) -> tuple[int, bool]:
    """One addition into a `bits`-bit register; returns (new value, overflowed).

    overflowed is True when the true result ``register + addend`` lies outside the register's
    range [-2^(bits-1), 2^(bits-1) - 1]. wrap keeps the result mod 2^bits (two's complement),
    saturate clamps it; exact (or bits None) keeps it and never overflows.

    >>> register_add(32000, 1000, 16, AccMode.SATURATE)
    (32767, True)
    >>> register_add(32000, 1000, 16, AccMode.WRAP)
    (-32536, True)
    """
    true = register + addend
    if mode is AccMode.EXACT or bits is None:
        return true, False
    lo, hi = register_range(bits)
    if lo <= true <= hi:
        return true, False
    if mode is AccMode.SATURATE:
        return min(max(true, lo), hi), True
    span = 1 << bits
    return (true - lo) % span + lo, True


def matmul_reference(x: np.ndarray, w: np.ndarray, acc: AccumulatorSpec) -> MatmulResult:
    """x (M x K) @ w (K x N) through `acc`, one product at a time in k order.

    Per output: the outer register starts at 0; K is cut into tiles of `acc.tile` (one tile
    of all of K when tile is None); in each tile the inner register starts at 0 and takes the
    products in k order; at the end of the tile its value is added to the outer register
    (outer_bits None: exact, never overflows). Without a tile the outer register only carries
    the single inner result, so the value is the inner register's.
    """
    m_rows, k_len = x.shape
    n_cols = w.shape[1]
    tile = acc.tile if acc.tile is not None else max(k_len, 1)
    outer_mode = acc.effective_outer_mode if acc.tile is not None else AccMode.EXACT
    values = np.zeros((m_rows, n_cols), dtype=np.int64)
    overflows = np.zeros((m_rows, n_cols), dtype=np.int64)
    xs = x.tolist()
    ws = w.tolist()
    for m in range(m_rows):
        for n in range(n_cols):
            outer, count = 0, 0
            for start in range(0, k_len, tile):
                inner = 0
                for k in range(start, min(start + tile, k_len)):
                    inner, overflowed = register_add(inner, xs[m][k] * ws[k][n], acc.bits, acc.mode)
                    count += overflowed
                outer, overflowed = register_add(outer, inner, acc.outer_bits, outer_mode)
                count += overflowed
            values[m, n] = outer
            overflows[m, n] = count
    return MatmulResult(values, overflows)
