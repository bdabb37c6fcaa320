"""The fast CPU backend: exact integer GEMM + overflow proofs + Numba scans of what is left.

Plan of one call (see _bounds.py and _scan.py for the pieces):
1. Level 0: if K * max|x| * max|w| (and T * max|x| * max|w| per tile) fits the registers, no
   output can overflow: values = S = x @ w (one exact int8 GEMM), counts 0.
2. Wrap without counts: values = S mod 2^P (sign-extended), no scan at all.
3. Otherwise level-1 and level-2 bounds prove most outputs safe; only blocks of columns holding
   an unproven output are scanned in k order with narrow SIMD lanes.
"""

from __future__ import annotations

import numpy as np

from kernels import _bounds, _scan
from kernels._alloc import lazy_zeros
from kernels._checks import Operand, int_range
from kernels._intgemm import exact_matmul, exact_matmul_parts, scratch_int32
from kernels._plan import OUTER_EXACT, UNBOUNDED, registers, values_only_wrap_bits
from kernels.result import MatmulResult
from kernels.spec import AccMode, AccumulatorSpec

__all__ = ["matmul_numba"]

_LANES = {"int16": np.int16, "int32": np.int32, "int64": np.int64}
# Columns per scan task: wide enough to amortize the per-k overhead; accumulators and counters stay in L1.
_BLOCK = {np.int16: 512, np.int32: 256, np.int64: 128}


def _lane_plan(acc: AccumulatorSpec, max_product: int, tile: int, lanes: str | None):
    """Narrowest lane type holding the inner register exactly, and the step kind for it."""
    candidates = [(np.int16, 16), (np.int32, 32), (np.int64, 64)]
    if lanes is not None:
        candidates = [c for c in candidates if c[0] is _LANES[lanes]]
    for dtype, width in candidates:
        lane_hi = (1 << (width - 1)) - 1
        if max_product > lane_hi:
            continue
        if acc.mode is AccMode.EXACT:
            if tile * max_product <= lane_hi:
                return dtype, _scan.EXACT, 0, 0, 0
            continue
        if acc.bits > width:
            continue
        lo, hi = int_range(acc.bits, True)
        sat = acc.mode is AccMode.SATURATE
        if acc.bits == width:
            return dtype, (_scan.SAT_FULL if sat else _scan.WRAP_FULL), lo, hi, 0
        if (1 << (acc.bits - 1)) + max_product <= lane_hi:  # a + p is exact in the lane
            return dtype, (_scan.SAT_NARROW if sat else _scan.WRAP_NARROW), lo, hi, width - acc.bits
    raise ValueError(f"lanes={lanes!r} cannot hold {acc.describe()} with products up to {max_product}")


