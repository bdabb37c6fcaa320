"""A decoder's structure beyond its linear layers (heads, K / V heads, vocabulary, MLP
kind), read from its Hugging Face config for ``hw_models.decoder``."""

from __future__ import annotations

import functools

from stamp_sim import hw_models

from .errors import ModelInputError
from .registry import ModelKind, model_spec

__all__ = ["decoder_shape"]

# Activations of a gated MLP (act(gate) x up); anything else is one activation on fc1.
_GATED_TYPES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "mixtral", "olmo", "olmo2")


@functools.lru_cache(maxsize=32)
def decoder_shape(model: str) -> hw_models.DecoderShape:
    """The DecoderShape of a causal LM (a registered name, a card, a local folder or
    config.json); ModelInputError for a model that is not a decoder or a config that
    does not say its heads."""
    spec = model_spec(model)
    if spec.kind is not ModelKind.CAUSAL_LM:
        raise ModelInputError(f"--model {model}: a {spec.kind.value} model; allowed for the whole-model cost: "
                              "a causal LM (its linear layers alone: stamp-sim cost --linear-only)")
    config = spec.skeleton().config
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not heads or not layers or not hidden:
        raise ModelInputError(f"--model {model}: its config does not give num_attention_heads, num_hidden_layers "
                              "and hidden_size; allowed: a decoder config.json that does")
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    intermediate = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
    model_type = getattr(config, "model_type", "")
    return hw_models.DecoderShape(
        layers=int(layers), hidden=int(hidden), heads=int(heads), kv_heads=int(kv_heads), head_dim=int(head_dim),
        intermediate=int(intermediate), vocab=int(config.vocab_size), gated_mlp=model_type in _GATED_TYPES,
        rotary=getattr(config, "rope_theta", None) is not None or model_type in _GATED_TYPES,
        tied_embeddings=bool(getattr(config, "tie_word_embeddings", True)))
