import copy

import numpy as np
import pytest
import torch
from torch import nn

from stamp_sim.config import get_preset
from stamp_sim.metrics import sqnr_db
from stamp_sim.nn import StampLinear, calibration, layer_stats, quantize_model, restore_model, stamp_layers
from stamp_sim.quant import fake_quantize
from stamp_sim.transforms import NotFittedError, sequence_transform
from tests.nn.tiny_transformer import TinyLM

# The reference STaMP layer: every token transformed (the presets keep the first one out).
STAMP = get_preset("w4a4-stamp").replace(sink_tokens=0)


def ar1(batch, tokens, d, rho=0.95, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(batch, tokens, d)
    noise = torch.randn(batch, tokens, d, generator=g) * (1 - rho**2) ** 0.5
    x[:, 0] = torch.randn(batch, d, generator=g)
    for t in range(1, tokens):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    return x


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TinyLM()


def test_wraps_every_linear_but_lm_head_and_keeps_weights(model):
    before = copy.deepcopy(model.state_dict())
    ids = torch.randint(0, 50, (2, 24))
    ref = model(ids)
    wrapped = quantize_model(model, STAMP)
    assert len(wrapped) == 2 * 7 and not any("lm_head" in n for n in wrapped)
    out = model(ids)
    assert out.shape == ref.shape and not torch.equal(out, ref)
    restore_model(model)
    assert not stamp_layers(model)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    torch.testing.assert_close(model(ids), ref)


def test_include_exclude_patterns(model):
    wrapped = quantize_model(model, get_preset("w8a8"), include=["*.mlp*", "*_proj"], exclude=["*.q_proj"])
    assert sorted({n.rsplit(".", 1)[1] for n in wrapped}) == ["down_proj", "gate_proj", "k_proj", "o_proj",
                                                               "up_proj", "v_proj"]
    with pytest.raises(ValueError, match="include"):
        quantize_model(model, get_preset("w8a8"), include=["nothing*"])


def test_fp_config_is_the_float_model(model):
    ids = torch.randint(0, 50, (1, 10))
    ref = model(ids)
    quantize_model(model, get_preset("fp"))
    torch.testing.assert_close(model(ids), ref)


def test_stamp_forward_equals_the_formula():
    """Y = L^-1 [Q(L X) Q(W)] + b, written out with the explicit transform matrix."""
    torch.manual_seed(1)
    lin = nn.Linear(16, 8).double()
    x = ar1(1, 100, 16).double()
    cfg = STAMP.replace(high_rows=8)
    layer = StampLinear(lin, cfg)
    L = torch.from_numpy(sequence_transform("dwt", levels=3).matrix(100))  # 104 x 104 (padded)
    lx = L @ torch.cat([x[0], torch.zeros(4, 16, dtype=torch.float64)])
    bits = torch.tensor([8] * 8 + [4] * 96)
    qx = fake_quantize(lx, bits, "per-token")
    qw = fake_quantize(lin.weight.detach(), 4, "per-token")
    expected = (L.T @ (qx @ qw.T))[:100] + lin.bias.detach()
    torch.testing.assert_close(layer(x)[0], expected, rtol=1e-10, atol=1e-10)


def test_one_token_skips_transform_and_uses_low_bits():
    torch.manual_seed(2)
    lin = nn.Linear(16, 8)
    x = torch.randn(3, 1, 16)
    layer = StampLinear(lin, STAMP)
    expected = fake_quantize(x, 4, "per-token") @ fake_quantize(lin.weight.detach(), 4, "per-token").T + lin.bias
    torch.testing.assert_close(layer(x), expected)


def test_short_sequence_uses_fewer_levels():
    layer = StampLinear(nn.Linear(8, 8), STAMP)
    assert layer.seq_for(5).levels == 2 and layer.seq_for(1) is None and layer.seq_for(64).levels == 3
    assert layer(torch.randn(1, 5, 8)).shape == (1, 5, 8)
    # db2 has 4 taps: dwt_max_level(n, 4) = floor(log2(n // 3)), 0 (no transform) below 6 tokens.
    db2 = StampLinear(nn.Linear(8, 8), STAMP.replace(wavelet="db2"))
    assert db2.seq_for(5) is None and db2.seq_for(12).levels == 2 and db2.seq_for(24) is db2.seq
    assert db2(torch.randn(1, 5, 8)).shape == (1, 5, 8)


def test_transforms_are_built_from_what_they_declare_and_none_is_a_transform():
    from stamp_sim.transforms import DCT, HadamardRotation, NoFeatureTransform

    cfg = get_preset("w4a4-hadamard-stamp").replace(sink_tokens=0, hadamard_seed=4, seq_levels=2, wavelet="db2")
    layer = StampLinear(nn.Linear(8, 8), cfg, grid=(3, 3))
    assert layer.feature == HadamardRotation(seed=4) and (layer.seq.levels, layer.seq.wavelet) == (2, "db2")
    plain = StampLinear(nn.Linear(8, 8), get_preset("w4a4").replace(seq_transform="dct"), grid=(3, 3))
    assert isinstance(plain.feature, NoFeatureTransform) and plain.seq == DCT()
    x = torch.randn(1, 6, 8)
    torch.testing.assert_close(plain.transform_input(x)[0], plain.seq.forward(x))


def test_a_new_sequence_transform_is_one_new_class(monkeypatch):
    """Registering a transform is all it takes: PrecisionConfig accepts its name and
    StampLinear builds it with the config parameters it declares."""
    from dataclasses import dataclass

    from stamp_sim.config import PrecisionConfig
    from stamp_sim.transforms import SequenceTransform
    from stamp_sim.transforms._registry import SEQUENCE_TRANSFORMS

    @dataclass(frozen=True)
    class Reverse(SequenceTransform):  # L = the exchange matrix, orthonormal
        levels: int = 1

        def padded_length(self, tokens):
            return tokens

        def approx_rows(self, tokens):
            return 1

        def _forward_padded(self, t):
            return t.flip(-2)

        _inverse_padded = _forward_padded

    Reverse.name = "reverse"
    monkeypatch.setitem(SEQUENCE_TRANSFORMS._classes, "reverse", Reverse)
    cfg = PrecisionConfig.from_dict({"extends": "w4a4-stamp", "name": "rev", "seq_transform": "reverse", "sink_tokens": 0,
                                     "seq_levels": 2})
    layer = StampLinear(nn.Linear(8, 8), cfg)
    assert layer.seq == Reverse(levels=2)
    x = torch.randn(1, 6, 8)
    assert torch.equal(layer.transform_input(x)[0], x.flip(-2))


def test_stamp_beats_first_k_on_correlated_tokens():
    torch.manual_seed(3)
    lin = nn.Linear(64, 64, bias=False)
    x = ar1(2, 256, 64)
    ref = lin(x)
    err = {}
    for name in ("w4a4", "w4a4-first64", "w4a4-stamp"):
        cfg = get_preset(name)
        layer = StampLinear(lin, cfg.replace(w_bits=None, high_rows=min(cfg.high_rows, 32)))
        layer.record_stats = True
        err[name] = sqnr_db(ref, layer(x))
        assert layer.stats.sqnr_db == pytest.approx(sqnr_db(x, _dequant_input(layer, x)), rel=1e-6)
    assert err["w4a4-stamp"] > err["w4a4-first64"] + 3
    assert err["w4a4-first64"] > err["w4a4"]


def _dequant_input(layer, x):
    z, seq = layer.transform_input(x)
    zq = layer.quantize_input(z, layer.row_bits(z, seq is not None)).dequantize()
    return seq.inverse(zq, tokens=x.shape[-2]) if seq is not None else zq


def test_layer_stats_table(model):
    quantize_model(model, STAMP)
    for m in stamp_layers(model).values():
        m.record_stats = True
    model(torch.randint(0, 50, (2, 128)))
    df = layer_stats(model)
    assert list(df.columns)[:4] == ["layer", "in_features", "out_features", "calls"]
    assert (df.calls == 1).all() and np.isfinite(df.act_sqnr_db).all()
    assert (df.avg_a_bits == (64 * 8 + 64 * 4) / 128).all()


def test_klt_and_smoothquant_calibrate(model):
    ids = torch.randint(0, 50, (2, 32))
    ref = model(ids)
    for cfg in (STAMP.replace(name="klt", seq_transform="klt"),
                get_preset("w4a8").replace(name="sq", feature_transform="smoothquant")):
        quantize_model(model, cfg)
        with pytest.raises(NotFittedError):
            model(ids)
        with calibration(model):
            torch.testing.assert_close(model(ids), ref)  # float while calibrating
        assert sqnr_db(ref, model(ids)) > 5


def test_hadamard_preserves_the_float_product():
    lin = nn.Linear(48, 8)
    cfg = get_preset("w4a4-hadamard").replace(w_bits=None, a_bits=None)
    layer = StampLinear(lin, cfg)
    x = torch.randn(1, 10, 48)
    torch.testing.assert_close(layer.feature.transform_activations(x) @ layer.transformed_weight().T, x @ lin.weight.T,
                               rtol=1e-5, atol=1e-5)


def test_bad_layer_inputs():
    with pytest.raises(ValueError, match="linear is"):
        StampLinear(nn.Conv1d(2, 2, 1), get_preset("w4a4"))
    layer = StampLinear(nn.Linear(8, 8), get_preset("w4a4"))
    with pytest.raises(ValueError, match="shape"):
        layer(torch.randn(1, 2, 3, 8))
    bad = torch.randn(1, 4, 8)
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        layer(bad)
    with pytest.raises(ValueError, match="grid"):
        StampLinear(nn.Linear(8, 8), STAMP.replace(seq_transform="dwt2d"))


@pytest.mark.parametrize("method", ["a2q", "a2q+"])
def test_accumulator_aware_weights_never_overflow_in_the_integer_path(method):
    from stamp_sim.kernels import AccumulatorSpec

    torch.manual_seed(4)
    lin = nn.Linear(96, 24)
    acc = AccumulatorSpec(12, "saturate", tile=32, outer_bits=16)
    cfg = STAMP.replace(high_rows=8, accumulator=acc, weight_l1=method)
    layer = StampLinear(lin, cfg)
    codes, _ = layer.weight_codes()
    # Adversarial input: every token pushes each feature to the extreme, signed like the weights.
    x = torch.sign(lin.weight.detach()[:1]).repeat(1, 40, 1) * 100.0
    x = x.unsqueeze(0) if x.dim() == 2 else x
    layer.mode = "int"
    layer(x)
    assert layer.stats.overflows == 0 and layer.stats.outputs > 0
    plain = StampLinear(lin, cfg.replace(weight_l1="none"))
    plain.mode = "int"
    plain(x)
    assert plain.stats.overflows > 0  # the same accumulator does overflow without the bound
    assert codes.abs().max() <= 7


def test_layer_statistics_do_not_depend_on_the_thread_count():
    """layers.csv's act_sqnr_db carries the same bits in a 1-thread Dask worker and here."""
    torch.manual_seed(0)
    lin = nn.Linear(512, 8)
    x = torch.randn(4, 1024, 512) * torch.logspace(0, 3, 512)
    threads, stats = torch.get_num_threads(), []
    try:
        for n in (1, 4):
            torch.set_num_threads(n)
            layer = StampLinear(copy.deepcopy(lin), get_preset("w4a4"))
            layer.record_stats = True
            layer(x)
            stats.append((layer.stats.signal, layer.stats.noise))
    finally:
        torch.set_num_threads(threads)
    assert stats[0] == stats[1]
    assert stats[0][0] == pytest.approx(float(np.square(x.double().numpy()).sum()), rel=1e-12)