def _balanced_block(n_cols: int, widest: int) -> int:
    """Columns per scan task: at most `widest`, the blocks of a row equal in width (a multiple
    of 32), so no task is a thin remainder that pays the per-pass overhead for few lanes
    (N = 576 -> 2 x 288 rather than 512 + 64)."""
    blocks = -(-n_cols // widest)
    per = -(-n_cols // blocks)
    return min(widest, -(-per // 32) * 32)


def matmul_numba(xo: Operand, wo: Operand, acc: AccumulatorSpec, counts: bool = True,
                 lanes: str | None = None, level2: bool = True) -> MatmulResult:
    """int_matmul on the CPU: same results as the reference, bit for bit.

    xo, wo : checked operands (numpy). counts : False skips overflow counting where that saves
    work (wrap values come from S alone); overflows is then None. lanes : force "int16",
    "int32" or "int64" scan lanes (tests of the wider paths); None picks the narrowest.
    level2 : False scans whatever level 1 leaves unproven (tests of the scan on its own).
    """
    x = np.asarray(xo.data)
    w = np.asarray(wo.data)
    m_rows, k_len = x.shape
    n_cols = w.shape[1]
    if m_rows == 0 or n_cols == 0 or k_len == 0:
        zeros = np.zeros((m_rows, n_cols), dtype=np.int64)
        return MatmulResult(zeros, zeros.copy() if counts else None)
    # values: written by the passes below. overflows: zeros that cost nothing until written
    # where no output is scanned; where some are, ordinary memory (a scan writing into fresh
    # zero pages page-faults: 59 ms instead of 41 ms for 2048 x 1536 here).
    values = np.empty((m_rows, n_cols), dtype=np.int64)

    reg = registers(acc, k_len)
    max_product = xo.max_abs * wo.max_abs
    s = exact_matmul(x, w, (xo.lo, xo.hi), (wo.lo, wo.hi), out=scratch_int32(m_rows, n_cols))

    globally_safe = reg.tile * max_product <= reg.in_hi and k_len * max_product <= reg.out_hi
    wrap_bits = values_only_wrap_bits(acc)
    if globally_safe or (not counts and wrap_bits is not None):
        value_sh = 0 if globally_safe or wrap_bits >= 64 else 64 - wrap_bits
        _bounds.fill_values(s, value_sh, values)
        return MatmulResult(values, lazy_zeros((m_rows, n_cols)) if counts else None)

    dtype, kind, lo, hi, sh = _lane_plan(acc, max_product, reg.tile, lanes)
    block = _balanced_block(n_cols, _BLOCK[dtype])
    flags = np.zeros((m_rows, -(-n_cols // block)), dtype=np.uint8)
    xmax, xl1, wmax, wl1 = _bounds.abs_stats(x, w)
    # An exact sum no overflow-free run can reach means some add overflowed, for sure: beyond
    # n_tiles inner registers that never clamped or wrapped, or beyond the outer register.
    n_tiles = -(-k_len // reg.tile)
    certain_lo = max(n_tiles * reg.in_lo, reg.out_lo, -UNBOUNDED)
    certain_hi = min(n_tiles * reg.in_hi, reg.out_hi, UNBOUNDED)
    unsafe = _bounds.level1(s, xmax, xl1, wmax, wl1, reg.tile, reg.in_lo, reg.in_hi, reg.out_hi, certain_lo,
                            certain_hi, block, values, flags)
    rows = np.flatnonzero((flags == _bounds.UNPROVEN).any(axis=1)) if unsafe and level2 else []
    if len(rows):
        ax = np.abs(x[rows].astype(np.int16))
        aw = np.abs(w.astype(np.int16))
        b_core, b_row, b_col, b_const = exact_matmul_parts(ax, aw, (0, xo.max_abs), (0, wo.max_abs))
        _bounds.level2(s, b_core, b_row, b_col, b_const, rows, xmax, wmax, reg.tile, reg.in_lo, reg.in_hi,
                       reg.out_lo, reg.out_hi, block, flags, values)
        unsafe = int(np.count_nonzero(flags))
    if not unsafe:
        return MatmulResult(values, lazy_zeros((m_rows, n_cols)) if counts else None)
    overflows = np.empty((m_rows, n_cols), dtype=np.int64)
    _bounds.zero_safe_blocks(flags, block, overflows)
    # An exact outer register sums n_tiles inner values: int32 lanes hold it when those fit.
    outer32 = reg.outer_kind == OUTER_EXACT and n_tiles * max(-reg.in_lo, reg.in_hi) < (1 << 31)
    # Tasks ordered by column block, then row (two rows per task): consecutive tasks reuse the
    # same block of w.
    blk, task_m = np.nonzero(flags.T)  # UNPROVEN and UNPROVABLE blocks alike
    _scan.scan_tasks(
        np.ascontiguousarray(x, dtype=dtype), _scan.blocked(w.astype(dtype, copy=False), block), n_cols,
        *_scan.pair_tasks(task_m, blk), reg.tile, kind, dtype(lo), dtype(hi), dtype(sh),
        reg.outer_kind, np.int64(reg.out_lo), np.int64(reg.out_hi), np.int64(64 - reg.outer_bits),
        np.empty(0, np.int32 if outer32 else np.int64), values, overflows,
    )
    return MatmulResult(values, overflows if counts else None)
