"""ModelGeometry against hand counts: every built-in decoder card (parameters, one block's
GEMMs, K / V bytes per token), a tiny Mixtral and Qwen3-MoE (expert GEMMs, active
parameters), sliding windows (Mistral, Gemma2), the GEMM rows against the traced workload
of each decoder family, and the errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

import transformers as tf  # noqa: E402

from stamp_sim.models import workload  # noqa: E402
from stamp_sim.models.architecture import decoder_shape_of, gemm_rows  # noqa: E402
from stamp_sim.models.cards import CARD_DIR, load_card  # noqa: E402
from stamp_sim.models.errors import ModelInputError  # noqa: E402
from stamp_sim.models.geometry import Block, BlockKind, GemmKind, ModelGeometry  # noqa: E402
from stamp_sim.models.geometry_hf import (  # noqa: E402
    SUPPORTED_FAMILIES,
    UnsupportedArchitectureError,
    geometry,
    geometry_from_config,
)

from tests.models._local_fixtures import tiny_config  # noqa: E402

LLM_CARDS = ("llama-2-7b", "llama-3-8b", "llama-3.2-1b", "llama-3.2-3b", "mistral-7b-v0.3", "qwen2.5-3b",
             "qwen2.5-7b", "smollm2-135m", "smollm2-360m", "smollm2-1.7b")
SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             vocab_size=64, max_position_embeddings=256, tie_word_embeddings=False)


def _meta_parameters(config) -> int:
    """Every parameter of the transformers model built on the meta device (no memory, no weights)."""
    import torch

    with torch.device("meta"):
        model = tf.AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", LLM_CARDS)
def test_each_card_geometry_equals_its_hand_count(name):
    """Source of the published size: the card's ``parameters`` (its ``parameters_source``,
    the checkpoint's safetensors count or model card)."""
    card = load_card(CARD_DIR / f"{name}.yaml")
    c = card["config"]
    geo = geometry(f"card:{name}")
    h, f, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    heads, kv = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim", h // heads)
    assert abs(geo.parameter_count() - card["parameters"]) <= 0.005 * card["parameters"]
    assert geo.active_parameter_count() == geo.parameter_count()  # dense: every weight runs
    # Block 0's GEMMs (k, n) by hand.
    shapes = [(g.kind, g.k, g.n) for g in geo.gemms() if g.name.startswith("model.layers.0.")]
    assert shapes == [(GemmKind.Q, h, heads * hd), (GemmKind.K, h, kv * hd), (GemmKind.V, h, kv * hd),
                      (GemmKind.O, heads * hd, h), (GemmKind.GATE, h, f), (GemmKind.UP, h, f), (GemmKind.DOWN, f, h)]
    assert geo.kv_bytes_per_token() == 2 * layers * kv * hd * 2  # K and V, every layer, fp16
    assert geo.kv_cache_bytes(1000) == 1000 * geo.kv_bytes_per_token()  # no card has a sliding window
    assert geo.layers == layers and geo.vocab == c["vocab_size"] and geo.tied_embeddings == c["tie_word_embeddings"]
    assert [b.kind for b in geo.blocks[:3]] == [BlockKind.EMBEDDING, BlockKind.ATTENTION, BlockKind.MLP]
    assert geo.blocks[-1].kind is BlockKind.LM_HEAD and geo.dtype_bytes == 2


def test_a_dit_card_has_no_decoder_geometry():
    with pytest.raises(ModelInputError, match="--model pixart-sigma: a dit model; allowed for the whole-model cost"):
        geometry("pixart-sigma")


@pytest.mark.parametrize("family", ["llama", "qwen2", "mistral", "qwen3", "gemma2", "gemma3_text", "phi3", "gpt2",
                                    "opt"])
def test_gemm_rows_are_the_traced_workload_of_each_family(tmp_path, family):
    """The geometry's rows name, shape and group every linear layer as the meta-device trace
    sees it (so a dense model prices as before); parameters equal the transformers model's."""
    config = tiny_config(family)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    traced = workload(str(path), 5, include_lm_head=True)
    rows = gemm_rows(geometry(str(path)), 5)
    columns = ["layer", "block", "tokens", "k", "n", "group"]
    assert rows[columns].equals(traced[columns])
    assert geometry(config).parameter_count() == _meta_parameters(config)


