"""The whole-forward cost: its parts compose, the CLI's summary agrees with the table, and
benchmarks/published.py's calibrated profiles reproduce their calibration rows."""

import dataclasses
import importlib.util
import json
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


# -- issue 31: the whole forward prices a ModelGeometry -----------------------------------

# Totals (latency_s, energy_pj, dram_bytes, weight_bytes, peak memory bytes) on `tiny` of the
# code before the geometry (HEAD's forward_cost, models/architecture.decoder_shape and
# hw_models/decoder.py: a traced workload and a Llama-shaped DecoderShape), computed on
# 2026-12-08 by loading those three files beside the new ones; prefill of 256 tokens, decode
# at context 2048. The geometry path reproduced every one bit for bit (and on `npu` / `gpu`).
BEFORE_GEOMETRY = {
    ("card:smollm2-135m", "w4a16", "prefill"): (4.121428212, 242256127872.0, 1130569728.0, 116342784.0, 123617280.0),
    ("card:smollm2-135m", "w4a16", "decode"): (0.467573922, 17992289307.0, 166345728.0, 116342784.0, 163652352.0),
    ("llama-3.2-3b", "w8a8", "prefill"): (103.87365119999998, 12306059640360.96, 103158092288.0, 3608125440.0,
                                          3644039680.0),
    ("llama-3.2-3b", "w8a8", "decode"): (4.0031418, 417842982164.1599, 3993893768.0, 3608125440.0, 3843389952.0),
    ("qwen2.5-7b", "w4a4-quarot", "prefill"): (144.977261316, 16945873469276.158, 135722183680.0, 5445414912.0,
                                               5472203264.0),
    ("qwen2.5-7b", "w4a4-quarot", "decode"): (4.838831304, 506646372239.3599, 4819660600.0, 5445414912.0,
                                              5563231232.0),
}


@pytest.mark.parametrize("key", list(BEFORE_GEOMETRY), ids="-".join)
def test_dense_cards_price_as_before_the_geometry(key):
    model, cfg, phase = key
    table = price_forward(model, get_preset(cfg), hw_models.load_profile("tiny"), phase, tokens=256, context=2048)
    s = forward_summary(table, model)
    got = [float(table[c].sum()) for c in ("latency_s", "energy_pj", "dram_bytes", "weight_bytes")]
    assert got + [s.peak_memory_bytes] == pytest.approx(BEFORE_GEOMETRY[key], rel=1e-12)


def test_price_forward_takes_a_geometry_and_resolves_a_name_once():
    from stamp_sim.models import geometry

    tiny = hw_models.load_profile("tiny")
    by_name = price_forward("tiny-llama", get_preset("w4a8"), tiny, "prefill", 16)
    by_geometry = price_forward(geometry("tiny-llama"), get_preset("w4a8"), tiny, "prefill", 16)
    pd.testing.assert_frame_equal(by_name, by_geometry)
    assert (by_name.expert == -1).all()


_SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              vocab_size=64, max_position_embeddings=256, tie_word_embeddings=False)


def _tiny_moe():
    """Qwen3-MoE: 2 layers, hidden 32, 4 heads of 8 (2 K / V), 8 experts of width 16, top 2."""
    import transformers as tf

    from stamp_sim.models import geometry_from_config

    return geometry_from_config(tf.Qwen3MoeConfig(**_SMALL, head_dim=8, num_experts=8, num_experts_per_tok=2,
                                                  moe_intermediate_size=16), name="tiny-moe")


def test_moe_decode_runs_top_k_experts_and_reads_only_their_weights():
    geo, tiny, fp = _tiny_moe(), hw_models.load_profile("tiny"), get_preset("fp")
    table = price_forward(geo, fp, tiny, "decode", context=8)
    experts = table[table.expert >= 0]
    one = 32 * 16 * 2  # one expert GEMM's fp16 weights, bytes
    assert len(experts) == 2 * 2 * 3 and (experts.tokens == 1).all()  # 2 layers x top 2 x gate, up, down
    assert experts.weight_bytes.sum() == 2 * 2 * 3 * one
    router = table[table.kind == "router"]
    assert len(router) == 2 and (router.k == 32).all() and (router.n == 8).all()
    assert (router.weight_bytes == 32 * 8 * 2).all() and (router.part == "linear").all()  # fp16 whatever the config
    # Memory holds all 8 experts: the 6 a layer the step did not touch are added.
    s = forward_summary(table, geo)
    assert s.weight_bytes == table.weight_bytes.sum() + 2 * 6 * 3 * one
    block = table[table.block == 0]
    position = {k: i for i, k in enumerate(block.kind.where(~block.layer.str.endswith("post_norm"), "post_norm"))}
    assert position["post_norm"] < position["router"] < position["router_softmax"] < position["gate"]
    assert position["down"] < position["expert_combine"]


