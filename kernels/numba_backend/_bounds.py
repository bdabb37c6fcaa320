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
blocks of columns that still need a scan, and those level 2 cannot help: S beyond what n_tiles
registers hold without an overflow, or, with Pos >= S and Neg >= -S, S outside a tile register
that T * max|x| * max|w| does not already cover.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._registers import UNBOUNDED
from ._jit import ashr, kernel, shl

__all__ = ["SAFE", "UNPROVEN", "UNPROVABLE", "abs_stats", "fill_values", "level1", "level2", "zero_safe_blocks"]


SAFE, UNPROVEN, UNPROVABLE = 0, 1, 2  # flag of a (row, column block): the strongest of its outputs


@kernel(parallel=True)
def fill_values(s, value_sh, values):
    """values = s widened to int64, sign-extended from (64 - value_sh) bits when value_sh > 0."""
    n_cols = s.shape[1]
    for m in prange(s.shape[0]):
        s_row = s[m]
        v_row = values[m]
        for n in range(n_cols):
            v = np.int64(s_row[n])
            if value_sh > 0:
                v = ashr(shl(v, value_sh), value_sh)
            v_row[n] = v


@kernel(parallel=True)
def zero_safe_blocks(flags, block, counts):
    """counts[m, block columns] = 0 wherever flags[m, blk] is SAFE (the scan writes the rest)."""
    n_cols = counts.shape[1]
    for m in prange(flags.shape[0]):
        for blk in range(flags.shape[1]):
            if flags[m, blk] == SAFE:
                c_b = counts[m, blk * block : min((blk + 1) * block, n_cols)]
                for j in range(c_b.shape[0]):
                    c_b[j] = 0


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


@kernel(parallel=True)
def level1(s, xmax, xl1, wmax, wl1, tile, in_lo, in_hi, out_hi, certain_lo, certain_hi, block, values, flags):
    """flags[m, n // block] = the strongest flag of the block's outputs (SAFE, UNPROVEN or
    UNPROVABLE); values = s (int64) in every SAFE block (level 2 writes the blocks it proves,
    the scan the others).

    xmax, xl1 : per row of x, max |x| and sum |x| (int64); wmax, wl1 : per column of w.
    tile : inner tile length; in_lo, in_hi : the inner register range; out_hi : largest
    magnitude the outer register can take (2^(P-1) - 1). certain_lo / certain_hi : an exact sum
    outside them overflows for sure. An output is UNPROVABLE when level 2 cannot prove it: it
    overflows for sure, or its inner register needs the Pos/Neg bound while S alone is outside
    the register (Pos >= S and Neg >= -S). Returns the number of outputs not proven safe.
    """
    n_cols = s.shape[1]
    n_blocks = flags.shape[1]
    unsafe = 0
    for m in prange(s.shape[0]):
        row_unsafe = 0
        # The bounds are products of a row statistic and a column one; comparing the column
        # statistic with a per-row quotient instead (a * b > c <=> b > c // a for a > 0, b, c >= 0)
        # keeps 64-bit multiplies, which do not vectorize well, out of the loop.
        xm = xmax[m]
        xl = xl1[m]
        big = np.int64(UNBOUNDED)  # a quotient no column statistic exceeds
        if xm == 0:
            all_in = big  # an all-zero row: every sum is 0
            one_in = big
            tile_in = big
            all_out = big
            one_out = big
        else:
            all_in = in_hi // xl  # wmax > all_in  <=>  ||x_m||_1 * wmax > in_hi
            one_in = in_hi // xm  # wl1 > one_in   <=>  max|x_m| * ||w_n||_1 > in_hi
            tile_in = in_hi // (tile * xm)
            all_out = out_hi // xl
            one_out = out_hi // xm
        for blk in range(n_blocks):
            n0 = blk * block
            n1 = min(n0 + block, n_cols)
            # Slices, so the indices are provably non-negative (no wrap-around checks), and
            # branch-free, so the loop vectorizes.
            s_b = s[m, n0:n1]
            wm_b = wmax[n0:n1]
            wl_b = wl1[n0:n1]
            code = 0
            count = 0
            for j in range(s_b.shape[0]):
                sv = np.int64(s_b[j])
                wm = wm_b[j]
                wl = wl_b[j]
                tile_risky = wm > tile_in
                risky = np.int64(((wm > all_in) & (wl > one_in) & tile_risky) | ((wm > all_out) & (wl > one_out)))
                beyond = np.int64((sv < certain_lo) | (sv > certain_hi) | (tile_risky & ((sv < in_lo) | (sv > in_hi))))
                code = max(code, risky + risky * beyond)
                count += risky
            flags[m, blk] = code
            row_unsafe += count
            if code == SAFE:
                v_b = values[m, n0:n1]
                for j in range(s_b.shape[0]):
                    v_b[j] = np.int64(s_b[j])
        unsafe += row_unsafe
    return unsafe


@kernel(parallel=True)
def level2(s, b_core, b_row, b_col, b_const, rows, xmax, wmax, tile, in_lo, in_hi, out_lo, out_hi, block, flags,
           values):
    """Re-decide the UNPROVEN blocks of rows `rows` with B = |x| @ |w| (rows only); values = s
    (int64) in the blocks it proves SAFE.

    B[i, n] = b_core[i, n] + b_row[i] + b_col[n] + b_const (see exact_matmul_parts).
    in_lo/in_hi, out_lo/out_hi : the inner / outer register ranges.
    """
    n_cols = s.shape[1]
    for i in prange(rows.shape[0]):
        m = rows[i]
        tile_in = in_hi // (tile * xmax[m]) if xmax[m] > 0 else np.int64(UNBOUNDED)
        for blk in range(flags.shape[1]):
            if flags[m, blk] != UNPROVEN:
                continue
            n0 = blk * block
            n1 = min(n0 + block, n_cols)
            s_b = s[m, n0:n1]  # slices: see level1
            b_b = b_core[i, n0:n1]
            col_b = b_col[n0:n1]
            wm_b = wmax[n0:n1]
            base = b_row[i] + b_const
            count = 0
            for j in range(s_b.shape[0]):  # branch-free, so it vectorizes
                sv = np.int64(s_b[j])
                bv = np.int64(b_b[j]) + col_b[j] + base
                pos = (bv + sv) >> 1
                neg = (bv - sv) >> 1
                inner_ok = ((pos <= in_hi) & (neg <= -in_lo)) | (wm_b[j] <= tile_in)
                outer_ok = (pos <= out_hi) & (neg <= -out_lo)
                count += 1 - np.int64(inner_ok & outer_ok)
            if count == 0:
                flags[m, blk] = SAFE
                v_b = values[m, n0:n1]
                for j in range(s_b.shape[0]):
                    v_b[j] = np.int64(s_b[j])