def test_tiny_mixtral_by_hand():
    """hidden 32, 2 layers, 4 heads of 8, 2 K / V heads, 4 experts of width 64, top 2."""
    config = tf.MixtralConfig(**SMALL, num_local_experts=4, num_experts_per_tok=2)
    geo = geometry_from_config(config)
    moe = geo.blocks_of(BlockKind.MOE_MLP)
    assert len(moe) == 2 and moe[0].mlp.experts == 4 and moe[0].mlp.top_k == 2
    g = {x.name.rsplit(".", 1)[-1]: x for x in moe[0].gemms}
    assert (g["gate"].kind, g["gate"].k, g["gate"].n) == (GemmKind.ROUTER, 32, 4)  # router: hidden x experts
    assert [(x.kind, x.k, x.n, x.rows_per_token, x.experts) for x in moe[0].gemms[1:]] == [
        (GemmKind.GATE, 32, 64, 2, 4), (GemmKind.UP, 32, 64, 2, 4), (GemmKind.DOWN, 64, 32, 2, 4)]
    # Per layer: attention 32*32 + 2 * 32*16 + 32*32 = 3072; experts 4 * 3 * 32*64 = 24576; router 128;
    # two RMSNorms 64. Plus the table 64*32, an untied lm_head 64*32 and the final norm 32.
    assert geo.parameter_count() == 2 * (3072 + 24576 + 128 + 64) + 2048 + 2048 + 32 == _meta_parameters(config)
    # A token runs 2 of the 4 experts: 2 * 3 * 32*64 = 12288 expert weights a layer.
    assert geo.active_parameter_count() == 2 * (3072 + 12288 + 128 + 64) + 2048 + 2048 + 32
    assert geo.blocks[1].attention.window is None  # Mixtral's sliding_window defaults to None


def test_tiny_qwen3_moe_by_hand_and_its_rows():
    """hidden 32, head_dim 8, QK-norm, 8 experts of width 16, top 2, untied."""
    config = tf.Qwen3MoeConfig(**SMALL, head_dim=8, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=16)
    geo = geometry_from_config(config)
    # Per layer: attention 3072, q_norm + k_norm 16, two norms 64, router 32*8 = 256,
    # experts 8 * 3 * 32*16 = 12288 (active: 2 * 3 * 512 = 3072).
    assert geo.parameter_count() == 2 * (3072 + 16 + 64 + 256 + 12288) + 2048 + 2048 + 32 == _meta_parameters(config)
    assert geo.active_parameter_count() == 2 * (3072 + 16 + 64 + 256 + 3072) + 2048 + 2048 + 32
    shape = decoder_shape_of(geo)
    assert shape.qk_norm and shape.block(0).experts == 8 and shape.block(0).top_k == 2
    assert shape.block(0).mlp_width == 2 * 16  # top_k experts' activations per token
    # Decode: the router, then top_k experts of one row each.
    one = gemm_rows(geo, 1, include_lm_head=False)
    layer0 = one[one.block == 0]
    assert list(layer0.kind) == ["q", "k", "v", "o", "router"] + ["gate", "up", "down"] * 2
    assert list(layer0.expert) == [-1] * 5 + [0, 0, 0, 1, 1, 1] and (layer0.tokens == 1).all()
    assert layer0.layer.iloc[5] == "model.layers.0.mlp.experts.0.gate_proj"
    assert layer0.group.iloc[5] == "model.layers.0.mlp.experts.0.gate_proj+up_proj"
    # Prefill of 5 tokens: 10 expert rows over all 8 experts, two of them twice.
    five = gemm_rows(geo, 5, include_lm_head=False)
    downs = five[(five.block == 0) & (five.kind == "down")]
    assert list(downs.tokens) == [2, 2, 1, 1, 1, 1, 1, 1] and downs.tokens.sum() == 5 * 2


def test_qwen2_moe_shared_expert_and_dense_layers():
    config = tf.Qwen2MoeConfig(**SMALL, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                               shared_expert_intermediate_size=48, mlp_only_layers=[1])
    geo = geometry_from_config(config)
    kinds = [b.kind for b in geo.blocks]
    assert kinds.count(BlockKind.MOE_MLP) == 1 and kinds.count(BlockKind.MLP) == 1  # layer 1 is dense
    moe = geo.blocks_of(BlockKind.MOE_MLP)[0]
    assert moe.mlp.shared_intermediate == 48 and moe.mlp.activation_width == 2 * 16 + 48
    assert geo.parameter_count() == _meta_parameters(config)
    rows = gemm_rows(geo, 1, include_lm_head=False)
    assert list(rows[rows.block == 0].kind)[-4:] == ["gate", "up", "down", "shared_gate"]


