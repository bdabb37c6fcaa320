"""Architecture cards: valid, every number sourced, weight bytes equal to a hand count of the
published parameters, and usable by `stamp-sim cost` / `run` without weights."""

from __future__ import annotations

import pytest
import yaml

pytest.importorskip("transformers")

from stamp_sim.config import get_preset  # noqa: E402
from stamp_sim.models import ModelKind, model_spec, workload  # noqa: E402
from stamp_sim.models.cards import CARD_DIR, card_names, load_card  # noqa: E402
from stamp_sim.models.errors import ModelInputError  # noqa: E402
from stamp_sim.pricing import price_workload  # noqa: E402

from stamp_sim import hw_models  # noqa: E402

LLMS = ("llama-2-7b", "llama-3-8b", "mistral-7b-v0.3", "qwen2.5-7b", "llama-3.2-1b", "llama-3.2-3b", "qwen2.5-3b", "smollm2-135m", "smollm2-360m", "smollm2-1.7b")
DITS = ("pixart-sigma", "sana-1.6b")


def _llm_linears(c: dict) -> int:
    """Block linear weights of a Llama/Qwen2 decoder: q, k, v, o and gate, up, down, per layer."""
    h, f, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    hd = c.get("head_dim", h // c["num_attention_heads"])
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    return layers * (h * q + 2 * h * kv + q * h + 3 * h * f)


def _llm_params(c: dict, qkv_bias: bool) -> int:
    """Every parameter: block linears, q/k/v biases (Qwen2), two RMSNorms a layer, final norm, embeddings."""
    h, layers = c["hidden_size"], c["num_hidden_layers"]
    hd = c.get("head_dim", h // c["num_attention_heads"])
    bias = (c["num_attention_heads"] + 2 * c["num_key_value_heads"]) * hd if qkv_bias else 0
    embeddings = c["vocab_size"] * h * (1 if c["tie_word_embeddings"] else 2)
    return _llm_linears(c) + layers * (bias + 2 * h) + h + embeddings


def _pixart_params(c: dict, text_dim: int = 4096) -> tuple[int, int]:
    """(block linear weights, every parameter) of PixArt-Sigma (diffusers PixArtTransformer2DModel)."""
    d = c["num_attention_heads"] * c["attention_head_dim"]
    ff = c["ff_mult"] * d
    linears = c["num_layers"] * (8 * d * d + 2 * d * ff)
    block = 8 * (d * d + d) + (d * ff + ff) + (ff * d + d) + 6 * d  # + biases, scale_shift_table
    patch = c["in_channels"] * c["patch_size"] ** 2 * d + d
    caption = (text_dim * d + d) + (d * d + d)
    time = (256 * d + d) + (d * d + d) + (d * 6 * d + 6 * d)
    out = d * c["patch_size"] ** 2 * c["out_channels"] + c["patch_size"] ** 2 * c["out_channels"] + 2 * d
    return linears, c["num_layers"] * block + patch + caption + time + out


def _sana_params(c: dict) -> tuple[int, int]:
    """(block linear weights, every parameter) of SANA (diffusers SanaTransformer2DModel, GLUMBConv FFN)."""
    d = c["num_attention_heads"] * c["attention_head_dim"]
    hidden = int(c["mlp_ratio"] * d)
    linears = c["num_layers"] * (8 * d * d + d * 2 * hidden + hidden * d)
    block = (3 * d * d + d * d + d) + 4 * (d * d + d) + (d * 2 * hidden + 2 * hidden) + 2 * hidden * 10 \
        + hidden * d + 6 * d
    patch = c["in_channels"] * d + d
    caption = (c["caption_channels"] * d + d) + (d * d + d) + d
    time = (256 * d + d) + (d * d + d) + (d * 6 * d + 6 * d)
    out = d * c["out_channels"] + c["out_channels"] + 2 * d
    return linears, c["num_layers"] * block + patch + caption + time + out


def test_every_card_file_is_listed_and_valid():
    assert set(card_names()) == set(LLMS) | set(DITS)
    for name in card_names():
        card = load_card(CARD_DIR / f"{name}.yaml")
        assert card["source"].startswith("https://huggingface.co/")
        assert card["parameters_source"]


@pytest.mark.parametrize("name", LLMS)
def test_llm_card_weight_bytes_equal_hand_count(name):
    card = load_card(CARD_DIR / f"{name}.yaml")
    c = card["config"]
    assert _llm_params(c, qkv_bias=c["model_type"] == "qwen2") == card["parameters"]
    work = workload(f"card:{name}", 2048)
    assert (work.tokens == 2048).all()
    assert int((work.k * work.n).sum()) == _llm_linears(c)
    priced = price_workload(work[["layer", "tokens", "k", "n"]], [get_preset("w8a8")],
                            [hw_models.load_profile("npu")], ["prefill"])
    scale_bytes = priced.weight_bytes.sum() - _llm_linears(c)  # int8 codes: one byte a weight
    assert 0 <= scale_bytes < 0.01 * _llm_linears(c)


@pytest.mark.parametrize("name,count", [("pixart-sigma", _pixart_params), ("sana-1.6b", _sana_params)])
def test_dit_card_weights_equal_hand_count(name, count):
    card = load_card(CARD_DIR / f"{name}.yaml")
    linears, total = count(card["config"])
    assert total == pytest.approx(card["parameters"], rel=0.01)
    spec = model_spec(name)
    assert spec.kind is ModelKind.DIT and not spec.loadable
    work = workload(name)
    assert int((work.k * work.n).sum()) == linears
    side = card["config"]["sample_size"] // card["config"]["patch_size"]
    image = work[~work.layer.str.contains("attn2.to_[kv]")]
    assert (image.tokens == side * side).all()
    assert (work[work.layer.str.contains("attn2.to_[kv]")].tokens == card["pipeline"]["text_tokens"]).all()


def test_pixart_latent_grid_is_64x64():
    assert (workload("pixart-sigma").tokens.max()) == 4096


def test_smollm2_card_matches_the_registered_model_shapes():
    pytest.importorskip("gguf")
    from stamp_sim.models.errors import MissingPackageError

    try:
        registered = workload("smollm2-135m", 64)
    except (MissingPackageError, FileNotFoundError) as exc:
        pytest.skip(str(exc))
    card = workload("card:smollm2-135m", 64)
    assert card[["layer", "tokens", "k", "n", "group"]].equals(registered[["layer", "tokens", "k", "n", "group"]])


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.pop("source"), "source: missing"),
    (lambda d: d["config"].pop("hidden_size"), "config.hidden_size=None"),
    (lambda d: d.update(extra=1), "extra: unknown field"),
    (lambda d: d.update(kind="rnn"), "kind='rnn'"),
])
def test_bad_card_names_file_and_field(tmp_path, edit, message):
    data = yaml.safe_load((CARD_DIR / "llama-3-8b.yaml").read_text())
    edit(data)
    path = tmp_path / "llama-3-8b.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelInputError) as err:
        load_card(path)
    assert str(path) in str(err.value) and message in str(err.value)
