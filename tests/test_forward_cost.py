"""The whole-forward cost: its parts compose, the CLI's summary agrees with the table, and
benchmarks/published.py's calibrated profiles reproduce their calibration rows."""

import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from stamp_sim import hw_models
from stamp_sim.cli import main
from stamp_sim.config import get_preset
from stamp_sim.forward_cost import forward_summary, price_forward
from stamp_sim.models import workload
from stamp_sim.models.architecture import decoder_shape
from stamp_sim.pricing import kv_precision, price_config


def test_the_forward_is_the_linear_layers_plus_lm_head_plus_the_decoder_ops():
    tiny = hw_models.load_profile("tiny")
    cfg = get_preset("w4a4")
    table = price_forward("tiny-llama", cfg, tiny, "prefill", 32)
    work = workload("tiny-llama", 32)
    linear = price_config(work, cfg, [tiny], ["prefill"])
    head = workload("tiny-llama", 32, include_lm_head=True).query("kind == 'lm_head'").assign(tokens=1)
    head_cost = hw_models.price(head.reset_index(drop=True), {"h": hw_models.LayerPrecision()}, [tiny])
    rest = hw_models.price_decoder(decoder_shape("tiny-llama"), tiny, "prefill", 32, kv=kv_precision(cfg, 32))
    for col in ("latency_s", "energy_pj", "weight_bytes", "dram_bytes"):
        expected = linear[col].sum() + head_cost[col].sum() + rest[col].sum()
        assert table[col].sum() == pytest.approx(expected, rel=1e-12), col
    assert set(table.part) >= {"linear", "lm_head", "attention", "kv cache", "vector", "embedding"}
    assert table.iloc[0]["kind"] == "embedding" and table.iloc[-1]["kind"] == "lm_head"


def test_decode_reads_the_kv_cache_at_kv_bits():
    npu = hw_models.load_profile("npu")
    fp = get_preset("w4a4")
    kv4 = dataclasses.replace(fp, name="kv4", kv_bits=4)
    a = price_forward("smollm2-135m", fp, npu, "decode", context=2048)
    b = price_forward("smollm2-135m", kv4, npu, "decode", context=2048)
    att = lambda t: t[t.part == "attention"]["dram_bytes"].sum()  # noqa: E731
    assert att(b) < 0.4 * att(a)
    sa = forward_summary(a, "smollm2-135m")
    sb = forward_summary(b, "smollm2-135m")
    assert sb.kv_cache_bytes < 0.3 * sa.kv_cache_bytes and sb.latency_s < sa.latency_s


def _cells(output: str, first: str) -> dict:
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("config"))
    names = [h for h in lines[header].split("  ") if h.strip()]
    row = next(line for line in lines[header + 1:] if line.startswith(first))
    return dict(zip([n.strip() for n in names], [c.strip() for c in row.split("  ") if c.strip()]))


