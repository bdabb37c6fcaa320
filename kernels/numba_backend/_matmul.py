"""The numba backend (the fast CPU path): exact integer GEMM + overflow proofs + Numba scans of what is left.

Plan of one call (see _bounds.py and _scan.py for the pieces):
1. Level 0: if K * max|x| * max|w| (and T * max|x| * max|w| per tile) fits the registers, no
   output can overflow: values = S = x @ w (one exact int8 GEMM), counts 0.
2. Wrap without counts: values = S mod 2^P (sign-extended), no scan at all.
3. Otherwise level-1 and level-2 bounds prove most outputs safe; only blocks of columns holding
   an unproven output are scanned in k order with narrow SIMD lanes. Level 1 also flags blocks no
   bound can prove (an output certain to overflow), which level 2 skips.
4. When a 64-row sample shows the proofs would spare less of the scan than they cost (nearly
   every output overflows), S and the bounds are skipped and every output is scanned.
"""

from __future__ import annotations

import numpy as np

from .._checks import Operand
from .._registers import OUTER_EXACT, UNBOUNDED, register_range, registers, values_only_wrap_bits
from . import _bounds, _scan
from ._alloc import lazy_zeros
from ._intgemm import exact_matmul, exact_matmul_parts, scratch_int32
from ..result import MatmulResult
from ..spec import AccMode, AccumulatorSpec

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
        lo, hi = register_range(acc.bits)
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


# What the exact GEMM and the bounds cost, as a share of scanning every output in these lanes
# (measured here: 6.5 ms against 45 ms for 2048 x 576 x 1536 in int16 lanes, 107 ms in int32).
_PROOF_COST = {np.int16: 0.15, np.int32: 0.06, np.int64: 0.03}
_SAMPLE_ROWS = 64


def _prove(x, w, xo: Operand, wo: Operand, s, stats, reg, block: int, values, level2: bool) -> np.ndarray:
    """Flags (rows of x by column blocks) after level 1 and, unless level2 is False, level 2;
    values = S (int64) in the blocks proven safe. stats : abs_stats of (x, w)."""
    xmax, xl1, wmax, wl1 = stats
    flags = np.zeros((x.shape[0], -(-w.shape[1] // block)), dtype=np.uint8)
    # An exact sum no overflow-free run can reach means some add overflowed, for sure: beyond
    # n_tiles inner registers that never clamped or wrapped, or beyond the outer register.
    n_tiles = -(-x.shape[1] // reg.tile)
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
    return flags


def proofs_pay(x, w, xo: Operand, wo: Operand, stats, reg, block: int, lane_dtype, level2: bool = True) -> bool:
    """Whether computing S and the bounds for every output is worth it: on an even sample of 64
    rows, the share of blocks the proofs spare the scan must exceed what they cost (_PROOF_COST).
    When nearly every output overflows (8-bit data in a 16-bit register), scanning everything
    without S is faster; the result is the same either way."""
    m_rows = x.shape[0]
    if m_rows <= 4 * _SAMPLE_ROWS:
        return True
    rows = np.linspace(0, m_rows - 1, _SAMPLE_ROWS).astype(np.int64)
    xs = np.ascontiguousarray(x[rows])
    s = exact_matmul(xs, w, (xo.lo, xo.hi), (wo.lo, wo.hi))
    xmax, xl1, wmax, wl1 = stats
    flags = _prove(xs, w, xo, wo, s, (xmax[rows], xl1[rows], wmax, wl1), reg, block,
                   np.empty(s.shape, dtype=np.int64), level2)
    spared = np.count_nonzero(flags == _bounds.SAFE) / flags.size
    return spared > _PROOF_COST[lane_dtype]


def matmul_numba(xo: Operand, wo: Operand, acc: AccumulatorSpec, counts: bool = True,
                 lanes: str | None = None, level2: bool = True, proofs: bool | None = None) -> MatmulResult:
    """int_matmul on the CPU: same results as the reference, bit for bit.

    xo, wo : checked operands (numpy). counts : False skips overflow counting where that saves
    work (wrap values come from S alone); overflows is then None. lanes : force "int16",
    "int32" or "int64" scan lanes (tests of the wider paths); None picks the narrowest.
    level2 : False scans whatever level 1 leaves unproven (tests of the scan on its own).
    proofs : False scans every output without computing S or bounds, True always proves first,
    None decides on a sample (see proofs_pay).
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
    globally_safe = reg.tile * max_product <= reg.in_hi and k_len * max_product <= reg.out_hi
    wrap_bits = values_only_wrap_bits(acc)
    if globally_safe or (not counts and wrap_bits is not None):
        s = exact_matmul(x, w, (xo.lo, xo.hi), (wo.lo, wo.hi), out=scratch_int32(m_rows, n_cols), integer=False)
        value_sh = 0 if globally_safe or wrap_bits >= 64 else 64 - wrap_bits
        _bounds.fill_values(s, value_sh, values)
        return MatmulResult(values, lazy_zeros((m_rows, n_cols)) if counts else None)

    dtype, kind, lo, hi, sh = _lane_plan(acc, max_product, reg.tile, lanes)
    block = _balanced_block(n_cols, _BLOCK[dtype])
    stats = _bounds.abs_stats(x, w) if proofs is not False else None
    if proofs is None:
        proofs = proofs_pay(x, w, xo, wo, stats, reg, block, dtype, level2)
    if proofs:
        s = exact_matmul(x, w, (xo.lo, xo.hi), (wo.lo, wo.hi), out=scratch_int32(m_rows, n_cols))
        flags = _prove(x, w, xo, wo, s, stats, reg, block, values, level2)
        if not flags.any():
            return MatmulResult(values, lazy_zeros((m_rows, n_cols)) if counts else None)
    else:
        flags = np.full((m_rows, -(-n_cols // block)), _bounds.UNPROVABLE, dtype=np.uint8)
    overflows = np.empty((m_rows, n_cols), dtype=np.int64)
    _bounds.zero_safe_blocks(flags, block, overflows)
    # An exact outer register sums n_tiles inner values: int32 lanes hold it when those fit.
    n_tiles = -(-k_len // reg.tile)
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
