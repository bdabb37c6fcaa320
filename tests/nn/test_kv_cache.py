"""K / V cache quantization (stamp_sim.nn.kv_cache) and the attention-sink option."""


import pytest
import torch

from stamp_sim.config import ConfigError, PrecisionConfig
from stamp_sim.models.tiny import synthetic_token_ids, tiny_llama
from stamp_sim.nn import quantize_model, restore_model
from stamp_sim.nn.kv_cache import KVQuantizer, install_kv_quantization, kv_stats, remove_kv_quantization
from stamp_sim.nn.linear import StampLinear
from stamp_sim.quant import quantize


@pytest.fixture(scope="module")
def tiny():
    model = tiny_llama()
    ids = torch.as_tensor(synthetic_token_ids(2 * 64)).reshape(2, 64)
    return model, ids, model(ids).logits


def _logits_with(model, ids, cfg):
    install_kv_quantization(model, cfg)
    try:
        return model(ids).logits, {n: s.sqnr_db for n, s in kv_stats(model).items()}
    finally:
        remove_kv_quantization(model)


def test_kv4_changes_the_logits_and_restoring_gives_the_float_model_back(tiny):
    model, ids, ref = tiny
    out, sqnr = _logits_with(model, ids, PrecisionConfig(kv_bits=4))
    assert (out - ref).abs().max() > 1e-2
    assert len(sqnr) == 2 and all(10 < v < 40 for v in sqnr.values())
    assert torch.equal(model(ids).logits, ref)
    assert model.config._attn_implementation == "sdpa"


def test_kv16_round_trips_to_the_float_logits(tiny):
    model, ids, ref = tiny
    out, sqnr = _logits_with(model, ids, PrecisionConfig(kv_bits=16))
    assert torch.allclose(out, ref, atol=1e-3, rtol=0)
    assert all(v > 80 for v in sqnr.values())


def test_more_kv_bits_less_error(tiny):
    model, ids, ref = tiny
    errs = [float((_logits_with(model, ids, PrecisionConfig(kv_bits=b))[0] - ref).pow(2).mean()) for b in (3, 4, 6, 8)]
    assert errs == sorted(errs, reverse=True)


def test_quantize_model_installs_and_restore_model_removes(tiny):
    model, ids, ref = tiny
    quantize_model(model, PrecisionConfig(kv_bits=4))
    try:
        assert len(kv_stats(model)) == 2
        assert not torch.equal(model(ids).logits, ref)
    finally:
        restore_model(model)
    assert kv_stats(model) == {}
    assert torch.equal(model(ids).logits, ref)


def test_stamp_kv_high_rows_and_average_bits():
    cfg = PrecisionConfig(a_bits=4, kv_bits=4, high_rows=64, seq_transform="dwt")
    assert cfg.average_kv_bits(2048) == 4.125
    q = KVQuantizer(cfg)
    x = torch.randn(1, 2, 2048, 16, dtype=torch.float64)
    q(x)
    assert q.stats.avg_bits == 4.125
    assert PrecisionConfig(kv_bits=4).average_kv_bits(2048) == 4.0
    assert PrecisionConfig().average_kv_bits(2048) is None


def test_stamp_along_the_cache_beats_first_tokens_on_smooth_keys():
    # Keys that vary slowly along the tokens: the DWT concentrates them in its first rows.
    t = torch.linspace(0, 1, 256, dtype=torch.float64)
    x = (torch.sin(6 * t)[:, None] * torch.randn(1, 32, dtype=torch.float64)
         + 0.05 * torch.randn(256, 32, dtype=torch.float64))[None, None]
    base = KVQuantizer(PrecisionConfig(a_bits=4, kv_bits=4, high_rows=32))
    stamp = KVQuantizer(PrecisionConfig(a_bits=4, kv_bits=4, high_rows=32, seq_transform="dwt"))
    base(x), stamp(x)
    assert stamp.stats.sqnr_db > base.stats.sqnr_db + 1.0


def test_sink_row_is_its_own_high_bit_quantization_in_a_linear_layer():
    torch.manual_seed(0)
    linear = torch.nn.Linear(32, 8, bias=False).double()
    cfg = PrecisionConfig(w_bits=None, a_bits=4, high_rows=8, seq_transform="dwt", sink_tokens=1)
    layer = StampLinear(linear, cfg)
    x = torch.randn(2, 64, 32, dtype=torch.float64)
    x[:, 0] *= 50  # a sink: one huge token
    z, seq = layer.transform_input(x)
    zq = layer.quantize_input(z, layer.row_bits(z, seq is not None)).dequantize()
    back = seq.inverse(zq, tokens=64)
    own = quantize(x[:, :1], 8, "per-token").dequantize()
    assert torch.equal(back[:, 0], own[:, 0])
    # Without the sink option the huge token is spread over the approximation band.
    plain = StampLinear(linear, cfg.replace(sink_tokens=0))
    z2, seq2 = plain.transform_input(x)
    back2 = seq2.inverse(plain.quantize_input(z2, plain.row_bits(z2, True)).dequantize(), tokens=64)
    assert not torch.equal(back2[:, 0], own[:, 0])


def test_sink_row_is_its_own_high_bit_quantization_in_the_cache():
    cfg = PrecisionConfig(a_bits=4, kv_bits=4, high_rows=8, seq_transform="dwt", sink_tokens=1)
    x = torch.randn(1, 2, 64, 16, dtype=torch.float64)
    back = KVQuantizer(cfg)(x)
    assert torch.equal(back[..., 0, :], quantize(x[..., :1, :], 8, "per-token").dequantize()[..., 0, :])


@pytest.mark.parametrize("bad, field", [
    (dict(kv_bits=1), "kv_bits"), (dict(kv_bits="4"), "kv_bits"),
    (dict(sink_tokens=2, high_rows=1), "sink_tokens"), (dict(sink_tokens=-1), "sink_tokens"),
    (dict(sink_tokens=1, high_rows=8, allocation="energy"), "sink_tokens"),
])
def test_bad_kv_and_sink_fields_are_refused_by_name(bad, field):
    with pytest.raises(ConfigError, match=field):
        PrecisionConfig(**bad)


def test_kv_bits_on_a_model_without_an_attention_interface_is_refused():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    model.config = type("C", (), {"_attn_implementation": "sdpa"})()
    with pytest.raises(ValueError, match="kv_bits"):
        install_kv_quantization(model, PrecisionConfig(kv_bits=4))
    assert install_kv_quantization(model, PrecisionConfig()) == {}


def test_preflight_refuses_kv_bits_on_a_model_without_attention_before_any_work():
    from stamp_sim.models.registry import LoadedModel, ModelKind
    from stamp_sim.preflight import _kv_problems

    plain = LoadedModel("x", ModelKind.ENCODER, torch.nn.Sequential(torch.nn.Linear(4, 4)), None, None, None, "", "")
    llama = LoadedModel("t", ModelKind.CAUSAL_LM, tiny_llama(), None, None, None, "", "")
    kv = PrecisionConfig(name="kv4", kv_bits=4)
    assert _kv_problems([kv, PrecisionConfig(name="plain")], plain) == [
        _kv_problems([kv], plain)[0]] and "kv4" in _kv_problems([kv], plain)[0]
    assert _kv_problems([kv], llama) == []
    assert _kv_problems([PrecisionConfig()], plain) == []
