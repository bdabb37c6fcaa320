"""The sequence transform that runs on a given number of tokens: the one padding rule.

Shared by StampLinear (activations) and the K / V cache quantizer, so both treat a short
sequence, a ViT's CLS token and an attention sink the same way.
"""

from __future__ import annotations

import dataclasses

from stamp_sim import hw_models
from stamp_sim.nn.prefix import PrefixedTransform
from stamp_sim.transforms import DWT, DWT2D

__all__ = ["sequence_for"]


def sequence_for(seq, tokens: int, sink_tokens: int = 0):
    """The transform `seq` as it runs on `tokens` rows, or None (no transform runs).

    - one token (decoding), or no transform configured: None;
    - dwt2d given h * w + 1 tokens (a ViT's CLS token ahead of its patch grid): that first
      row is left untransformed;
    - sink_tokens > 0: the first sink_tokens rows pass through untransformed (the attention
      sink), the rest are transformed (not on dwt2d, whose grid says which rows it takes);
    - a 1D DWT on a sequence too short for its levels runs hw_models.effective_levels of them
      (PyWavelets' dwt_max_level: a 5-token sentence gets 2 Haar levels, not 3); 0 levels: None.
    """
    if seq is None or tokens <= 1:
        return None
    if isinstance(seq, DWT2D) and tokens == seq.grid[0] * seq.grid[1] + 1:
        return PrefixedTransform(seq, prefix=1)
    if sink_tokens and not isinstance(seq, DWT2D):  # a 2D grid's own rule says which rows it transforms
        if tokens <= sink_tokens + 1:
            return None
        inner = sequence_for(seq, tokens - sink_tokens)
        return None if inner is None else PrefixedTransform(inner, prefix=sink_tokens)
    if isinstance(seq, DWT):
        levels = int(hw_models.effective_levels(tokens, seq.levels, seq.filter_length))
        if levels < 1:
            return None
        return seq if levels == seq.levels else dataclasses.replace(seq, levels=levels)
    return seq
