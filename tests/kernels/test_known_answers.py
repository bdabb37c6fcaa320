"""Known answers from public test suites (inputs copied from the cited files)."""

import numpy as np
import pytest

from stamp_sim.kernels import AccumulatorSpec, int_matmul, requantize

BACKENDS = ["reference", "numba", "torch"]
EXACT = AccumulatorSpec(32, "exact")


@pytest.mark.parametrize("backend", BACKENDS)
def test_onnx_matmulinteger(backend):
    """onnx/backend/test/case/node/matmulinteger.py: uint8 A with a_zero_point 12, uint8 B."""
    a = np.array([[11, 7, 3], [10, 6, 2], [9, 5, 1], [8, 4, 0]], dtype=np.uint8)
    b = np.array([[1, 4], [2, 5], [3, 6]], dtype=np.uint8)
    expected = [[-38, -83], [-44, -98], [-50, -113], [-56, -128]]
    # Directly: A - 12 fits int8.
    shifted = int_matmul((a.astype(np.int16) - 12).astype(np.int8), b, EXACT, backend)
    np.testing.assert_array_equal(shifted.values, expected)
    # As a uint8 GEMM plus the zero-point correction (how integer kernels compute it).
    raw = int_matmul(a, b, EXACT, backend).values
    np.testing.assert_array_equal(raw - 12 * b.astype(np.int64).sum(axis=0), expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_onnx_qlinearmatmul_uint8(backend):
    """onnx/backend/test/case/node/qlinearmatmul.py, 2-D uint8 case, through TFLite requantization."""
    a = np.array([[208, 236, 0, 238], [3, 214, 255, 29]], dtype=np.uint8)
    b = np.array([[152, 51, 244], [60, 26, 255], [0, 127, 246], [127, 254, 247]], dtype=np.uint8)
    a_scale, a_zp = np.float32(0.0066), 113
    b_scale, b_zp = np.float32(0.00705), 114
    y_scale, y_zp = np.float32(0.0107), 118
    k = a.shape[1]
    raw = int_matmul(a, b, EXACT, backend).values
    acc = (raw - b_zp * a.astype(np.int64).sum(axis=1, keepdims=True)
           - a_zp * b.astype(np.int64).sum(axis=0, keepdims=True) + k * a_zp * b_zp)
    np.testing.assert_array_equal(acc, [[11475, -778, 31402], [-26914, -11872, 7513]])
    multiplier = float(a_scale) * float(b_scale) / float(y_scale)
    assert multiplier == pytest.approx(0.0043486, rel=1e-4)
    out = requantize(acc, None, multiplier, y_zp, out_bits=8, signed=False)
    np.testing.assert_array_equal(out, [[168, 115, 255], [1, 66, 151]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_gemmlowp_test_with_small_data(backend):
    """gemmlowp test/test.cc TestWithSmallData: offsets 0, multiplier 1, shift 0."""
    lhs = np.array([[7, 8, 9], [10, 11, 12], [13, 14, 15], [16, 17, 18]], dtype=np.uint8)  # m=4, k=3
    rhs = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.uint8)  # k=3, n=2
    acc = int_matmul(lhs, rhs, AccumulatorSpec(32, "wrap"), backend).values
    out = requantize(acc, None, 1.0, 0, out_bits=8, signed=False)
    np.testing.assert_array_equal(out.ravel(), [76, 100, 103, 136, 130, 172, 157, 208])


@pytest.mark.parametrize("backend", BACKENDS)
def test_x86_int16_pair_saturation(backend):
    """vpmaddubsw: u8 x s8 pairs summed into a saturating int16: 211*71 + 171*107 = 33278 -> 32767."""
    x = np.array([[211, 171]], dtype=np.uint8)
    w = np.array([[71], [107]], dtype=np.int8)
    sat = int_matmul(x, w, AccumulatorSpec(16, "saturate"), backend)
    assert sat.values.tolist() == [[32767]] and sat.overflows.tolist() == [[1]]
    wrapped = int_matmul(x, w, AccumulatorSpec(16, "wrap"), backend)
    assert wrapped.values.tolist() == [[33278 - 65536]] and wrapped.overflows.tolist() == [[1]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_multi_stage_hand_computed(backend):
    """K=5, T=2, 4-bit saturating inner, 5-bit saturating outer, worked by hand.

    products 7, 7, 7, -8, 7 (inner range [-8, 7]): tile 1: 7, 14 clamps to 7 (1 overflow),
    outer 7; tile 2: 7, -1, outer 6; tile 3: 7, outer 13, inside the 5-bit range [-16, 15].
    """
    x = np.array([[1, 1, 1, 1, 1]], dtype=np.int8)
    w = np.array([[7], [7], [7], [-8], [7]], dtype=np.int8)
    res = int_matmul(x, w, AccumulatorSpec(4, "saturate", tile=2, outer_bits=5), backend)
    assert res.values.tolist() == [[13]] and res.overflows.tolist() == [[1]]
    res = int_matmul(x, w, AccumulatorSpec(4, "saturate", tile=2, outer_bits=4), backend)
    # outer 4-bit: 7, then 7 + -1 = 6, then 6 + 7 = 13 > 7 clamps (second overflow).
    assert res.values.tolist() == [[7]] and res.overflows.tolist() == [[2]]
