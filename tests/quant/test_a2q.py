"""A2Q / A2Q+ weight quantization: the budgets hold, and a matching accumulator never overflows."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.kernels import AccumulatorSpec, int_matmul
from stamp_sim.quant.a2q import (
    A2QConfig,
    a2q_l1_bound,
    a2q_plus_l1_bound,
    a2q_quantize,
    max_partial_sum,
)


def _x_range(bits, signed):
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def adversarial_inputs(q: np.ndarray, x_bits: int, x_signed: bool, rng) -> np.ndarray:
    """Rows that drive every channel (and every tile of it) to its extremes, plus random rows.

    For channel n: x_k at the range end with the sign of q_kn (largest sums) and the opposite
    (smallest sums); all-max, all-min and alternating rows; uniform random rows.
    """
    lo, hi = _x_range(x_bits, x_signed)
    rows = [np.where(q[:, n] > 0, hi, lo) for n in range(q.shape[1])]
    rows += [np.where(q[:, n] > 0, lo, hi) for n in range(q.shape[1])]
    k = q.shape[0]
    rows += [np.full(k, hi), np.full(k, lo), np.where(np.arange(k) % 2 == 0, hi, lo)]
    rows += list(rng.integers(lo, hi + 1, size=(8, k)))
    return np.array(rows).astype(np.int16 if x_signed else np.uint16)


def test_bounds_known_values():
    assert a2q_l1_bound(16, 8, True) == pytest.approx(32767 / 128)
    assert a2q_l1_bound(16, 8, False) == pytest.approx(32767 / 256)
    assert a2q_plus_l1_bound(16, 8) == pytest.approx(65534 / 255)
    # The A2Q+ budget per sign part, doubled, never exceeds the A2Q+ bound.
    for p in range(8, 33):
        for n in range(2, 9):
            assert 2 * A2QConfig(acc_bits=p, x_bits=n, method="a2q+").budget(p) <= a2q_plus_l1_bound(p, n)


def test_signed_full_range_input_makes_the_a2q_budget_tight():
    """x = -2^(N-1) exists in the full signed range; the A2Q budget is exactly the largest safe L1.

    P=16, N=8 signed: C = floor(32767 * 2^(1-8)) = 255. q = -1 on C rows with x = -128 sums to
    32640 (fits); one row more sums to 32768, one past INT16_MAX.
    """
    c = A2QConfig(acc_bits=16, x_bits=8, x_signed=True).budget(16)
    assert c == 255
    for rows, overflows in ((c, 0), (c + 1, 1)):
        q = np.full((rows, 1), -1, dtype=np.int8)
        x = np.full((1, rows), -128, dtype=np.int8)
        assert max_partial_sum(q, 8, True)[0] == 128 * rows
        assert int_matmul(x, q, AccumulatorSpec(16, "saturate")).total_overflows == overflows


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    k=st.integers(1, 200),
    n=st.integers(1, 6),
    w_bits=st.integers(2, 8),
    x_bits=st.integers(2, 8),
    x_signed=st.booleans(),
    acc_bits=st.integers(8, 20),
    method=st.sampled_from(["a2q", "a2q+"]),
    tile=st.one_of(st.none(), st.integers(1, 64)),
    mode=st.sampled_from(["wrap", "saturate"]),
)
def test_matching_accumulator_never_overflows(seed, k, n, w_bits, x_bits, x_signed, acc_bits, method, tile, mode):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((k, n)) * rng.uniform(0.1, 3.0, size=n)
    outer_bits = None
    if tile is not None and k > tile:  # P_O = P_I + ceil(log2(number of tiles)) (docs/METHODS.md section 2)
        outer_bits = acc_bits + int(np.ceil(np.log2(-(-k // tile))))
    cfg = A2QConfig(w_bits, acc_bits, x_bits, x_signed, method, tile, outer_bits)
    res = a2q_quantize(w, cfg)
    q = res.q.astype(np.int64)
    cap = (1 << (w_bits - 1)) - 1
    assert np.abs(q).max(initial=0) <= cap and res.scale.shape == (n,)
    # The budgets hold on every (tile, channel).
    t = k if tile is None else tile
    for t0 in range(0, k, t):
        block = q[t0 : t0 + t]
        assert (max_partial_sum(block, x_bits, x_signed) <= (1 << (acc_bits - 1)) - 1).all()
    # And the simulated accumulator agrees: not one overflow on adversarial and random inputs.
    x = adversarial_inputs(q, x_bits, x_signed, rng)
    spec = AccumulatorSpec(acc_bits, mode, tile=tile, outer_bits=outer_bits)
    out = int_matmul(x, q.astype(np.int8), spec, x_bits=x_bits)
    assert out.total_overflows == 0
    np.testing.assert_array_equal(out.values, x.astype(np.int64) @ q)


def test_without_the_projection_the_same_inputs_overflow():
    """The adversarial test has teeth: plain round-to-nearest weights do overflow it."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((256, 4))
    cfg = A2QConfig(w_bits=4, acc_bits=14, x_bits=8, x_signed=False, method="a2q")
    cap = 7
    rtn = np.clip(np.rint(w / (np.abs(w).max(axis=0) / cap)), -cap, cap).astype(np.int8)
    x = adversarial_inputs(rtn.astype(np.int64), 8, False, rng)
    assert int_matmul(x, rtn, AccumulatorSpec(14, "saturate"), x_bits=8).total_overflows > 0
    q = a2q_quantize(w, cfg).q
    assert int_matmul(x, q, AccumulatorSpec(14, "saturate"), x_bits=8).total_overflows == 0
    assert (np.abs(q.astype(np.int64)).sum(axis=0) <= cfg.budget(14)).all()


