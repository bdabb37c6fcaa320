"""gemm_cycles against SCALE-Sim (serial fill): its two reference points exactly, and its fold-by-fold
construction on hypothesis shapes; the overlapped (double-buffered) fill by hand and against
an event-by-event construction."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.hw_models import Dataflow, Fill, gemm_cycles, operand_accesses, utilization


def scalesim_cycles(m, k, n, rows, cols, dataflow):
    """Cycles built the way SCALE-Sim builds its demand matrices, one fold at a time.

    Each fold contributes as many rows (cycles) as its demand matrix has; the memory system
    reports the index of the last one, hence the final -1 (scalesim/compute/
    systolic_compute_{ws,os,is}.py, scalesim/memory/double_buffered_scratchpad_mem.py).
    """
    total = 0
    if dataflow == "ws":  # filter: K over rows, N over cols; ifmap rows (T = M) stream
        for _ in range(math.ceil(n / cols)):
            for _ in range(math.ceil(k / rows)):
                prefix, body, suffix = rows, m, cols - 1  # weights load, inputs, drain
                skew = rows - 1  # skew_matrix adds (rows - 1) rows
                total += prefix + body + suffix + skew
    elif dataflow == "os":  # ofmap: M over rows, N over cols; K (T) streams
        for _ in range(math.ceil(n / cols)):
            for _ in range(math.ceil(m / rows)):
                prefix, body = k - 1, rows  # ofmap demand: T - 1 empty rows, then R rows
                skew = cols - 1
                total += prefix + body + skew
    else:  # is: ifmap K over rows, M over cols; filter columns (T = N) stream
        for _ in range(math.ceil(m / cols)):
            for _ in range(math.ceil(k / rows)):
                body = rows  # the ifmap fold itself, padded to R rows
                suffix = rows + cols + n - 2  # partial sums generated and accumulated
                total += body + suffix
    return total - 1


def test_scalesim_reference_points():
    # docs/COST_MODEL.md: 32x32 ws, 512x1152x1152 -> 1296 folds x (64 + 32 + 512 - 2) - 1.
    assert gemm_cycles(512, 1152, 1152, 32, 32, "ws") == 785_375
    # 256x256 os, same GEMM -> 10 folds x (256 + 256 + 1152 - 2) - 1.
    assert gemm_cycles(512, 1152, 1152, 256, 256, "os") == 16_619
    assert gemm_cycles(512, 1152, 1152, 256, 256, Dataflow.OS) == 16_619


def test_input_stationary_by_hand():
    # is: folds = ceil(K/R) * ceil(M/C) = 36 * 16 = 576; per fold 2*32 + 32 + 1152 - 2 = 1246.
    assert gemm_cycles(512, 1152, 1152, 32, 32, "is") == 576 * 1246 - 1


def test_utilization_and_arrays():
    # 512*1152*1152 MACs over 32*32 PEs for 785,376 cycle slots (the count is the last index).
    assert utilization(512, 1152, 1152, 32, 32, "ws") == pytest.approx(679_477_248 / (1024 * 785_376))
    # 4 arrays share the 1296 folds: 324 folds each.
    assert gemm_cycles(512, 1152, 1152, 32, 32, "ws", arrays=4) == 324 * 606 - 1
    assert gemm_cycles(0, 1152, 1152, 32, 32, "ws") == 0


def test_vectorized_over_arrays_and_codes():
    m = np.array([512, 512, 512])
    got = gemm_cycles(m, 1152, 1152, np.array([32, 256, 32]), np.array([32, 256, 32]), np.array([0, 1, 2]))
    np.testing.assert_array_equal(got, [785_375, 16_619, 717_695])


def test_bad_dataflow_names_choices():
    with pytest.raises(ValueError, match="allowed: is, os, ws"):
        gemm_cycles(1, 1, 1, 4, 4, "rs")


def test_operand_accesses_by_hand():
    # ws, 8x8x8 on 4x4: inputs read once per column fold (2), weights once, partial sums
    # written once per row fold (2).
    inp, wgt, out = operand_accesses(8, 8, 8, 4, 4, "ws")
    assert (inp, wgt, out) == (128, 64, 128)
    # os: outputs written once; weights read once per row fold of M (2).
    inp, wgt, out = operand_accesses(8, 8, 8, 4, 4, "os")
    assert (inp, wgt, out) == (128, 128, 64)


shapes = st.integers(1, 300)
geometry = st.integers(1, 64)


@settings(max_examples=150, deadline=None)
@given(m=shapes, k=shapes, n=shapes, rows=geometry, cols=geometry, dataflow=st.sampled_from(["ws", "os", "is"]))
def test_agrees_with_scalesim_construction(m, k, n, rows, cols, dataflow):
    assert gemm_cycles(m, k, n, rows, cols, dataflow) == scalesim_cycles(m, k, n, rows, cols, dataflow)
    assert 0 < utilization(m, k, n, rows, cols, dataflow) <= 1


# -- fill: overlap (double-buffered tiles) -------------------------------------------


def double_buffered_cycles(m, k, n, rows, cols, dataflow, arrays=1):
    """Cycles of a double-buffered load-then-stream array (ws, is) built event by event.

    Each array runs F folds. Tile i + 1 may start loading (R cycles, one row a cycle)
    once tile i has become active, i.e. when fold i starts streaming; fold i + 1 streams
    once its tile is loaded and fold i's T rows have entered. After the last fold the
    skewed array fills and drains (R - 1 + C - 1 cycles), and the count is the last
    cycle's index, as SCALE-Sim's.
    """
    if dataflow == "ws":
        folds, streamed = math.ceil(k / rows) * math.ceil(n / cols), m
    else:  # is
        folds, streamed = math.ceil(k / rows) * math.ceil(m / cols), n
    per_array = math.ceil(folds / arrays)
    start = rows  # the first tile's load is exposed
    for _ in range(per_array - 1):
        load_done = start + rows  # next tile loads behind the current fold
        start = max(start + streamed, load_done)
    return start + streamed + (rows - 1) + (cols - 1) - 1


def test_overlap_by_hand_on_a_4x4_array():
    # ws 8x8x8: F = 2 x 2 = 4 folds, P = 2*4 + 4 - 2 = 10, T = 8: (10 + 8) + 3 * max(8, 4) - 1 = 41
    # (serial: 4 x 18 - 1 = 71).
    assert gemm_cycles(8, 8, 8, 4, 4, "ws", fill="overlap") == 41
    assert gemm_cycles(8, 8, 8, 4, 4, "ws", fill="serial") == 71
    # os: folds ceil(M/R) x ceil(N/C) = 4, P = 4 + 4 - 2 = 6, T = K = 8: 14 + 3 * 8 - 1 = 37 (serial 55).
    assert gemm_cycles(8, 8, 8, 4, 4, "os", fill="overlap") == 37
    assert gemm_cycles(8, 8, 8, 4, 4, "os") == 55
    # is: folds ceil(K/R) x ceil(M/C) = 4, P = 10, T = N = 8: as ws, 41.
    assert gemm_cycles(8, 8, 8, 4, 4, "is", fill=Fill.OVERLAP) == 41


def test_a_decode_gemv_runs_one_fold_every_r_cycles():
    # ws, M = 1: each fold streams one row but its tile takes R = 4 cycles to load:
    # 4 folds: (10 + 1) + 3 * 4 - 1 = 22, against SCALE-Sim's 4 x 11 - 1 = 43.
    assert gemm_cycles(1, 8, 8, 4, 4, "ws", fill="overlap") == 22
    assert gemm_cycles(1, 8, 8, 4, 4, "ws") == 43
    # npu's 5 arrays of 64 x 64 on a 3072 x 3072 q_proj: 2304 folds, 461 per array:
    # (2*64 + 64 - 2 + 1) + 460 * 64 - 1 = 29,630 cycles; serial 461 x 191 - 1 = 88,050.
    assert gemm_cycles(1, 3072, 3072, 64, 64, "ws", arrays=5, fill="overlap") == 29_630
    assert gemm_cycles(1, 3072, 3072, 64, 64, "ws", arrays=5) == 88_050
    # One useful row per R cycles: utilization 1/R at most (9,437,184 MACs over 20,480 PEs x 29,631 slots).
    assert utilization(1, 3072, 3072, 64, 64, "ws", 5, "overlap") == pytest.approx(9_437_184 / (20_480 * 29_631))
    assert utilization(1, 3072, 3072, 64, 64, "ws", 5, "overlap") < 1 / 64


def test_serial_is_the_default_and_keeps_scalesims_reference_points():
    assert gemm_cycles(512, 1152, 1152, 32, 32, "ws", fill="serial") == 785_375
    assert gemm_cycles(512, 1152, 1152, 256, 256, "os", fill="serial") == 16_619
    # The overlapped count of the same GEMMs: 1296 folds of T = 512 >= R on 32x32 ws:
    # (64 + 32 - 2 + 512) + 1295 * 512 - 1 = 663,645; 256x256 os, 10 folds of K = 1152: (510 + 1152) + 9 * 1152 - 1.
    assert gemm_cycles(512, 1152, 1152, 32, 32, "ws", fill="overlap") == 663_645
    assert gemm_cycles(512, 1152, 1152, 256, 256, "os", fill="overlap") == 1662 + 9 * 1152 - 1


def test_fill_codes_vectorize_and_bad_fills_name_the_choices():
    got = gemm_cycles(np.array([8, 8]), 8, 8, 4, 4, "ws", fill=np.array([0, 1]))
    np.testing.assert_array_equal(got, [71, 41])
    with pytest.raises(ValueError, match="fill='double' is not a fill; allowed: overlap, serial"):
        gemm_cycles(1, 1, 1, 4, 4, "ws", fill="double")
    with pytest.raises(ValueError, match=r"fill codes must be one of 0 \(serial\), 1 \(overlap\)"):
        gemm_cycles(1, 1, 1, 4, 4, "ws", fill=np.array([2]))
    assert gemm_cycles(0, 8, 8, 4, 4, "ws", fill="overlap") == 0


@settings(max_examples=150, deadline=None)
@given(m=shapes, k=shapes, n=shapes, rows=geometry, cols=geometry, dataflow=st.sampled_from(["ws", "is"]),
       arrays=st.integers(1, 6))
def test_overlap_agrees_with_the_double_buffered_construction(m, k, n, rows, cols, dataflow, arrays):
    overlap = gemm_cycles(m, k, n, rows, cols, dataflow, arrays, "overlap")
    assert overlap == double_buffered_cycles(m, k, n, rows, cols, dataflow, arrays)
    # Never slower than SCALE-Sim's serial count, equal for one fold per array, and utilization stays in (0, 1].
    serial = gemm_cycles(m, k, n, rows, cols, dataflow, arrays)
    assert overlap <= serial
    if math.ceil(math.ceil(k / rows) * math.ceil((n if dataflow == "ws" else m) / cols) / arrays) == 1:
        assert overlap == serial
    assert 0 < utilization(m, k, n, rows, cols, dataflow, arrays, "overlap") <= 1


@settings(max_examples=100, deadline=None)
@given(m=shapes, k=shapes, n=shapes, rows=geometry, cols=geometry)
def test_overlap_never_slower_than_serial_output_stationary(m, k, n, rows, cols):
    assert gemm_cycles(m, k, n, rows, cols, "os", fill="overlap") <= gemm_cycles(m, k, n, rows, cols, "os")
