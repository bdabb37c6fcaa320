"""gemm_cycles against SCALE-Sim: its two reference points exactly, and its fold-by-fold
construction on hypothesis shapes."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.hw_models import Dataflow, gemm_cycles, operand_accesses, utilization


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