def test_moe_prefill_spreads_tokens_x_top_k_rows_over_the_experts():
    geo, tiny, fp = _tiny_moe(), hw_models.load_profile("tiny"), get_preset("fp")
    table = price_forward(geo, fp, tiny, "prefill", tokens=5)
    experts = table[table.expert >= 0]
    # 5 tokens x top 2 = 10 rows over min(8, 10) = 8 experts: every expert's weights read once.
    assert experts.weight_bytes.sum() == 2 * 8 * 3 * (32 * 16 * 2)
    assert experts.macs.sum() == 2 * 5 * 2 * 3 * (32 * 16)
    # The vector work: activation over top 2 x 16 per token (SiLU-gated, 5 ops), the router's softmax
    # over 8 experts and the combine of 2 expert outputs of 32 (2 ops).
    assert (table[table.kind == "activation"].vector_ops == 5 * 2 * 16 * 5.0).all()
    assert (table[table.kind == "router_softmax"].vector_ops == 5 * 8 * 5.0).all()
    assert (table[table.kind == "expert_combine"].vector_ops == 5 * 2 * 32 * 2.0).all()
    assert (table[table.kind == "qk_norm"].vector_ops == 5 * (4 + 2) * 8 * 4.0).all()  # Qwen3's QK-norm


def test_a_moe_config_json_is_priced_by_the_cli(tmp_path):
    import transformers as tf

    path = tmp_path / "config.json"
    config = tf.MixtralConfig(**_SMALL, num_local_experts=4, num_experts_per_tok=2)
    path.write_text(json.dumps(config.to_dict()))
    for phase in ("prefill", "decode"):
        result = CliRunner().invoke(main, ["cost", "--model", str(path), "--config", "w4a16", "--phase", phase,
                                           "--tokens", "64"] + (["--context", "64"] if phase == "decode" else []))
        assert result.exit_code == 0, result.output
        assert float(_cells(result.output, "w4a16")["ms/token" if phase == "decode" else "TTFT (ms)"]) > 0


def test_sliding_window_decode_attends_to_and_caches_at_most_the_window():
    import transformers as tf

    from stamp_sim.models import geometry_from_config

    geo = geometry_from_config(tf.MistralConfig(**_SMALL, sliding_window=16))
    tiny, fp = hw_models.load_profile("tiny"), get_preset("fp")
    tables = {c: price_forward(geo, fp, tiny, "decode", context=c) for c in (7, 15, 31, 63)}
    per_token = 2 * 2 * 2 * 8 * 2  # K and V, 2 blocks, 2 K / V heads of 8, fp16
    kv = {c: forward_summary(t, geo).kv_cache_bytes for c, t in tables.items()}
    assert kv == {7: 8 * per_token, 15: 16 * per_token, 31: 16 * per_token, 63: 16 * per_token}
    scores = tables[63][tables[63].kind == "scores"]
    assert (scores.n == 16).all() and (scores.macs == 16 * 4 * 8).all()  # 16 keys x 4 heads x 8 features
    assert tables[31].latency_s.sum() == tables[63].latency_s.sum()
    # Prefill of 32 tokens: query i sees min(i + 1, 16) keys: 16 x 17 / 2 + 16 x 16 = 392 scores a head;
    # each block keeps its last 16 tokens' K and V.
    pre = price_forward(geo, fp, tiny, "prefill", tokens=32)
    assert (pre[pre.kind == "scores"].macs == 392 * 4 * 8).all()
    assert (pre[pre.kind == "kv_write"].kv_bytes == 16 * per_token / 2).all()
