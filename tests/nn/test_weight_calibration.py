"""GPTQ / GPFQ / AXE over a whole model: order, Hessians under the earlier quantized layers, cache."""

import pytest
import torch

pytest.importorskip("transformers")

import stamp_sim.nn.weight_calibration as wc  # noqa: E402
from stamp_sim.config import get_preset  # noqa: E402
from stamp_sim.models.tiny import tiny_llama  # noqa: E402
from stamp_sim.nn import calibrate_weights, quantize_model, restore_model  # noqa: E402


def _batches(n=2, tokens=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [{"input_ids": torch.randint(0, 512, (1, tokens), generator=g)} for _ in range(n)]


def _forward(model):
    return lambda batch: model(**batch, use_cache=False)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STAMP_SIM_CACHE", str(tmp_path))
    return tmp_path


def test_each_hessian_comes_from_inputs_under_the_earlier_quantized_layers(cache, monkeypatch):
    """Oracle: after calibration every layer is final, so one plain forward of the quantized
    model (no replay, no early stop; weights quantized, activations float) sees each layer's
    input exactly as calibration saw it."""
    model = tiny_llama()
    seen = {}
    real = wc.quantize_group_from_hessian

    def record(group, hessian):
        seen.update({layer.layer_name: hessian.clone() for layer in group})
        return real(group, hessian)

    monkeypatch.setattr(wc, "quantize_group_from_hessian", record)
    layers = quantize_model(model, get_preset("w4a8").replace(weight_method="gptq"))
    batches = _batches()
    calibrate_weights(model, layers, batches, _forward(model), use_cache=False)
    assert list(seen) == list(layers)  # every layer, in model order
    for name in ("model.layers.1.self_attn.q_proj", "model.layers.1.mlp.down_proj", "model.layers.0.mlp.up_proj"):
        layer = layers[name]
        hessian = torch.zeros_like(seen[name])

        def capture(module, args, hessian=hessian):
            x = module.feature.transform_activations(args[0].double())
            rows, first = x.reshape(-1, x.shape[-1]), x[:, 0, :]
            # returns None: the layer's input is left as it is; the sink token counts 64 times
            hessian.add_(rows.T @ rows + 63.0 * first.T @ first)

        handle = layer.register_forward_pre_hook(capture)
        with torch.no_grad(), wc.weights_only(model):
            for batch in batches:
                _forward(model)(batch)
        handle.remove()
        torch.testing.assert_close(seen[name], hessian, rtol=1e-9, atol=1e-9)
    restore_model(model)


def test_calibrated_weights_are_cached_and_reused(cache):
    model = tiny_llama()
    cfg = get_preset("w4a8").replace(weight_method="gpfq")
    layers = quantize_model(model, cfg)
    key = calibrate_weights(model, layers, _batches(), _forward(model))
    first = {n: m.quantized_weight().clone() for n, m in layers.items()}
    assert (cache / "weights" / f"{key}.pt").is_file()
    stored = torch.load(cache / "weights" / f"{key}.pt", weights_only=True)
    assert all(v["q"].dtype == torch.int8 for v in stored.values())  # codes, not float64 copies
    layers = quantize_model(model, cfg.replace(name="renamed", accumulator=None))  # same weights: same key
    assert calibrate_weights(model, layers, _batches(), _forward(model)) == key
    assert all(torch.equal(first[n], m.quantized_weight()) for n, m in layers.items())
    other = quantize_model(model, cfg)
    assert calibrate_weights(model, other, _batches(seed=1), _forward(model)) != key  # other calibration data
    restore_model(model)


@pytest.mark.parametrize("preset", ["w4a8", "w4a4-hadamard-stamp"])
def test_gptq_lowers_each_layers_output_error_on_its_calibration_inputs(cache, preset):
    """GPTQ's objective, checked at model level: summed over the layers, ||X R (R^T W)^T - X R Q^T||^2
    on the captured calibration inputs is below round to nearest, also under a Hadamard
    rotation R with STaMP on the activations."""
    model = tiny_llama()
    batches = _batches(n=3, tokens=48)
    errors = {}
    for method in ("rtn", "gptq"):
        layers = quantize_model(model, get_preset(preset).replace(weight_method=method, gptq_sink_weight=1.0))
        calibrate_weights(model, layers, batches, _forward(model), use_cache=False)
        total = 0.0
        for layer in layers.values():
            xs = []
            h = layer.register_forward_pre_hook(lambda m, a, xs=xs: xs.append(a[0].double()))
            with torch.no_grad(), wc.weights_only(model):
                for batch in batches:
                    _forward(model)(batch)
            h.remove()
            x = layer.feature.transform_activations(torch.cat([t.reshape(-1, t.shape[-1]) for t in xs]))
            w = layer.transformed_weight().double()
            total += float((x @ w.T - x @ layer.quantized_weight().double().T).pow(2).sum())
        errors[method] = total
        restore_model(model)
    assert errors["gptq"] < 0.8 * errors["rtn"], errors


def test_configs_that_differ_only_in_activations_share_weights(cache):
    """Calibration runs activations in float, so a STaMP config and its baseline (and any
    change of activation bits, sequence transform or K / V bits) calibrate the same weights
    under the same key; a change on the weight side gets a new key."""
    model = tiny_llama()
    base = get_preset("w4a4-quarot")
    keys, weights = {}, {}
    variants = {"base": base, "stamp": get_preset("w4a4-quarot-stamp"),
                "acts": base.replace(a_bits=8, high_rows=0, kv_bits=4),
                "damp": base.replace(gptq_damp=0.05), "group": base.replace(w_granularity="per-group", w_group_size=32)}
    for name, cfg in variants.items():
        layers = quantize_model(model, cfg)
        keys[name] = calibrate_weights(model, layers, _batches(), _forward(model))
        weights[name] = {n: m.quantized_weight().clone() for n, m in layers.items()}
        restore_model(model)
    assert keys["base"] == keys["stamp"] == keys["acts"]
    assert len({keys["base"], keys["damp"], keys["group"]}) == 3
    # and the shared weights are the ones a fresh calibration of the STaMP config computes
    layers = quantize_model(model, variants["stamp"])
    calibrate_weights(model, layers, _batches(), _forward(model), use_cache=False)
    assert all(torch.equal(weights["base"][n], m.quantized_weight()) for n, m in layers.items())
    restore_model(model)


@pytest.mark.parametrize("granularity", [{}, {"w_granularity": "per-group", "w_group_size": 16}])
def test_a_group_solved_as_one_weight_gives_each_layer_its_own_solve(granularity):
    """q, k and v share a Hessian and GPTQ treats rows independently: stacking them must give
    each layer the codes, scales and zero points of its own solve (float rounding of the lazy
    block update aside: at most a handful of codes may move by one)."""
    model = tiny_llama()
    layers = quantize_model(model, get_preset("w4a8").replace(weight_method="gptq", gptq_act_order=True,
                                                               **granularity))
    group = [layers[f"model.layers.0.self_attn.{p}_proj"] for p in "qkv"]
    x = torch.randn(200, group[0].linear.in_features, dtype=torch.float64)
    hessian = x.T @ x
    fused = wc.quantize_group_from_hessian(group, hessian)
    for layer, qt in zip(group, fused):
        alone = wc.quantize_from_hessian(layer, hessian)
        assert qt.q.shape == alone.q.shape and qt.shape == alone.shape
        assert torch.equal(qt.scale, alone.scale) and torch.equal(qt.zero_point, alone.zero_point)
        assert int((qt.q != alone.q).sum()) <= max(2, qt.q.numel() // 2000)
    restore_model(model)
