"""The K / V cache geometry of a decoder, read from its Hugging Face config."""

from __future__ import annotations

from stamp_sim import hw_models

from .registry import LoadedModel, ModelKind

__all__ = ["kv_cache_shape"]


def kv_cache_shape(loaded: LoadedModel) -> hw_models.KVCacheShape | None:
    """(blocks, K / V heads, head dim) of a causal LM's cache; None for encoders and ViTs
    (no cache) or a config that does not say (num_hidden_layers, num_attention_heads)."""
    if loaded.kind is not ModelKind.CAUSAL_LM:
        return None
    config = getattr(loaded.model, "config", None)
    layers = getattr(config, "num_hidden_layers", None)
    heads = getattr(config, "num_attention_heads", None)
    if not layers or not heads:
        return None
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return hw_models.KVCacheShape(layers=int(layers), kv_heads=int(kv_heads), head_dim=int(head_dim))
