"""Properties of the accumulator arithmetic that hold whatever the operands (numba backend)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.kernels import AccumulatorSpec, int_matmul
from tests.kernels.conftest import random_operand, wrap


@st.composite
def operands(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    m, k, n = draw(st.integers(1, 6)), draw(st.integers(0, 300)), draw(st.integers(1, 12))
    x_bits, w_bits = draw(st.integers(2, 8)), draw(st.integers(2, 8))
    x = random_operand(rng, (m, k), x_bits, draw(st.booleans()))
    w = random_operand(rng, (k, n), w_bits, draw(st.booleans()))
    return x, w


FAST = settings(max_examples=40, deadline=None)


@FAST
@given(operands(), st.integers(2, 32))
def test_wrap_equals_exact_sum_mod_2p(xw, bits):
    x, w = xw
    exact = int_matmul(x, w, AccumulatorSpec(bits, "exact")).values
    np.testing.assert_array_equal(exact, x.astype(np.int64) @ w.astype(np.int64))
    wrapped = int_matmul(x, w, AccumulatorSpec(bits, "wrap")).values
    np.testing.assert_array_equal(wrapped, wrap(exact, bits))


@FAST
@given(operands(), st.integers(2, 20))
def test_wrap_count_is_number_of_adds_crossing_a_wrap_boundary(xw, bits):
    """Independent rule: add k wraps iff floor((S_k + 2^(P-1)) / 2^P) changes (S_k: exact prefix)."""
    x, w = xw
    got = int_matmul(x, w, AccumulatorSpec(bits, "wrap")).overflows
    prefix = np.cumsum(x.astype(np.int64)[:, :, None] * w.astype(np.int64)[None, :, :], axis=1)
    prefix = np.concatenate([np.zeros_like(prefix[:, :1]), prefix], axis=1)
    period = (prefix + (1 << (bits - 1))) // (1 << bits)
    np.testing.assert_array_equal(got, (np.diff(period, axis=1) != 0).sum(axis=1))


@FAST
@given(operands(), st.integers(2, 24), st.one_of(st.none(), st.integers(1, 40)), st.integers(2, 30))
def test_saturate_never_leaves_its_range(xw, bits, tile, outer_bits):
    x, w = xw
    spec = AccumulatorSpec(bits, "saturate", tile=tile, outer_bits=None if tile is None else outer_bits)
    values = int_matmul(x, w, spec).values
    final_bits = bits if tile is None else outer_bits
    assert values.min() >= -(1 << (final_bits - 1)) and values.max() <= (1 << (final_bits - 1)) - 1


@FAST
@given(operands(), st.sampled_from(["wrap", "saturate"]), st.integers(2, 24), st.one_of(st.none(), st.integers(1, 40)))
def test_no_overflow_means_exact_sum(xw, mode, bits, tile):
    x, w = xw
    exact = x.astype(np.int64) @ w.astype(np.int64)
    res = int_matmul(x, w, AccumulatorSpec(bits, mode, tile=tile))
    clean = res.overflows == 0
    np.testing.assert_array_equal(res.values[clean], exact[clean])


@FAST
@given(operands(), st.sampled_from(["wrap", "saturate"]))
def test_wide_enough_register_gives_exact_sum_and_no_overflow(xw, mode):
    """P_min = 1 + ceil(log2(V + 1)) with V = K * max|x| * max|w| (docs/METHODS.md section 2)."""
    x, w = xw
    v = x.shape[1] * int(np.abs(x.astype(np.int64)).max(initial=0)) * int(np.abs(w.astype(np.int64)).max(initial=0))
    p_min = max(2, 1 + int(np.ceil(np.log2(v + 1))))
    res = int_matmul(x, w, AccumulatorSpec(p_min, mode))
    assert res.total_overflows == 0
    np.testing.assert_array_equal(res.values, x.astype(np.int64) @ w.astype(np.int64))