def test_sliding_window_decode_kv_stops_growing_past_the_window():
    config = tf.MistralConfig(**SMALL, sliding_window=16)
    geo = geometry_from_config(config)
    assert {b.attention.window for b in geo.blocks_of(BlockKind.ATTENTION)} == {16}
    per_token = 2 * 2 * 2 * 8 * 2  # K and V, 2 layers, 2 K / V heads of 8, fp16
    assert geo.kv_bytes_per_token() == per_token
    sizes = [geo.kv_cache_bytes(c) for c in (8, 16, 17, 64, 4096)]
    assert sizes == [8 * per_token] + [16 * per_token] * 4
    assert decoder_shape_of(geo).block(1).window == 16


def test_gemma2_alternates_sliding_and_full_layers_and_qwen2_needs_use_sliding_window():
    gemma = geometry_from_config(tf.Gemma2Config(**{**SMALL, "num_hidden_layers": 4}, head_dim=8, sliding_window=16))
    assert [b.attention.window for b in gemma.blocks_of(BlockKind.ATTENTION)] == [16, None, 16, None]
    assert gemma.kv_cache_bytes(100) == (16 + 100 + 16 + 100) * (2 * 2 * 8 * 2)
    assert decoder_shape_of(gemma).sandwich_norms and decoder_shape_of(gemma).activation == "gelu_gated"
    qwen = geometry_from_config(tf.Qwen2Config(**SMALL, sliding_window=16))
    assert {b.attention.window for b in qwen.blocks_of(BlockKind.ATTENTION)} == {None}


def test_rotary_and_attention_variants_come_from_the_config():
    llama = geometry_from_config(tiny_config("llama"))  # transformers 5: rope_parameters, no rope_theta
    assert llama.blocks[1].attention.rotary and not hasattr(tiny_config("llama"), "rope_theta")
    assert not geometry_from_config(tiny_config("gpt2")).blocks[1].attention.rotary  # learned positions
    neox = geometry_from_config(tf.GPTNeoXConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                 num_attention_heads=4, vocab_size=64))
    att = neox.blocks[1].attention
    assert att.rotary and att.rotary_fraction == 0.25 and att.parallel
    assert neox.blocks[1].gemms[0].kind is GemmKind.QKV and neox.blocks[-1].gemms[0].name == "embed_out"
    qwen3 = geometry_from_config(tiny_config("qwen3"))
    assert qwen3.blocks[1].attention.qk_norm and qwen3.parameter_count() == _meta_parameters(tiny_config("qwen3"))


def test_every_source_gives_the_same_geometry(tmp_path):
    from stamp_sim.models import load_model

    config = tiny_config("llama")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    by_path, by_dict = geometry(path), geometry_from_config(json.loads(path.read_text()))
    assert by_path.blocks == by_dict.blocks == geometry(config).blocks
    assert geometry(by_path) is by_path
    tiny = load_model("tiny-llama")
    assert geometry(tiny).blocks == geometry("tiny-llama").blocks == geometry(tiny.model).blocks
    assert geometry("tiny-llama") is geometry("tiny-llama")  # built once per name


def test_a_gguf_gives_its_geometry(tmp_path):
    pytest.importorskip("gguf")
    from tests.models._local_fixtures import write_tiny_gguf

    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path)
    geo = geometry(str(path))
    assert geo.layers == 2 and geo.hidden == 32 and geo.kv_bytes_per_token() == 2 * 2 * 2 * 8 * 2


def test_errors_are_one_line_and_name_what_is_allowed():
    with pytest.raises(UnsupportedArchitectureError) as err:
        geometry_from_config(tf.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4))
    message = str(err.value)
    assert "\n" not in message and "model_type 'bert' has no model geometry; allowed: " in message
    assert all(family in message for family in SUPPORTED_FAMILIES) and "mixtral" in SUPPORTED_FAMILIES
    geo = geometry_from_config(tiny_config("llama"))
    hybrid = ModelGeometry("hybrid", "llama", (geo.blocks[0], Block(BlockKind.RECURRENT, 0, state_bytes=4096),
                                               *geo.blocks[1:]), geo.vocab, geo.hidden)
    assert hybrid.state_bytes() == 4096
    with pytest.raises(ModelInputError, match="^model hybrid: recurrent blocks are not priced yet; allowed: "):
        decoder_shape_of(hybrid)
    with pytest.raises(ValueError, match="ModelGeometry.blocks of 'x' run"):
        ModelGeometry("x", "llama", geo.blocks[1:], geo.vocab, geo.hidden)
    with pytest.raises(ValueError, match=r"Mlp.top_k=3 with experts=2"):
        type(geo.blocks[2].mlp)(geo.blocks[2].mlp.kind, "silu", 8, experts=2, top_k=3)
