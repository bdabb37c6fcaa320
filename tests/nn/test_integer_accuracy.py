"""Which layers the evaluation runs through the integer kernels, and that both paths agree
where the accumulator provably cannot overflow."""

import pytest
import torch
from torch import nn

from stamp_sim.kernels import AccumulatorSpec
from stamp_sim.config import get_preset
from stamp_sim.config_eval import choose_paths
from stamp_sim.nn import StampLinear
from stamp_sim.nn.integer import can_overflow, integer_weight, worst_case_bits


def _layer(cfg, k=64, n=8, seed=0):
    torch.manual_seed(seed)
    return StampLinear(nn.Linear(k, n).double(), cfg, name="lin")


def test_worst_case_bits_hand_computed():
    # |x| <= 127, L1 <= 258: 32766 = 2^15 - 2 fits a 16-bit register, 32767 + 127 does not.
    assert worst_case_bits(258, 127) == 16
    assert worst_case_bits(259, 127) == 17
    assert worst_case_bits(0, 127) == 2


@pytest.mark.parametrize("bits, tile, expect", [(32, None, False), (12, None, True), (64, None, False),
                                                (16, 8, False), (16, None, True)])
def test_can_overflow_follows_the_l1_rule(bits, tile, expect):
    acc = AccumulatorSpec(bits=bits, mode="wrap", tile=tile, outer_bits=32 if tile else None)
    cfg = get_preset("w4a8").replace(accumulator=acc)
    layer = _layer(cfg, k=512)
    codes = integer_weight(layer)[0]
    l1_tile = int(abs(codes.astype(int)).reshape(codes.shape[0], -1, tile or 512).sum(-1).max())
    assert can_overflow(layer) == (127 * l1_tile > (1 << (bits - 1)) - 1) == expect


def test_exact_and_float_configs_never_overflow():
    assert not can_overflow(_layer(get_preset("w4a4").replace(accumulator=AccumulatorSpec(bits=64, mode="exact"))))
    assert not can_overflow(_layer(get_preset("fp")))


def test_both_paths_agree_to_float_rounding_where_no_overflow_occurs():
    cfg = get_preset("w4a4-stamp").replace(accumulator=AccumulatorSpec(bits=32, mode="wrap"))
    layer = _layer(cfg, k=96, n=40)
    x = torch.randn(2, 100, 96, dtype=torch.float64).cumsum(1) / 10
    assert not can_overflow(layer)
    fake = layer.fake_forward(x)
    layer.mode = "int"
    integer = layer(x)
    assert layer.stats.overflows == 0
    assert (integer - fake).abs().max() <= 1e-9 * fake.abs().max()


def test_choose_paths_puts_only_overflowing_layers_on_the_integer_path():
    wide = _layer(get_preset("w4a8"), seed=1)
    narrow = _layer(get_preset("w4a8").replace(accumulator=AccumulatorSpec(bits=10, mode="saturate")), seed=2)
    assert choose_paths({"wide": wide, "narrow": narrow}) == 1
    assert (wide.mode, narrow.mode) == ("fake", "int")


def test_an_overflowing_config_without_an_integer_path_is_refused():
    cfg = get_preset("w4a8").replace(w_granularity="per-group", w_group_size=16,
                                     accumulator=AccumulatorSpec(bits=10, mode="wrap"))
    with pytest.raises(ValueError, match="can overflow, but the integer path needs symmetric per-channel"):
        choose_paths({"lin": _layer(cfg)})


@pytest.mark.parametrize("method", ["rtn", "gptq"])
def test_an_accumulator_too_narrow_for_any_l1_budget_is_refused_with_the_minimum(method):
    """8-bit inputs into an 8-bit register leave no code at all: one line naming the width that would."""
    from stamp_sim.nn import calibrate_weights

    cfg = get_preset("w4a8").replace(accumulator=AccumulatorSpec(bits=8, mode="wrap"), weight_l1="a2q+",
                                     weight_method=method)
    layer = _layer(cfg)
    with pytest.raises(ValueError, match=r"lin: .*K=64 in-features at 8-bit signed inputs.*allowed: acc_bits >= 9"):
        if method == "rtn":
            layer.quantized_weight()
        else:
            x = torch.randn(1, 32, 64, dtype=torch.float64)
            calibrate_weights(layer, {"lin": layer}, [{"x": x}], lambda b: layer(b["x"]), use_cache=False)


def test_unknown_weight_method_and_l1_on_an_exact_accumulator_are_refused():
    from stamp_sim.config import ConfigError

    with pytest.raises(ConfigError, match=r"weight_method='optq' is not allowed; allowed: gpfq, gptq, rtn"):
        get_preset("w4a8").replace(weight_method="optq")
    with pytest.raises(ConfigError, match="exact accumulator bounds nothing"):
        get_preset("w4a8").replace(weight_l1="a2q", accumulator=AccumulatorSpec(bits=64, mode="exact"))
