"""Systolic MAC-array cycles, utilization and SRAM operand accesses, as SCALE-Sim counts them
and as a double-buffered array runs them.

GEMM: M x K input (M rows = tokens) times K x N weights. For an R x C array
(SCALE-Sim v2/v3 ``scalesim/compute/systolic_compute_{ws,os,is}.py``; each fold's
demand matrix is as many rows as cycles, and the memory system reports the index of
the last cycle, hence the final -1), a fold is one R x C tile of the stationary operand,
T the streamed dimension and P the fold's fixed fill and drain:

    ws: folds = ceil(K/R) * ceil(N/C),  T = M,  P = 2R + C - 2
    os: folds = ceil(M/R) * ceil(N/C),  T = K,  P =  R + C - 2
    is: folds = ceil(K/R) * ceil(M/C),  T = N,  P = 2R + C - 2
    F = ceil(folds / arrays)  (folds one array runs, one after another)

``fill = serial`` (SCALE-Sim exactly): every fold loads its tile (R cycles: one row of
the tile per cycle), streams T rows and fills and drains the skewed array before the
next fold starts:

    cycles = F * (P + T) - 1

``fill = overlap`` (a double-buffered array: TPU v1's weight FIFO shifts the next tile
into shadow registers while the current one computes; a GPU's multi-stage pipeline
loads the next tile into shared memory behind the MMAs): tile i + 1 starts loading when
tile i becomes active and takes R cycles, so fold i + 1 starts max(T, R) cycles after
fold i, its wavefront right behind fold i's. Only the first tile's load and the last
fold's fill and drain are exposed:

    cycles = (P + T) + (F - 1) * max(T, R) - 1

One fold (F = 1) costs the same either way. A decode GEMV (ws, M = 1) runs a fold
every R cycles, the rate at which tiles arrive, instead of every 2R + C - 1.

``arrays`` > 1 spreads independent folds over identical arrays (1 = SCALE-Sim exactly).
All functions take scalars or numpy arrays and broadcast.
"""

from __future__ import annotations

import numpy as np

from .profile import Dataflow, Fill

__all__ = ["DATAFLOW_CODES", "FILL_CODES", "dataflow_code", "fill_code", "gemm_cycles", "gemm_cycles_float",
           "operand_accesses", "utilization"]

# Integer codes so a column of dataflows (fills) can be vectorized.
DATAFLOW_CODES = {Dataflow.WS: 0, Dataflow.OS: 1, Dataflow.IS: 2}
FILL_CODES = {Fill.SERIAL: 0, Fill.OVERLAP: 1}


def _codes(value, enum, codes: dict, param: str) -> np.ndarray:
    """Integer codes of `value`: a member of `enum`, its string, or an array of codes."""
    if isinstance(value, (enum, str)):
        try:
            return np.asarray(codes[enum(value)])
        except ValueError:
            allowed = ", ".join(sorted(m.value for m in enum))
            raise ValueError(f"{param}={value!r} is not a {param}; allowed: {allowed}") from None
    array = np.asarray(value)
    if array.size and (array.min() < 0 or array.max() > max(codes.values())):
        named = ", ".join(f"{c} ({m.value})" for m, c in codes.items())
        raise ValueError(f"{param} codes must be one of {named}; got {np.unique(array)[:5]}")
    return array


def dataflow_code(dataflow) -> np.ndarray:
    """Codes (0 ws, 1 os, 2 is) from a Dataflow, a string, or an array of codes."""
    return _codes(dataflow, Dataflow, DATAFLOW_CODES, "dataflow")


def fill_code(fill) -> np.ndarray:
    """Codes (0 serial, 1 overlap) from a Fill, a string, or an array of codes."""
    return _codes(fill, Fill, FILL_CODES, "fill")


def _ceil_div(a, b):
    # float64 division is exact enough for sizes below 2^53 and several times faster than
    # int64 floor division over large arrays.
    return np.ceil(np.asarray(a, dtype=np.float64) / b)


