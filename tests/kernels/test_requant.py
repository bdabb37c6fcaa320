"""TFLite / gemmlowp fixed-point requantization: edge cases and an independent rational model."""

from fractions import Fraction
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.kernels import multiply_by_quantized_multiplier, quantize_multiplier, requantize
from stamp_sim.kernels.requant import rounding_divide_by_pot, saturating_rounding_doubling_high_mul

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
int32s = st.integers(INT32_MIN, INT32_MAX)


def test_srdhm_int32_min_squared_saturates():
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == -INT32_MAX


def test_srdhm_ties_round_up_like_the_c_code():
    # a * b / 2^31 = +-0.5 and +-1.5: C truncation with the +-nudge rounds ties toward +inf.
    assert saturating_rounding_doubling_high_mul(1, 2**30) == 1
    assert saturating_rounding_doubling_high_mul(-1, 2**30) == 0
    assert saturating_rounding_doubling_high_mul(3, 2**30) == 2
    assert saturating_rounding_doubling_high_mul(-3, 2**30) == -1


def test_rdbpot_ties_round_away_from_zero():
    assert [rounding_divide_by_pot(v, 1) for v in (5, -5, 4, -4, 3, -3)] == [3, -3, 2, -2, 2, -2]
    assert rounding_divide_by_pot(-50, 2) == -13 and rounding_divide_by_pot(7, 0) == 7
    with pytest.raises(ValueError, match="exponent"):
        rounding_divide_by_pot(1, 32)


@settings(max_examples=300, deadline=None)
@given(int32s, int32s)
def test_srdhm_equals_rational_model(a, b):
    """Independent model: floor(a*b/2^31 + 1/2), except the saturating corner."""
    expected = INT32_MAX if a == b == INT32_MIN else math.floor(Fraction(a * b, 2**31) + Fraction(1, 2))
    assert saturating_rounding_doubling_high_mul(a, b) == expected


@settings(max_examples=300, deadline=None)
@given(int32s, st.integers(0, 31))
def test_rdbpot_equals_rational_model(x, e):
    q = Fraction(x, 2**e)
    expected = math.floor(abs(q) + Fraction(1, 2)) * (1 if x >= 0 else -1)
    assert rounding_divide_by_pot(x, e) == expected


def test_quantize_multiplier_known_values():
    assert quantize_multiplier(1.0) == (2**30, 1)
    assert quantize_multiplier(0.5) == (2**30, 0)
    assert quantize_multiplier(0.25) == (2**30, -1)
    assert quantize_multiplier(3.0) == (3 * 2**29, 2)
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(2.0**-40) == (0, 0)  # shift < -31 flushes to zero
    # q rounds up to 1.0: renormalized to 2^30 with shift + 1.
    assert quantize_multiplier(1.0 - 2.0**-40) == (2**30, 1)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=2.0**-30, max_value=2.0**20, allow_nan=False))
def test_quantize_multiplier_represents_m(m):
    m0, shift = quantize_multiplier(m)
    assert 2**30 <= m0 <= INT32_MAX
    assert abs(m0 * 2.0 ** (shift - 31) - m) <= m * 2.0**-30


def test_multiply_by_quantized_multiplier_negative_shifts():
    assert multiply_by_quantized_multiplier(100, *quantize_multiplier(0.25)) == 25
    assert multiply_by_quantized_multiplier(-100, 2**30, -2) == -13  # -12.5 rounds away from zero
    assert multiply_by_quantized_multiplier(1000, *quantize_multiplier(3.0)) == 3000
    assert multiply_by_quantized_multiplier(INT32_MIN, 0, 0) == 0


def test_multiply_by_quantized_multiplier_arrays_match_scalars():
    rng = np.random.default_rng(0)
    x = rng.integers(INT32_MIN, INT32_MAX, size=200)
    m0 = rng.integers(2**30, INT32_MAX, size=200)
    shift = rng.integers(-31, 8, size=200)
    got = multiply_by_quantized_multiplier(x, m0, shift)
    assert got.dtype == np.int64
    assert got.tolist() == [multiply_by_quantized_multiplier(int(a), int(b), int(c)) for a, b, c in zip(x, m0, shift)]


def test_requantize_per_channel_bias_and_clamp():
    acc = np.array([[100, 100, -100], [1000, -1000, 0]])
    bias = np.array([0, 10, 0])
    out = requantize(acc, bias, [0.5, 0.25, 0.5], zero_point=-3, out_bits=8, signed=True)
    # channel 0: 50 - 3, 500 - 3 -> 127; channel 1: (110 / 4 = 27.5 -> 28) - 3, (-990 / 4 = -247.5 -> -248) - 3
    # -> -128; channel 2: -50 - 3, 0 - 3.
    np.testing.assert_array_equal(out, [[47, 25, -53], [127, -128, -3]])
    assert requantize(np.array([300]), None, 1.0, 0, out_bits=4, signed=False).tolist() == [15]


def test_requantize_rejects_bad_arguments():
    with pytest.raises(ValueError, match="out_bits"):
        requantize(np.array([1]), None, 1.0, 0, out_bits=1)
    with pytest.raises(ValueError, match="multiplier"):
        requantize(np.zeros((2, 3), dtype=np.int32), None, [1.0, 2.0], 0)
    with pytest.raises(ValueError, match="acc"):
        requantize(np.array([2**31]), None, 1.0, 0)
    with pytest.raises(ValueError, match="acc"):
        requantize(np.array([1.5]), None, 1.0, 0)
    with pytest.raises(ValueError, match="multiplier"):
        quantize_multiplier(float("nan"))
    with pytest.raises(ValueError, match="shift"):
        multiply_by_quantized_multiplier(1, 2**30, 31)
