"""A tiny randomly initialised Llama and a synthetic token source, for tests in seconds.

Same module structure as SmolLM2 (q/k/v/o, gate/up/down, RMSNorm, RoPE,
grouped-query attention, tied embeddings) at a size where a forward pass of a
few hundred tokens takes milliseconds on a CPU.
"""

from __future__ import annotations

import numpy as np

from ._hf import freeze, quiet_transformers
from .registry import LoadedModel, ModelKind, register_model

__all__ = ["TINY_VOCAB", "synthetic_token_ids", "tiny_llama", "tiny_llama_config"]

NAME = "tiny-llama"
WHAT = "the tiny Llama"
TINY_VOCAB = 512
NOTES = "randomly initialised (seed 0), 2 layers, hidden 64: for fast tests only, accuracy numbers are meaningless"


def tiny_llama_config():
    """LlamaConfig: 2 layers, hidden 64, 4 query / 2 key-value heads, MLP 128, vocab 512, tied embeddings."""
    with quiet_transformers(WHAT):
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=TINY_VOCAB,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=2048,
            tie_word_embeddings=True,
            # Wider than the default 0.02 so logits are far from uniform and
            # quantization error shows up in KL and perplexity.
            initializer_range=0.1,
        )


def tiny_llama(seed: int = 0):
    """A fresh tiny LlamaForCausalLM (float32, CPU, eval, frozen); same seed, same weights.

    The global torch RNG is left untouched (the init runs in a forked RNG).
    """
    config = tiny_llama_config()
    with quiet_transformers(WHAT):
        import torch
        from transformers import LlamaForCausalLM

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlamaForCausalLM(config)
    return freeze(model)


def synthetic_token_ids(n_tokens: int, vocab_size: int = TINY_VOCAB, seed: int = 0) -> np.ndarray:
    """A deterministic token stream with a Zipf-like (p ~ 1/rank) frequency profile.

    Parameters
    ----------
    n_tokens : int, length of the stream
    vocab_size : int, ids are in [0, vocab_size)
    seed : int

    Returns
    -------
    ndarray, shape (n_tokens,), int64
    """
    if n_tokens < 0 or vocab_size < 1:
        raise ValueError(f"need n_tokens >= 0 and vocab_size >= 1, got n_tokens={n_tokens}, vocab_size={vocab_size}")
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocab_size + 1)
    # Shuffle which id gets which rank so frequent ids are not simply 0, 1, 2.
    ranks = rng.permutation(vocab_size)
    return rng.choice(vocab_size, size=n_tokens, p=weights[ranks] / weights.sum()).astype(np.int64)


def _skeleton():
    import torch
    from transformers import LlamaForCausalLM

    config = tiny_llama_config()
    with torch.device("meta"):
        return LlamaForCausalLM(config)


@register_model(NAME, kind=ModelKind.CAUSAL_LM, notes=NOTES, skeleton=_skeleton)
def _load() -> LoadedModel:
    return LoadedModel(NAME, ModelKind.CAUSAL_LM, tiny_llama(seed=0), None, None, None, NOTES, "transformers.LlamaConfig")