def test_cli_decode_ms_per_token_and_tokens_per_s_agree_and_the_csv_sums_to_them(tmp_path):
    out = tmp_path / "d.csv"
    result = CliRunner().invoke(main, ["cost", "--model", "tiny-llama", "--config", "w4a16", "--phase", "decode",
                                       "--context", "64", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "decode of one token at context 64" in result.output
    cells = _cells(result.output, "w4a16")
    ms, tps = float(cells["ms/token"]), float(cells["tokens/s"].replace(",", ""))
    assert tps == pytest.approx(1e3 / ms, rel=1e-3)
    table = pd.read_csv(out)
    assert table["latency_s"].sum() * 1e3 == pytest.approx(ms, rel=1e-3)
    assert {"latency_s", "energy_pj", "weight_bytes"} <= set(table.columns)


def test_cli_prefill_prints_time_to_first_token_and_peak_memory():
    result = CliRunner().invoke(main, ["cost", "--model", "tiny-llama", "--config", "w8a8", "--tokens", "48"])
    assert result.exit_code == 0, result.output
    cells = _cells(result.output, "w8a8")
    assert float(cells["TTFT (ms)"]) > 0
    assert float(cells["peak memory (MB)"]) > float(cells["weights (MB)"])
    assert "latency by part" in result.output
    bad = CliRunner().invoke(main, ["cost", "--model", "tiny-llama", "--context", "8"])
    assert bad.exit_code != 0 and "--context goes with --model and --phase decode" in bad.output


def _published():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "published.py"
    spec = importlib.util.spec_from_file_location("published", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["published"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_published_calibration_rows_are_reproduced_and_the_checks_are_within_25_percent():
    pub = _published()
    frame = pub.table()
    calib = frame[frame.calibrates != ""]
    # The shipped YAML values are the fitted ones: each calibration row is met.
    assert calib["error"].abs().max() < 0.01, calib[["key", "error"]]
    s = pub.summary(frame)
    assert s["checks"] >= 20
    assert s["median_abs_error"] < 0.25
    # Every row has a source, and the calibrated fields say so in their profile.
    assert frame["source"].str.len().min() > 10
    for _, row in calib.iterrows():
        assert hw_models.load_profile(row["hw"]).source(row["calibrates"]).startswith("calibrated:")


def test_tiny_llama_whole_forward_by_hand():
    """tiny-llama: hidden 64, MLP 128, 2 blocks, 4 heads of 16, 2 K / V heads, vocabulary 512, tied."""
    tiny = hw_models.load_profile("tiny")
    table = price_forward("tiny-llama", get_preset("fp"), tiny, "decode", context=31)
    # fp16 weights, the tied embedding counted once (on lm_head's row).
    per_block = 64 * 64 + 2 * (64 * 32) + 64 * 64 + 3 * (64 * 128)
    assert table["weight_bytes"].sum() == 2 * (2 * per_block + 512 * 64)
    # Decode at context 31: 32 keys; each block reads K and V of 32 tokens x 2 heads x 16 features in fp16.
    kv_read = table[table.part == "attention"]["kv_bytes"].sum()
    assert kv_read == 2 * 2 * (32 * 2 * 16 * 2)
    assert table[table.kind == "kv_write"]["kv_bytes"].sum() == 2 * (2 * 2 * 16 * 2)
    scores = table[table.kind == "scores"]
    assert (scores["macs"] == 1 * 32 * 4 * 16).all()  # 1 query x 32 keys x 4 heads x 16 features
    s = forward_summary(table, "tiny-llama")
    assert s.kv_cache_bytes == 2 * 2 * 32 * 2 * 16 * 2  # K and V, 2 blocks, 32 tokens, fp16


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2", "mistral", "qwen3", "gemma2", "phi3", "opt"])
def test_every_decoder_family_prices_a_whole_forward_from_its_config_json(tmp_path, family):
    import json

    from tests.models._local_fixtures import tiny_config

    config = tiny_config(family)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    table = price_forward(str(path), get_preset("w8a8"), hw_models.load_profile("npu"), "decode", context=16)
    assert (table.kind == "lm_head").sum() == 1 and (table.kind == "scores").sum() == config.num_hidden_layers
    assert (table.part == "linear").sum() > 0 and (table["latency_s"] > 0).all()


def test_lm_head_bits_is_simulated_and_priced_the_same_way():
    import torch

    from stamp_sim.config import ConfigError
    from stamp_sim.models import load_model
    from stamp_sim.nn.model import quantize_model, restore_model

    model = load_model("tiny-llama").model
    cfg = dataclasses.replace(get_preset("fp"), name="head4", lm_head_bits=4)
    table_before = model.get_input_embeddings().weight.detach().clone()
    ids = torch.randint(0, 500, (1, 16))
    with torch.no_grad():
        ref = model(ids).logits
        wrapped = quantize_model(model, cfg)
        quantized = model(ids).logits
        restore_model(model)
        back = model(ids).logits
    assert "lm_head" in wrapped and wrapped["lm_head"].config.w_bits == 4
    assert (quantized - ref).abs().max() > 1e-3 and torch.equal(back, ref)
    assert torch.equal(model.get_input_embeddings().weight, table_before)  # the tied table stays float
    tiny = hw_models.load_profile("tiny")
    head = lambda c: price_forward("tiny-llama", c, tiny, "decode", context=8).query("kind == 'lm_head'")  # noqa: E731
    fp16, int4 = head(get_preset("fp")).iloc[0], head(cfg).iloc[0]
    assert fp16["weight_bytes"] == 512 * 64 * 2
    assert int4["weight_bytes"] == 512 * 64 * 4 / 8 + 512 * 2  # 4-bit codes and an fp16 scale per output channel
    with pytest.raises(ConfigError, match="lm_head_bits=1"):
        dataclasses.replace(cfg, lm_head_bits=1)


def test_whole_model_decode_grows_linearly_with_context():
    npu = hw_models.load_profile("npu")
    cfg = dataclasses.replace(get_preset("w4a4"), name="kv8", kv_bits=8)
    # npu runs an attention product's folds (64 keys each) on 5 arrays: steps of 320 keys
    # keep whole rounds of folds, so compute time is linear too, not a staircase.
    contexts = [319, 639, 959, 1279]
    tables = [price_forward("smollm2-135m", cfg, npu, "decode", context=c) for c in contexts]
    for col in ("latency_s", "energy_pj", "dram_bytes"):
        steps = np.diff([t[col].sum() for t in tables])
        assert steps.min() > 0 and steps == pytest.approx(np.full(3, steps.mean()), rel=1e-3), col
    # The weights do not depend on the context; the cache does.
    assert len({t["weight_bytes"].sum() for t in tables}) == 1


# -- issue 31: decode follows the bytes; rotations where the deployment runs them ---------


def test_weight_only_decode_on_npu_is_memory_bound_and_follows_its_bytes():
    """Llama-3.2-3B, one token at context 4096 on `npu`: the overlapped MAC array runs a GEMV at
    the rate its weight tiles arrive, and the weights' dequantization hides behind it, so
    w4a16 / w8a16 is their DRAM bytes' ratio (SCALE-Sim's serial fill priced both at 84.27 ms,
    compute bound)."""
    npu = hw_models.load_profile("npu")
    tables = {c: price_forward("llama-3.2-3b", get_preset(c), npu, "decode", context=4096) for c in ("w4a16", "w8a16")}
    summaries = {c: forward_summary(t, "llama-3.2-3b") for c, t in tables.items()}
    assert all(s.bound == "memory" for s in summaries.values())
    latency = summaries["w4a16"].latency_s / summaries["w8a16"].latency_s
    dram = tables["w4a16"].dram_bytes.sum() / tables["w8a16"].dram_bytes.sum()
    assert latency == pytest.approx(dram, rel=0.10)
    # Every quantized linear layer of w8a16 is memory bound on its own.
    linear = tables["w8a16"][tables["w8a16"].part == "linear"]
    assert (linear.bound == "memory").all()


def _prefill_ms(cfg, profile="npu", model="smollm2-135m", tokens=512):
    table = price_forward(model, cfg, hw_models.load_profile(profile), "prefill", tokens)
    return forward_summary(table, model).latency_s * 1e3, table


def test_quarot_rotations_run_online_only_before_down_proj_and_quarot_prices_below_fp():
    quarot = get_preset("w4a4-quarot")
    fp_ms, _ = _prefill_ms(get_preset("fp"))
    quarot_ms, table = _prefill_ms(quarot)
    every_ms, every = _prefill_ms(dataclasses.replace(quarot, name="every", rotation_placement="every-linear"))
    assert quarot_ms < fp_ms < every_ms
    linear = table[table.part == "linear"]
    online = linear.feature_transform_pj > 0
    assert set(linear[online].kind) == {"down"} and online.sum() == decoder_shape("smollm2-135m").layers
    folded = set(linear[~online].feature_transform.astype(str))
    assert folded == {"Hadamard rotation folded into weights: no runtime cost"}
    assert (every[every.part == "linear"].feature_transform_pj > 0).all()
    # down_proj's online rotation by hand: 512 tokens x 1536 features (a power of two: 2048) x log2 2048 adds.
    assert linear[online].feature_transform_ops.iloc[0] == 512 * 2048 * 11
    # The price table keeps the workload's order when its layers are priced at two precisions.
    work = workload("smollm2-135m", 512)
    priced = price_config(work, quarot, ["npu"], ["prefill", "decode"])
    assert list(priced.layer) == list(work.layer) * 2 and list(priced.phase.unique()) == ["prefill", "decode"]


def test_a_quantized_cache_rotates_queries_and_keys_online():
    """tiny-llama: 2 blocks, 4 query heads and 2 K / V heads of 16 features."""
    tiny = hw_models.load_profile("tiny")
    quarot = get_preset("w4a4-quarot")
    assert not (price_forward("tiny-llama", quarot, tiny, "prefill", 32).kind == "qk_rotation").any()
    kv4 = dataclasses.replace(quarot, name="kv4", kv_bits=4)
    table = price_forward("tiny-llama", kv4, tiny, "prefill", 32)
    rows = table[table.kind == "qk_rotation"]
    assert len(rows) == 2 and (rows.part == "vector").all()
    # 32 tokens x (4 + 2) heads x 16 features x log2 16 adds, at 1 op/ns and 0.5 pJ.
    assert (rows.vector_ops == 32 * 6 * 16 * 4).all() and rows.latency_s.iloc[0] == pytest.approx(12_288e-9)
    position = {k: i for i, k in enumerate(table[table.block == 0].kind)}
    assert position["rotary"] < position["qk_rotation"] < position["kv_write"]
    # Without a rotation, a quantized cache has no such row.
    assert not (price_forward("tiny-llama", dataclasses.replace(kv4, feature_transform="none"), tiny, "prefill",
                              32).kind == "qk_rotation").any()


def test_rotation_placement_is_validated():
    from stamp_sim.config import ConfigError, PrecisionConfig

    with pytest.raises(ConfigError, match=r"rotation_placement='everywhere' is not allowed; allowed: every-linear, "
                                          r"folded"):
        PrecisionConfig(rotation_placement="everywhere")
    with pytest.raises(ConfigError, match="rotation_placement='every-linear' places a rotation, but "
                                          "feature_transform='smoothquant' has none"):
        PrecisionConfig(feature_transform="smoothquant", rotation_placement="every-linear")
    cfg = dataclasses.replace(get_preset("w4a4-quarot"), name="q", rotation_placement="every-linear")
    assert PrecisionConfig.from_dict(cfg.to_dict()) == cfg