def _fold_dims(m, k, n, rows, cols, code):
    """(dimension tiled over R, dimension tiled over C, streamed dimension, fixed fill/drain).

    ws: K over R, N over C, M streams, 2R + C - 2;  os: M over R, N over C, K streams,
    R + C - 2;  is: K over R, M over C, N streams, 2R + C - 2.
    """
    os_ = code == 1
    is_ = code == 2
    over_r = np.where(os_, m, k)
    over_c = np.where(is_, m, n)
    streamed = np.where(os_, k, np.where(is_, n, m))
    rows = np.asarray(rows, dtype=np.float64)
    fixed = np.where(os_, rows, 2.0 * rows) + cols - 2.0
    return over_r, over_c, streamed, fixed


def gemm_cycles_float(m, k, n, rows, cols, dataflow, arrays=1, fill="serial") -> np.ndarray:
    """gemm_cycles as float64 (exact below 2^53), for the vectorized cost model."""
    code = dataflow_code(dataflow)
    fills = fill_code(fill)
    over_r, over_c, streamed, fixed = _fold_dims(m, k, n, rows, cols, code)
    folds = _ceil_div(over_r, rows) * _ceil_div(over_c, cols)
    per_array = _ceil_div(folds, arrays)
    serial = per_array * (fixed + streamed) - 1.0
    if fills.ndim == 0 and not fills:  # one serial profile: skip the overlap formula (the pricing hot path)
        cycles = serial
    else:
        overlap = fixed + streamed + (per_array - 1.0) * np.maximum(streamed, np.asarray(rows, dtype=np.float64)) - 1.0
        cycles = overlap if fills.ndim == 0 else np.where(fills == 1, overlap, serial)
    empty = (np.asarray(m) == 0) | (np.asarray(k) == 0) | (np.asarray(n) == 0)
    return np.where(empty, 0.0, cycles)


def gemm_cycles(m, k, n, rows, cols, dataflow, arrays=1, fill="serial") -> np.ndarray:
    """Compute cycles (int64) of an M x K by K x N GEMM on `arrays` R x C arrays.

    m, k, n : GEMM sizes (elements); 0 in any of them gives 0 cycles.
    rows, cols : int, array geometry R x C.
    dataflow : "ws" | "os" | "is" (or Dataflow, or an array of codes 0/1/2).
    fill : "serial" (SCALE-Sim's count, the default) | "overlap" (double-buffered tiles),
        or Fill, or an array of codes 0/1; the module docstring gives both formulas.
    Reference (serial): 32x32 ws, 512x1152x1152 -> 785,375; 256x256 os, same GEMM -> 16,619.
    """
    return gemm_cycles_float(m, k, n, rows, cols, dataflow, arrays, fill).astype(np.int64)


def utilization(m, k, n, rows, cols, dataflow, arrays=1, fill="serial") -> np.ndarray:
    """Useful MACs / (PEs x cycle slots), in [0, 1]; 0 for an empty GEMM.

    The slots are gemm_cycles + 1: SCALE-Sim's count is the index of the last cycle.
    """
    cycles = gemm_cycles_float(m, k, n, rows, cols, dataflow, arrays, fill)
    macs = np.asarray(m, dtype=np.float64) * k * n
    pe_slots = np.asarray(rows, dtype=np.float64) * cols * arrays * np.where(macs > 0, cycles + 1.0, 0.0)
    return np.divide(macs, pe_slots, out=np.zeros(np.broadcast(macs, pe_slots).shape), where=pe_slots > 0)


def operand_accesses(m, k, n, rows, cols, dataflow):
    """SRAM accesses (elements) between the buffers and the array, as SCALE-Sim counts them.

    Returns (input_reads, weight_reads, output_writes) as float64 arrays:
        ws: M*K*ceil(N/C),  K*N,              M*N*ceil(K/R)   (partial sums per K fold)
        os: M*K*ceil(N/C),  K*N*ceil(M/R),    M*N
        is: M*K,            K*N*ceil(M/C),    M*N*ceil(K/R)
    """
    code = dataflow_code(dataflow)
    m, k, n = (np.asarray(x, dtype=np.float64) for x in (m, k, n))
    mk, kn, mn = m * k, k * n, m * n
    ws, os_ = code == 0, code == 1
    inp = np.where(ws | os_, mk * _ceil_div(n, cols), mk)
    wgt = np.where(ws, kn, np.where(os_, kn * _ceil_div(m, rows), kn * _ceil_div(m, cols)))
    out = np.where(os_, mn, mn * _ceil_div(k, rows))
    return inp, wgt, out
