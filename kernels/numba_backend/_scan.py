"""Sequential accumulator scans (Numba): the order-dependent work, only for outputs not proven safe.

A task is two output rows (or one) and a block of `block` consecutive columns; w is laid out
block by block (see `blocked`), so the task reads one contiguous (K x block) slab. The scan walks
k in ascending order and keeps one lane per column in the narrowest integer type that holds the
register exactly (int16 lanes for a 16-bit accumulator of int8 products), so a 256-bit vector
carries 16 accumulators. Eight or sixteen k steps are applied per pass over the block, so each
accumulator is loaded and stored once per pass instead of once per product. At about 2.2 cycles
per 16-lane step (five vector operations, on the two ports that take them here) the scan runs
near this CPU's limit; 512-bit vectors measured no faster.

Lane arithmetic per inner step kind (P = accumulator bits, L = lane bits, p = product):
  SAT_FULL    P == L: r = sadd.sat(a, p); overflow iff r != a + p (wrapping)
  SAT_NARROW  P <  L: v = a + p is exact in L bits; r = clamp(v, lo, hi); overflow iff r != v
  WRAP_FULL   P == L: r = a + p (wrapping); overflow iff r != sadd.sat(a, p)
  WRAP_NARROW P <  L: r = sign-extend of the low P bits of v = a + p; overflow iff r != v
  EXACT       r = a + p (the lane is wide enough for a whole tile); never overflows
The outer register (one add per tile) is kept in int64, or int32 when exact and provably held.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._registers import OUTER_SAT, OUTER_WRAP
from ._jit import add_sat, add_wrap, ashr, kernel, mul_wrap, ne_int, shl, smax, smin

__all__ = ["SAT_FULL", "SAT_NARROW", "WRAP_FULL", "WRAP_NARROW", "EXACT", "scan_tasks", "blocked", "pair_tasks"]

SAT_FULL, SAT_NARROW, WRAP_FULL, WRAP_NARROW, EXACT = 0, 1, 2, 3, 4

# Lane counters are as narrow as the lanes; they are flushed to int64 at least this often.
_COUNT_CHUNK = 32767


@kernel()
def _step_sat_full(a, c, xv, wv, lo, hi, sh):
    p = mul_wrap(xv, wv)
    r = add_sat(a, p)
    return r, add_wrap(c, ne_int(r, add_wrap(a, p)))


@kernel()
def _step_sat_narrow(a, c, xv, wv, lo, hi, sh):
    v = add_wrap(a, mul_wrap(xv, wv))
    r = smin(smax(v, lo), hi)
    return r, add_wrap(c, ne_int(r, v))


@kernel()
def _step_wrap_full(a, c, xv, wv, lo, hi, sh):
    p = mul_wrap(xv, wv)
    r = add_wrap(a, p)
    return r, add_wrap(c, ne_int(r, add_sat(a, p)))


@kernel()
def _step_wrap_narrow(a, c, xv, wv, lo, hi, sh):
    v = add_wrap(a, mul_wrap(xv, wv))
    r = ashr(shl(v, sh), sh)
    return r, add_wrap(c, ne_int(r, v))


@kernel()
def _step_exact(a, c, xv, wv, lo, hi, sh):
    return add_wrap(a, mul_wrap(xv, wv)), c


def _chunk_kernel(step):
    """A Numba kernel applying products k0..k1-1 of `xrow` to acc[:nb], with wt the (K x block)
    block of w the accumulators belong to.

    One kernel per step kind: `step` is a closure constant, so it is inlined and the vectorizer
    sees the whole loop body (a step passed as an argument would defeat Numba's cache). Indexing
    wt[k, j] with j from range(nb) (not w[k, n0 + j], nor 16 row slices per pass) matters: a
    column index Numba cannot prove non-negative keeps the loop scalar, and slices cost atomic
    reference counts on w's buffer; either way the per-pass overhead was larger than 64 lanes
    of work.
    """

    def chunk(xrow, wt, k0, k1, nb, acc, cnt, lo, hi, sh):
        k = k0
        while k + 16 <= k1:
            x0, x1, x2, x3 = xrow[k], xrow[k + 1], xrow[k + 2], xrow[k + 3]
            x4, x5, x6, x7 = xrow[k + 4], xrow[k + 5], xrow[k + 6], xrow[k + 7]
            x8, x9, xa, xb = xrow[k + 8], xrow[k + 9], xrow[k + 10], xrow[k + 11]
            xc, xd, xe, xf = xrow[k + 12], xrow[k + 13], xrow[k + 14], xrow[k + 15]
            # Adding a zero product never leaves the range nor changes the register.
            if (x0 | x1 | x2 | x3 | x4 | x5 | x6 | x7 | x8 | x9 | xa | xb | xc | xd | xe | xf) != 0:
                for j in range(nb):
                    a = acc[j]
                    c = cnt[j]
                    a, c = step(a, c, x0, wt[k, j], lo, hi, sh)
                    a, c = step(a, c, x1, wt[k + 1, j], lo, hi, sh)
                    a, c = step(a, c, x2, wt[k + 2, j], lo, hi, sh)
                    a, c = step(a, c, x3, wt[k + 3, j], lo, hi, sh)
                    a, c = step(a, c, x4, wt[k + 4, j], lo, hi, sh)
                    a, c = step(a, c, x5, wt[k + 5, j], lo, hi, sh)
                    a, c = step(a, c, x6, wt[k + 6, j], lo, hi, sh)
                    a, c = step(a, c, x7, wt[k + 7, j], lo, hi, sh)
                    a, c = step(a, c, x8, wt[k + 8, j], lo, hi, sh)
                    a, c = step(a, c, x9, wt[k + 9, j], lo, hi, sh)
                    a, c = step(a, c, xa, wt[k + 10, j], lo, hi, sh)
                    a, c = step(a, c, xb, wt[k + 11, j], lo, hi, sh)
                    a, c = step(a, c, xc, wt[k + 12, j], lo, hi, sh)
                    a, c = step(a, c, xd, wt[k + 13, j], lo, hi, sh)
                    a, c = step(a, c, xe, wt[k + 14, j], lo, hi, sh)
                    a, c = step(a, c, xf, wt[k + 15, j], lo, hi, sh)
                    acc[j] = a
                    cnt[j] = c
            k += 16
        while k < k1:
            xv = xrow[k]
            if xv != 0:
                for j in range(nb):
                    a, c = step(acc[j], cnt[j], xv, wt[k, j], lo, hi, sh)
                    acc[j] = a
                    cnt[j] = c
            k += 1

    return kernel()(chunk)


def _pair_chunk_kernel(step):
    """The same for two rows of x against one block of w: each w element loaded once feeds two
    products, and each lane carries two independent register chains (2.1 instead of 2.5 cycles
    per 16-lane product here). Eight k per pass keeps both rows' x in vector registers."""

    def chunk2(xa, xb, wt, k0, k1, nb, acc_a, cnt_a, acc_b, cnt_b, lo, hi, sh):
        k = k0
        while k + 8 <= k1:
            a0, a1, a2, a3 = xa[k], xa[k + 1], xa[k + 2], xa[k + 3]
            a4, a5, a6, a7 = xa[k + 4], xa[k + 5], xa[k + 6], xa[k + 7]
            b0, b1, b2, b3 = xb[k], xb[k + 1], xb[k + 2], xb[k + 3]
            b4, b5, b6, b7 = xb[k + 4], xb[k + 5], xb[k + 6], xb[k + 7]
            if (a0 | a1 | a2 | a3 | a4 | a5 | a6 | a7 | b0 | b1 | b2 | b3 | b4 | b5 | b6 | b7) != 0:
                for j in range(nb):
                    a = acc_a[j]
                    c = cnt_a[j]
                    b = acc_b[j]
                    d = cnt_b[j]
                    wv = wt[k, j]
                    a, c = step(a, c, a0, wv, lo, hi, sh)
                    b, d = step(b, d, b0, wv, lo, hi, sh)
                    wv = wt[k + 1, j]
                    a, c = step(a, c, a1, wv, lo, hi, sh)
                    b, d = step(b, d, b1, wv, lo, hi, sh)
                    wv = wt[k + 2, j]
                    a, c = step(a, c, a2, wv, lo, hi, sh)
                    b, d = step(b, d, b2, wv, lo, hi, sh)
                    wv = wt[k + 3, j]
                    a, c = step(a, c, a3, wv, lo, hi, sh)
                    b, d = step(b, d, b3, wv, lo, hi, sh)
                    wv = wt[k + 4, j]
                    a, c = step(a, c, a4, wv, lo, hi, sh)
                    b, d = step(b, d, b4, wv, lo, hi, sh)
                    wv = wt[k + 5, j]
                    a, c = step(a, c, a5, wv, lo, hi, sh)
                    b, d = step(b, d, b5, wv, lo, hi, sh)
                    wv = wt[k + 6, j]
                    a, c = step(a, c, a6, wv, lo, hi, sh)
                    b, d = step(b, d, b6, wv, lo, hi, sh)
                    wv = wt[k + 7, j]
                    a, c = step(a, c, a7, wv, lo, hi, sh)
                    b, d = step(b, d, b7, wv, lo, hi, sh)
                    acc_a[j] = a
                    cnt_a[j] = c
                    acc_b[j] = b
                    cnt_b[j] = d
            k += 8
        while k < k1:
            av = xa[k]
            bv = xb[k]
            if (av | bv) != 0:
                for j in range(nb):
                    wv = wt[k, j]
                    a, c = step(acc_a[j], cnt_a[j], av, wv, lo, hi, sh)
                    b, d = step(acc_b[j], cnt_b[j], bv, wv, lo, hi, sh)
                    acc_a[j] = a
                    cnt_a[j] = c
                    acc_b[j] = b
                    cnt_b[j] = d
            k += 1

    return kernel()(chunk2)


# One module-level kernel per (rows, step kind): _chunk_rows calls them by name (a global that
# Numba compiles in; a dict lookup would not be).
_chunk_sat_full = _chunk_kernel(_step_sat_full)
_chunk_sat_narrow = _chunk_kernel(_step_sat_narrow)
_chunk_wrap_full = _chunk_kernel(_step_wrap_full)
_chunk_wrap_narrow = _chunk_kernel(_step_wrap_narrow)
_chunk_exact = _chunk_kernel(_step_exact)
_pair_sat_full = _pair_chunk_kernel(_step_sat_full)
_pair_sat_narrow = _pair_chunk_kernel(_step_sat_narrow)
_pair_wrap_full = _pair_chunk_kernel(_step_wrap_full)
_pair_wrap_narrow = _pair_chunk_kernel(_step_wrap_narrow)
_pair_exact = _pair_chunk_kernel(_step_exact)


@kernel(inline="always")
def _chunk_rows(kind, pair, xa, xb, wt, k0, k1, nb, acc_a, cnt_a, acc_b, cnt_b, lo, hi, sh):
    """Products k0..k1-1 of row xa (and xb when pair) into acc_a (acc_b), counters cnt_a (cnt_b)."""
    if pair:
        if kind == SAT_FULL:
            _pair_sat_full(xa, xb, wt, k0, k1, nb, acc_a, cnt_a, acc_b, cnt_b, lo, hi, sh)
        elif kind == SAT_NARROW:
            _pair_sat_narrow(xa, xb, wt, k0, k1, nb, acc_a, cnt_a, acc_b, cnt_b, lo, hi, sh)
        elif kind == WRAP_FULL:
            _pair_wrap_full(xa, xb, wt, k0, k1, nb, acc_a, cnt_a, acc_b, cnt_b, lo, hi, sh)
        elif kind == WRAP_NARROW:
            _pair_wrap_narrow(xa, xb, wt, k0, k1, nb, acc_a, cnt_a, acc_b, cnt_b, lo, hi, sh)
        else:
            _pair_exact(xa, xb, wt, k0, k1, nb, acc_a, cnt_a, acc_b, cnt_b, lo, hi, sh)
    elif kind == SAT_FULL:
        _chunk_sat_full(xa, wt, k0, k1, nb, acc_a, cnt_a, lo, hi, sh)
    elif kind == SAT_NARROW:
        _chunk_sat_narrow(xa, wt, k0, k1, nb, acc_a, cnt_a, lo, hi, sh)
    elif kind == WRAP_FULL:
        _chunk_wrap_full(xa, wt, k0, k1, nb, acc_a, cnt_a, lo, hi, sh)
    elif kind == WRAP_NARROW:
        _chunk_wrap_narrow(xa, wt, k0, k1, nb, acc_a, cnt_a, lo, hi, sh)
    else:
        _chunk_exact(xa, wt, k0, k1, nb, acc_a, cnt_a, lo, hi, sh)


@kernel(inline="always")
def _scan_range(kind, pair, xa, xb, wt, k0, k1, nb, acc_a, cnt_a, total_a, acc_b, cnt_b, total_b, since_flush, lo,
                hi, sh):
    """Products k0..k1-1 into acc_a[:nb] (and acc_b when pair; wt: the task's block of w); the
    narrow lane counters are flushed into total_a / total_b (int64) every _COUNT_CHUNK k steps.
    Returns the steps counted since the last flush."""
    c0 = k0
    while c0 < k1:
        c1 = min(k1, c0 + _COUNT_CHUNK - since_flush)
        _chunk_rows(kind, pair, xa, xb, wt, c0, c1, nb, acc_a, cnt_a, acc_b, cnt_b, lo, hi, sh)
        since_flush += c1 - c0
        if since_flush == _COUNT_CHUNK:
            for j in range(nb):
                total_a[j] += cnt_a[j]
                cnt_a[j] = 0
                total_b[j] += cnt_b[j]
                cnt_b[j] = 0
            since_flush = 0
        c0 = c1
    return since_flush


@kernel(inline="always")
def _end_tile(outer_kind, outer_lo, outer_hi, outer_sh, nb, acc, outer, total):
    """Add the inner register acc into the outer one (counting its overflows) and restart it at
    0; one loop per outer kind, so each vectorizes."""
    if outer_kind == OUTER_SAT:
        for j in range(nb):
            true = outer[j] + np.int64(acc[j])
            r = min(max(true, outer_lo), outer_hi)
            total[j] += np.int64(r != true)
            outer[j] = r
    elif outer_kind == OUTER_WRAP:
        for j in range(nb):
            true = outer[j] + np.int64(acc[j])
            r = ashr(shl(true, outer_sh), outer_sh)
            total[j] += np.int64(r != true)
            outer[j] = r
    else:  # exact outer register, in int32 lanes when that provably holds it (see scan_tasks)
        for j in range(nb):
            outer[j] = add_wrap(outer[j], outer.dtype.type(acc[j]))
    acc[:] = 0


def blocked(w: np.ndarray, block: int) -> np.ndarray:
    """w (K x N) as (ceil(N / block) x K x block) contiguous blocks of columns, zero-padded: the
    layout scan_tasks reads (each task walks one block top to bottom)."""
    k_len, n_cols = w.shape
    n_blocks = -(-n_cols // block)
    out = np.zeros((n_blocks, k_len, block), dtype=w.dtype) if n_cols % block else \
        np.empty((n_blocks, k_len, block), dtype=w.dtype)
    for b in range(n_blocks):
        cols = w[:, b * block : (b + 1) * block]
        out[b, :, : cols.shape[1]] = cols
    return out


def pair_tasks(task_m: np.ndarray, task_blk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tasks (sorted by block, then row) two by two: (row a, row b or -1, block) per pair."""
    n = len(task_m)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    idx = np.arange(n)
    starts = np.r_[0, np.flatnonzero(task_blk[1:] != task_blk[:-1]) + 1]
    first = (idx - starts[np.searchsorted(starts, idx, side="right") - 1]) % 2 == 0
    a = idx[first]
    nxt = np.minimum(a + 1, n - 1)
    has_b = (a + 1 < n) & (task_blk[nxt] == task_blk[a])
    rows_b = np.where(has_b, task_m[nxt], -1)
    return task_m[a].astype(np.int64), rows_b.astype(np.int64), task_blk[a].astype(np.int64)


@kernel(parallel=True)
def scan_tasks(x, wb, n_cols, task_a, task_b, task_blk, tile, kind, lo, hi, sh, outer_kind, outer_lo, outer_hi,
               outer_sh, outer_lanes, values, counts):
    """Scan every task (rows task_a[t] and task_b[t] (-1: none), column block task_blk[t]) and
    write values/counts.

    x : (M x K) in the lane type; wb : w in the lane type, blocked (see `blocked`); n_cols : N.
    lo, hi, sh : lane-typed inner register limits and the shift (L - P) used by WRAP_NARROW.
    tile : inner tile length in k (K for one stage). outer_kind / outer_lo / outer_hi /
    outer_sh : the outer register; outer_lanes : an empty array of its lane type, int64 or, for
    an exact outer register that int32 provably holds, int32 (half the work per tile end).
    values, counts : int64 (M x N) outputs, written only inside the tasks' blocks.
    """
    k_len = x.shape[1]
    block = wb.shape[2]
    for t in prange(task_a.shape[0]):
        pair = task_b[t] >= 0
        n0 = task_blk[t] * block
        nb = min(block, n_cols - n0)
        wt = wb[task_blk[t]]
        acc_a = np.zeros(block, x.dtype)
        acc_b = np.zeros(block, x.dtype)
        cnt_a = np.zeros(block, x.dtype)  # lane counters, as narrow as the lanes
        cnt_b = np.zeros(block, x.dtype)
        outer_a = np.zeros(block, outer_lanes.dtype)
        outer_b = np.zeros(block, outer_lanes.dtype)
        total_a = np.zeros(block, np.int64)
        total_b = np.zeros(block, np.int64)
        xa = x[task_a[t]]
        xb = x[task_b[t]] if pair else xa
        since_flush = 0
        for t0 in range(0, k_len, tile):
            since_flush = _scan_range(kind, pair, xa, xb, wt, t0, min(t0 + tile, k_len), nb, acc_a, cnt_a, total_a,
                                      acc_b, cnt_b, total_b, since_flush, lo, hi, sh)
            _end_tile(outer_kind, outer_lo, outer_hi, outer_sh, nb, acc_a, outer_a, total_a)
            if pair:
                _end_tile(outer_kind, outer_lo, outer_hi, outer_sh, nb, acc_b, outer_b, total_b)
        _write_row(values, counts, task_a[t], n0, nb, outer_a, total_a, cnt_a)
        if pair:
            _write_row(values, counts, task_b[t], n0, nb, outer_b, total_b, cnt_b)


@kernel()
def _write_row(values, counts, m, n0, nb, outer, total, cnt):
    """values[m, n0:n0+nb] = the outer register; counts = flushed plus lane overflow counts."""
    v_row = values[m, n0 : n0 + nb]
    c_row = counts[m, n0 : n0 + nb]
    for j in range(nb):
        v_row[j] = np.int64(outer[j])
        c_row[j] = total[j] + cnt[j]
