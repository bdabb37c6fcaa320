"""Proofs that an output's accumulation never leaves its registers' ranges (Numba, fused passes).

Every partial sum of products lies within +-sum_k |x_k w_k| =: +-B. Cheapest bounds first:
  level 0 (caller): B <= K * max|x| * max|w| for every output at once;
  level 1: B <= min(||x_m||_1 * max_k |w_kn|, max_k |x_mk| * ||w_n||_1) per output, and for one
           tile of T products: T * max|x_m| * max|w_n|;
  level 2: B exactly from an integer GEMM |x| @ |w|, combined with the exact sum S: the positive
           products add up to Pos = (B + S) / 2 and the negative ones to -Neg = -(B - S) / 2, so
           every prefix sum (and every sum over a sub-range of k, such as one tile) lies in
           [-Neg, Pos].
An output is safe when the inner register (one tile) and the outer register (prefix sums at tile
boundaries) provably stay in range; its value is then S and its overflow count 0. Flags mark the
blocks of columns that still need a scan.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from kernels._numba import ashr, kernel, shl

__all__ = ["SAFE", "UNPROVEN", "CERTAIN", "abs_stats", "fill_values", "level1", "level2"]


@kernel(parallel=True)
def fill_values(s, value_sh, values, counts, zero_counts):
    """values = s widened to int64, sign-extended from (64 - value_sh) bits when value_sh > 0;
    counts = 0 too when zero_counts (fused here: one parallel pass instead of a serial memset)."""
    n_cols = s.shape[1]
    for m in prange(s.shape[0]):
        for n in range(n_cols):
            v = np.int64(s[m, n])
            if value_sh > 0:
                v = ashr(shl(v, value_sh), value_sh)
            values[m, n] = v
        if zero_counts:
            for n in range(n_cols):
                counts[m, n] = 0


@kernel(parallel=True)
def abs_stats(x, w):
    """(max |x| and sum |x| per row of x, max |w| and sum |w| per column of w), int64 each."""
    m_rows, k_len = x.shape
    n_cols = w.shape[1]
    xmax = np.zeros(m_rows, np.int64)
    xl1 = np.zeros(m_rows, np.int64)
    for m in prange(m_rows):
        hi = np.int64(0)
        tot = np.int64(0)
        for k in range(k_len):
            v = abs(np.int64(x[m, k]))
            hi = max(hi, v)
            tot += v
        xmax[m] = hi
        xl1[m] = tot
    wmax = np.zeros(n_cols, np.int64)
    wl1 = np.zeros(n_cols, np.int64)
    for k in range(k_len):  # rows of w stream contiguously; columns accumulate side by side
        for n in range(n_cols):
            v = abs(np.int64(w[k, n]))
            wmax[n] = max(wmax[n], v)
            wl1[n] += v
    return xmax, xl1, wmax, wl1


SAFE, UNPROVEN, CERTAIN = 0, 1, 2  # flag of a (row, column block): the strongest of its outputs


@kernel(parallel=True)
def level1(s, xmax, xl1, wmax, wl1, tile, in_hi, out_hi, certain_lo, certain_hi, block, values, counts, flags):
    """values = s (int64) and counts = 0 everywhere (the scan overwrites its blocks);
    flags[m, n // block] raised to UNPROVEN / CERTAIN per output.

    xmax, xl1 : per row of x, max |x| and sum |x| (int64); wmax, wl1 : per column of w.
    tile : inner tile length; in_hi, out_hi : largest magnitude the inner / outer register can
    take for sure (2^(P-1) - 1). certain_lo / certain_hi : an exact sum outside them overflows
    for sure (one stage: the register range), so no bound can help that block.
    Returns the number of outputs not proven safe.
    """
    n_cols = s.shape[1]
    n_blocks = flags.shape[1]
    unsafe = 0
    for m in prange(s.shape[0]):
        row_unsafe = 0
        xm = xmax[m]
        xl = xl1[m]
        for blk in range(n_blocks):
            # Branch-free over a block (so it vectorizes): 1 = unproven, 2 = certain overflow.
            code = 0
            count = 0
            for n in range(blk * block, min((blk + 1) * block, n_cols)):
                sv = np.int64(s[m, n])
                values[m, n] = sv
                counts[m, n] = 0
                b_all = min(xl * wmax[n], xm * wl1[n])
                b_tile = min(b_all, tile * xm * wmax[n])
                risky = np.int64((b_tile > in_hi) | (b_all > out_hi))
                sure = np.int64((sv < certain_lo) | (sv > certain_hi))
                code = max(code, risky + risky * sure)
                count += risky
            flags[m, blk] = max(flags[m, blk], code)
            row_unsafe += count
        unsafe += row_unsafe
    return unsafe


@kernel(parallel=True)
def level2(s, b_core, b_row, b_col, b_const, rows, xmax, wmax, tile, in_lo, in_hi, out_lo, out_hi, block, flags):
    """Re-decide the UNPROVEN blocks of rows `rows` with B = |x| @ |w| (rows only).

    B[i, n] = b_core[i, n] + b_row[i] + b_col[n] + b_const (see exact_matmul_parts).
    in_lo/in_hi, out_lo/out_hi : the inner / outer register ranges. Returns outputs still unsafe
    in the re-decided blocks.
    """
    n_cols = s.shape[1]
    unsafe = 0
    for i in prange(rows.shape[0]):
        m = rows[i]
        row_unsafe = 0
        for blk in range(flags.shape[1]):
            if flags[m, blk] != UNPROVEN:
                continue
            flags[m, blk] = SAFE
            for n in range(blk * block, min((blk + 1) * block, n_cols)):
                sv = np.int64(s[m, n])
                bv = np.int64(b_core[i, n]) + b_row[i] + b_col[n] + b_const
                pos = (bv + sv) >> 1
                neg = (bv - sv) >> 1
                inner_ok = (pos <= in_hi and neg <= -in_lo) or tile * xmax[m] * wmax[n] <= in_hi
                outer_ok = pos <= out_hi and neg <= -out_lo
                if not (inner_ok and outer_ok):
                    flags[m, blk] = UNPROVEN
                    row_unsafe += 1
        unsafe += row_unsafe
    return unsafe
