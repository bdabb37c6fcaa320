"""Architecture cards: the published shapes of models priced without weights.

One small YAML per model in ``models/cards/`` (the STaMP paper's LLMs and image models,
AXE's SmolLM2 family), every number with its source: ``config`` holds the published
config.json values, ``parameters`` the published parameter count. A causal-LM card
builds its transformers config and is traced like any model on the meta device; a DiT
card (``family`` pixart or sana) lists its block linears here, from the diffusers
block structure, on the latent token grid ``(sample_size / patch_size)^2``.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from stamp_sim.hw_models.yaml_io import load_yaml

from .errors import ModelInputError
from .registry import LoadedModel, ModelKind, ModelSpec

__all__ = ["CARD_DIR", "card_names", "card_spec", "latent_tokens", "load_card"]

CARD_DIR = Path(str(resources.files(__package__) / "cards"))
_TOP = {"name": str, "kind": str, "source": str, "parameters": int, "parameters_source": str, "config": dict}
_OPTIONAL = {"family": str, "pipeline": dict}
_KINDS = {"causal-lm": ModelKind.CAUSAL_LM, "dit": ModelKind.DIT}
LLM_FIELDS = ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "vocab_size", "tie_word_embeddings")
DIT_FIELDS = {"pixart": ("num_layers", "num_attention_heads", "attention_head_dim", "patch_size", "sample_size",
                         "cross_attention_dim", "ff_mult"),
              "sana": ("num_layers", "num_attention_heads", "attention_head_dim", "num_cross_attention_heads",
                       "cross_attention_head_dim", "cross_attention_dim", "patch_size", "sample_size", "mlp_ratio")}


def _read_yaml(path: Path) -> object:
    """The one place a card file is parsed: hw_models.load_yaml (safe YAML behind size,
    alias and depth limits), errors as ModelInputError."""
    return load_yaml(path, what="architecture card", error=ModelInputError)


def _check(path: Path, data: object) -> list[str]:
    """Every problem of a card mapping, as 'field: problem' strings."""
    if not isinstance(data, dict):
        return ["the file is not a mapping"]
    problems = [f"{k}: unknown field; allowed: {', '.join(sorted({**_TOP, **_OPTIONAL}))}"
                for k in sorted(set(data) - set(_TOP) - set(_OPTIONAL))]
    for key, typ in {**_TOP, **_OPTIONAL}.items():
        if key not in data:
            if key in _TOP:
                problems.append(f"{key}: missing")
        elif not isinstance(data[key], typ) or isinstance(data[key], bool):
            problems.append(f"{key}={data[key]!r}: not a {typ.__name__}")
    if problems:
        return problems
    if data["kind"] not in _KINDS:
        return [f"kind={data['kind']!r}: allowed: {', '.join(sorted(_KINDS))}"]
    if data["name"] != path.stem:
        problems.append(f"name={data['name']!r}: must equal the file name {path.stem!r}")
    if data["kind"] == "dit" and data.get("family") not in DIT_FIELDS:
        return problems + [f"family={data.get('family')!r}: allowed for a dit card: {', '.join(sorted(DIT_FIELDS))}"]
    fields = LLM_FIELDS if data["kind"] == "causal-lm" else DIT_FIELDS[data["family"]]
    config = data["config"]
    for f in fields:
        value = config.get(f)
        if f == "model_type" and isinstance(value, str) or f == "tie_word_embeddings" and isinstance(value, bool):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            problems.append(f"config.{f}={value!r}: allowed: a positive number (the published config's value)")
    if data["kind"] == "dit":
        tokens = data.get("pipeline", {}).get("text_tokens")
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            problems.append(f"pipeline.text_tokens={tokens!r}: allowed: a positive integer")
    return problems


@functools.lru_cache(maxsize=None)
def load_card(path: Path) -> dict:
    """Read and validate one card; ModelInputError listing every problem with file and field.

    Returns the card's mapping (name, kind, source, parameters, parameters_source, config,
    and for a DiT family and pipeline.text_tokens). Cached: do not modify it.
    """
    data = _read_yaml(path)
    problems = _check(path, data)
    if problems:
        raise ModelInputError(f"{path}: " + "; ".join(problems))
    return data


def card_names() -> tuple[str, ...]:
    """Names of the built-in cards, sorted."""
    return tuple(sorted(p.stem for p in CARD_DIR.glob("*.yaml")))


def _llm_skeleton(card: dict):
    import torch

    from ._hf import quiet_transformers

    with quiet_transformers(card["name"]):
        from transformers import AutoConfig, AutoModelForCausalLM

        body = {k: v for k, v in card["config"].items() if k != "model_type"}
        config = AutoConfig.for_model(card["config"]["model_type"], **body)
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config)


def _pixart_block(c: dict, b: int, image: int, text: int) -> list[tuple]:
    d = c["num_attention_heads"] * c["attention_head_dim"]
    p = f"transformer_blocks.{b}."
    qkv, kv = p + "attn1.to_q+to_k+to_v", p + "attn2.to_k+to_v"
    return [(p + "attn1.to_q", "q", b, image, d, d, qkv), (p + "attn1.to_k", "k", b, image, d, d, qkv),
            (p + "attn1.to_v", "v", b, image, d, d, qkv), (p + "attn1.to_out.0", "o", b, image, d, d, None),
            (p + "attn2.to_q", "q", b, image, d, d, None),
            (p + "attn2.to_k", "k", b, text, c["cross_attention_dim"], d, kv),
            (p + "attn2.to_v", "v", b, text, c["cross_attention_dim"], d, kv),
            (p + "attn2.to_out.0", "o", b, image, d, d, None),
            (p + "ff.net.0.proj", "fc1", b, image, d, int(c["ff_mult"] * d), None),
            (p + "ff.net.2", "fc2", b, image, int(c["ff_mult"] * d), d, None)]


def _sana_block(c: dict, b: int, image: int, text: int) -> list[tuple]:
    d = c["num_attention_heads"] * c["attention_head_dim"]
    dc = c["num_cross_attention_heads"] * c["cross_attention_head_dim"]
    hidden = int(c["mlp_ratio"] * d)
    p = f"transformer_blocks.{b}."
    qkv, kv = p + "attn1.to_q+to_k+to_v", p + "attn2.to_k+to_v"
    # GLUMBConv: 1x1 convs are GEMMs over the tokens; the 3x3 depthwise conv between them is not.
    return [(p + "attn1.to_q", "q", b, image, d, d, qkv), (p + "attn1.to_k", "k", b, image, d, d, qkv),
            (p + "attn1.to_v", "v", b, image, d, d, qkv), (p + "attn1.to_out.0", "o", b, image, d, d, None),
            (p + "attn2.to_q", "q", b, image, d, dc, None),
            (p + "attn2.to_k", "k", b, text, c["cross_attention_dim"], dc, kv),
            (p + "attn2.to_v", "v", b, text, c["cross_attention_dim"], dc, kv),
            (p + "attn2.to_out.0", "o", b, image, dc, d, None),
            (p + "ff.conv_inverted", "fc1", b, image, d, 2 * hidden, None),
            (p + "ff.conv_point", "fc2", b, image, hidden, d, None)]


_DIT_BLOCKS = {"pixart": _pixart_block, "sana": _sana_block}


def latent_tokens(card: dict) -> int:
    """Latent tokens of a DiT card at its published resolution: (sample_size / patch_size)^2."""
    side = card["config"]["sample_size"] // card["config"]["patch_size"]
    return side * side


def _dit_shapes(card: dict, tokens: int | None):
    """Workload rows of a DiT card's block linears (tokens: image tokens; None: latent_tokens)."""
    import pandas as pd

    from .workload import WORKLOAD_COLUMNS

    image = latent_tokens(card) if tokens is None else int(tokens)
    if image < 1:
        raise ValueError(f"tokens must be a positive number of latent tokens, got {tokens!r}")
    block = _DIT_BLOCKS[card["family"]]
    rows = [r for b in range(card["config"]["num_layers"])
            for r in block(card["config"], b, image, card["pipeline"]["text_tokens"])]
    frame = pd.DataFrame([r[:6] + (r[6] or r[0],) for r in rows], columns=list(WORKLOAD_COLUMNS))
    return frame.astype({"block": "int64", "tokens": "int64", "k": "int64", "n": "int64"})


def card_spec(name: str) -> ModelSpec:
    """Cost-only ModelSpec of a built-in card."""
    card = load_card(CARD_DIR / f"{name}.yaml")
    kind = _KINDS[card["kind"]]
    why = f"architecture card {name} ({card['source']})"

    def load() -> LoadedModel:
        raise ModelInputError(f"{name} is cost only ({why}); accuracy needs weights: pass a folder or .gguf")

    notes = f"architecture card: every number from {card['source']}"
    if kind is ModelKind.DIT:
        notes += (f"; {latent_tokens(card)} latent tokens, cross-attention k/v on "
                  f"{card['pipeline']['text_tokens']} text tokens; block linears only (patch embedding, "
                  "caption and timestep projections left out)")
        return ModelSpec(name, kind, notes, load, lambda: None, source=card["source"], cost_only=why,
                         shapes=lambda tokens: _dit_shapes(card, tokens))
    return ModelSpec(name, kind, notes, load, lambda: _llm_skeleton(card), source=card["source"], cost_only=why)