def test_projection_keeps_weights_close_and_rtn_when_within_budget():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((64, 8))
    loose = a2q_quantize(w, A2QConfig(w_bits=8, acc_bits=32, x_bits=8))
    cap = 127
    np.testing.assert_array_equal(loose.q, np.clip(np.rint(w / (np.abs(w).max(axis=0) / cap)), -cap, cap))
    tight = a2q_quantize(w, A2QConfig(w_bits=8, acc_bits=16, x_bits=8, x_signed=False))
    budget = A2QConfig(w_bits=8, acc_bits=16, x_bits=8, x_signed=False).budget(16)
    assert (np.abs(tight.q.astype(np.int64)).sum(axis=0) == budget).all()  # budget used in full
    # The projection shrinks toward zero: no sign flips, no magnitude growth.
    assert (np.sign(tight.q) * np.sign(loose.q) >= 0).all()
    assert (np.abs(tight.q.astype(np.int64)) <= np.abs(loose.q.astype(np.int64))).all()


def test_a2q_plus_budgets_each_sign_part():
    rng = np.random.default_rng(2)
    w = np.abs(rng.standard_normal((128, 3)))  # all positive: the unbalanced case
    cfg = A2QConfig(w_bits=6, acc_bits=16, x_bits=8, x_signed=True, method="a2q+")
    q = a2q_quantize(w, cfg).q.astype(np.int64)
    assert (np.where(q > 0, q, 0).sum(axis=0) <= cfg.budget(16)).all()
    assert (max_partial_sum(q, 8, True) <= 32767).all()


def test_torch_weights_and_from_accumulator():
    torch = pytest.importorskip("torch")
    w = torch.randn(96, 5, generator=torch.Generator().manual_seed(0))
    acc = AccumulatorSpec(12, "saturate", tile=32, outer_bits=14)
    cfg = A2QConfig.from_accumulator(acc, w_bits=4, x_bits=4, x_signed=True, method="a2q+")
    assert (cfg.acc_bits, cfg.tile, cfg.outer_bits) == (12, 32, 14)
    res = a2q_quantize(w, cfg)
    assert isinstance(res.q, torch.Tensor) and res.q.dtype == torch.int8 and res.scale.dtype == torch.float32
    np.testing.assert_array_equal(res.q.numpy(), a2q_quantize(w.double().numpy(), cfg).q)
    assert torch.allclose(res.dequantize(), res.q.float() * res.scale)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(w_bits=9), "w_bits"),
        (dict(acc_bits=1), "acc_bits"),
        (dict(x_bits=0), "x_bits"),
        (dict(method="a3q"), "method"),
        (dict(outer_bits=16), "outer_bits needs a tile"),
        (dict(tile=0), "tile"),
    ],
)
def test_config_errors_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        A2QConfig(**kwargs)


def test_quantize_rejects_bad_weights():
    cfg = A2QConfig()
    with pytest.raises(ValueError, match="floats"):
        a2q_quantize(np.ones((3, 2), dtype=np.int8), cfg)
    with pytest.raises(ValueError, match="2-D"):
        a2q_quantize(np.ones(3), cfg)
    with pytest.raises(ValueError, match="non-finite"):
        a2q_quantize(np.array([[np.nan]]), cfg)
    with pytest.raises(ValueError, match="exact"):
        A2QConfig.from_accumulator(AccumulatorSpec(16, "exact"), 4, 8, True)
