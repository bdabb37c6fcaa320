"""Sequential accumulator scans (Numba): the order-dependent work, only for outputs not proven safe.

A task is one output row m and a block of `block` consecutive columns starting at n0. The
scan walks k in ascending order and keeps one lane per column in the narrowest integer type
that holds the register exactly (int16 lanes for a 16-bit accumulator of int8 products), so a
256-bit vector carries 16 accumulators. Sixteen k steps are applied per pass over the block, so
each accumulator is loaded and stored once per sixteen products instead of once per product.

Lane arithmetic per inner step kind (P = accumulator bits, L = lane bits, p = product):
  SAT_FULL    P == L: r = sadd.sat(a, p); overflow iff r != a + p (wrapping)
  SAT_NARROW  P <  L: v = a + p is exact in L bits; r = clamp(v, lo, hi); overflow iff r != v
  WRAP_FULL   P == L: r = a + p (wrapping); overflow iff r != sadd.sat(a, p)
  WRAP_NARROW P <  L: r = sign-extend of the low P bits of v = a + p; overflow iff r != v
  EXACT       r = a + p (the lane is wide enough for a whole tile); never overflows
The outer register (one add per tile) is kept in int64.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from kernels._numba import add_sat, add_wrap, ashr, kernel, mul_wrap, ne_int, shl, smax, smin
from kernels._plan import OUTER_EXACT, OUTER_SAT, OUTER_WRAP

__all__ = ["SAT_FULL", "SAT_NARROW", "WRAP_FULL", "WRAP_NARROW", "EXACT", "OUTER_EXACT", "OUTER_SAT", "OUTER_WRAP",
           "scan_tasks", "blocked"]

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


_chunk = {
    SAT_FULL: _chunk_kernel(_step_sat_full),
    SAT_NARROW: _chunk_kernel(_step_sat_narrow),
    WRAP_FULL: _chunk_kernel(_step_wrap_full),
    WRAP_NARROW: _chunk_kernel(_step_wrap_narrow),
    EXACT: _chunk_kernel(_step_exact),
}
_chunk_sat_full = _chunk[SAT_FULL]
_chunk_sat_narrow = _chunk[SAT_NARROW]
_chunk_wrap_full = _chunk[WRAP_FULL]
_chunk_wrap_narrow = _chunk[WRAP_NARROW]
_chunk_exact = _chunk[EXACT]


@kernel()
def _scan_range(kind, xrow, wt, k0, k1, nb, acc, cnt, total, since_flush, lo, hi, sh):
    """Products k0..k1-1 into acc[:nb] (wt: the task's block of w); the narrow lane counters cnt are flushed
    into total (int64) every _COUNT_CHUNK k steps. Returns the steps counted since the last flush."""
    c0 = k0
    while c0 < k1:
        c1 = min(k1, c0 + _COUNT_CHUNK - since_flush)
        if kind == SAT_FULL:
            _chunk_sat_full(xrow, wt, c0, c1, nb, acc, cnt, lo, hi, sh)
        elif kind == SAT_NARROW:
            _chunk_sat_narrow(xrow, wt, c0, c1, nb, acc, cnt, lo, hi, sh)
        elif kind == WRAP_FULL:
            _chunk_wrap_full(xrow, wt, c0, c1, nb, acc, cnt, lo, hi, sh)
        elif kind == WRAP_NARROW:
            _chunk_wrap_narrow(xrow, wt, c0, c1, nb, acc, cnt, lo, hi, sh)
        else:
            _chunk_exact(xrow, wt, c0, c1, nb, acc, cnt, lo, hi, sh)
        since_flush += c1 - c0
        if since_flush == _COUNT_CHUNK:
            for j in range(nb):
                total[j] += cnt[j]
                cnt[j] = 0
            since_flush = 0
        c0 = c1
    return since_flush


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


@kernel(parallel=True)
def scan_tasks(x, wb, n_cols, task_m, task_blk, tile, kind, lo, hi, sh, outer_kind, outer_lo, outer_hi, outer_sh,
               values, counts):
    """Scan every task (row task_m[t], column block task_blk[t]) and write values/counts.

    x : (M x K) in the lane type; wb : w in the lane type, blocked (see `blocked`); n_cols : N.
    lo, hi, sh : lane-typed inner register limits and the shift (L - P) used by WRAP_NARROW.
    tile : inner tile length in k (K for one stage). outer_kind / outer_lo / outer_hi /
    outer_sh : the int64 outer register. values, counts : int64 (M x N) outputs, written only
    inside the tasks' blocks.
    """
    k_len = x.shape[1]
    block = wb.shape[2]
    for t in prange(task_m.shape[0]):
        m = task_m[t]
        n0 = task_blk[t] * block
        nb = min(block, n_cols - n0)
        wt = wb[task_blk[t]]
        acc = np.zeros(block, x.dtype)
        cnt = np.zeros(block, x.dtype)  # lane counters, as narrow as the lanes
        outer = np.zeros(block, np.int64)
        total = np.zeros(block, np.int64)
        xrow = x[m]
        since_flush = 0
        for t0 in range(0, k_len, tile):
            since_flush = _scan_range(kind, xrow, wt, t0, min(t0 + tile, k_len), nb, acc, cnt, total,
                                      since_flush, lo, hi, sh)
            # End of tile: add the inner register into the outer one and restart it at 0
            # (one loop per outer kind, so each vectorizes).
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
            else:
                for j in range(nb):
                    outer[j] += np.int64(acc[j])
            acc[:] = 0
        for j in range(nb):
            values[m, n0 + j] = outer[j]
            counts[m, n0 + j] = total[j] + cnt[j]

