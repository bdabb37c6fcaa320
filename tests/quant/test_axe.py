"""AXE (accumulator-aware GPTQ / GPFQ): every (channel, tile) meets its L1 budget in exact integers,
a matching accumulator never overflows on adversarial inputs while plain GPTQ does, and budgets
too small for one code are refused."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.kernels import AccumulatorSpec, int_matmul
from stamp_sim.quant import A2QConfig, gpfq_quantize, gptq_quantize, quantize
from stamp_sim.quant.a2q import max_partial_sum
from tests.quant._gpxq_data import layer, output_error
from tests.quant.test_a2q import adversarial_inputs

QUANTIZERS = {"gptq": gptq_quantize, "gpfq": gpfq_quantize}


def budgets_hold(q: torch.Tensor, cfg: A2QConfig) -> bool:
    """Integer check of the budgets A2QConfig.budget defines, per (channel, tile) and outer row."""
    qi = q.to(torch.int64).numpy()
    k = qi.shape[1]
    tile = cfg.tile or k

    def ok(block, bits):
        pos, neg = np.clip(block, 0, None).sum(1), np.clip(-block, 0, None).sum(1)
        used = np.maximum(pos, neg) if cfg.method == "a2q+" else pos + neg
        return bool((used <= cfg.budget(bits)).all())

    tiles_ok = all(ok(qi[:, t0 : t0 + tile], cfg.acc_bits) for t0 in range(0, k, tile))
    return tiles_ok and (cfg.outer_bits is None or ok(qi, cfg.outer_bits))


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    algo=st.sampled_from(sorted(QUANTIZERS)),
    w_bits=st.integers(2, 8),
    x_bits=st.integers(2, 8),
    x_signed=st.booleans(),
    acc_bits=st.integers(10, 20),
    method=st.sampled_from(["a2q", "a2q+"]),
    tile=st.one_of(st.none(), st.integers(3, 40)),
    outer_extra=st.one_of(st.none(), st.integers(0, 4)),
    act_order=st.booleans(),
)
def test_every_channel_and_tile_within_budget(seed, algo, w_bits, x_bits, x_signed, acc_bits, method, tile,
                                              outer_extra, act_order):
    w, _, h = layer(6, 80, seed)
    outer = None if tile is None or outer_extra is None else acc_bits + outer_extra
    cfg = A2QConfig(w_bits, acc_bits, x_bits, x_signed, method, tile, outer)
    if cfg.budget(acc_bits) < 1:
        with pytest.raises(ValueError, match="would be all zeros"):
            QUANTIZERS[algo](w, h, w_bits, budget=cfg, act_order=act_order)
        return
    qt = QUANTIZERS[algo](w, h, w_bits, budget=cfg, act_order=act_order)
    assert budgets_hold(qt.q, cfg)
    assert torch.equal(qt.q, qt.q.round()) and qt.q.abs().max() <= 2 ** (w_bits - 1) - 1
    # And the data-type view agrees: every tile's worst partial sum fits the inner register.
    t = tile or 80
    q = qt.q.to(torch.int64).numpy().T  # (K, out)
    for t0 in range(0, 80, t):
        assert (max_partial_sum(q[t0 : t0 + t], x_bits, x_signed) <= 2 ** (acc_bits - 1) - 1).all()


SPECS = [
    AccumulatorSpec(16, "wrap"),
    AccumulatorSpec(14, "wrap", tile=64),  # exact outer
    AccumulatorSpec(14, "wrap", tile=64, outer_bits=15),  # narrower outer: binds (4 tiles * 63 > 127)
    AccumulatorSpec(16, "saturate"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
@pytest.mark.parametrize("algo", sorted(QUANTIZERS))
@pytest.mark.parametrize("method", ["a2q", "a2q+"])
def test_end_to_end_no_overflow_where_plain_gptq_overflows(spec, algo, method):
    """8-bit signed inputs, 4-bit weights, K = 256: GPTQ's codes overflow the register on
    adversarial inputs; the same layer under AXE for that register never does."""
    w, x, h = layer(16, 256, 11, dtype=torch.float32)
    cfg = A2QConfig.from_accumulator(spec, w_bits=4, x_bits=8, x_signed=True, method=method)
    rng = np.random.default_rng(0)
    for qt, expect_overflow in ((gptq_quantize(w, h, 4), True), (QUANTIZERS[algo](w, h, 4, budget=cfg), False)):
        q = qt.q.to(torch.int64).numpy().T  # (K, N) as kernels take it
        xs = adversarial_inputs(q, 8, True, rng)
        res = int_matmul(xs, q.astype(np.int8), spec, x_bits=8, w_bits=4)
        assert (res.total_overflows > 0) == expect_overflow
        if not expect_overflow:
            np.testing.assert_array_equal(res.values, xs.astype(np.int64) @ q)


def test_axe_keeps_more_accuracy_than_zeroing_and_matches_rtn_when_loose():
    w, x, h = layer(16, 128, 12)
    loose = A2QConfig(w_bits=4, acc_bits=32, x_bits=8)
    for fn in QUANTIZERS.values():  # a budget that never binds changes nothing
        assert torch.equal(fn(w, h, 4, budget=loose).q, fn(w, h, 4).q)
    tight = A2QConfig(w_bits=4, acc_bits=16, x_bits=8)
    qt = gptq_quantize(w, h, 4, budget=tight)
    assert output_error(x, w, qt.dequantize()) < output_error(x, w, torch.zeros_like(w))
    assert (qt.q.abs().sum(1) > 0).all()


def test_budget_too_small_is_refused():
    w, _, h = layer(4, 96, 13)
    cfg = A2QConfig(w_bits=4, acc_bits=8, x_bits=8, x_signed=True)  # floor(127 / 128) = 0
    with pytest.raises(ValueError, match=r"K=96 in-features at 8-bit signed inputs.*acc_bits >= 9"):
        gptq_quantize(w, h, 4, budget=cfg)
    outer = A2QConfig(w_bits=4, acc_bits=12, x_bits=8, tile=32, outer_bits=8)
    with pytest.raises(ValueError, match=r"outer_bits=8 .*outer_bits >= 9"):
        gpfq_quantize(w, h, 4, budget=outer)


def test_budget_needs_symmetric_per_channel_and_matching_bits():
    w, _, h = layer(4, 32, 14)
    cfg = A2QConfig(w_bits=4, acc_bits=16, x_bits=8)
    with pytest.raises(ValueError, match="symmetric"):
        gptq_quantize(w, h, 4, symmetric=False, budget=cfg)
    with pytest.raises(ValueError, match="granularity"):
        gptq_quantize(w, h, 4, "per-group", group_size=8, budget=cfg)
    with pytest.raises(ValueError, match="w_bits"):
        gpfq_quantize(w, h, 5, budget=cfg)
    with pytest.raises(ValueError, match="A2QConfig"):
        gpfq_quantize(w, h, 4, budget=AccumulatorSpec(16, "wrap"))
    assert quantize(w, 4, "per-channel").q.shape == gptq_quantize(w, h, 4, budget=cfg).q.shape
