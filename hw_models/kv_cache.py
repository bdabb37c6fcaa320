"""The K / V cache of a decoder: its bytes at a width, and what writing, reading and
transforming it costs on a profile.

The cache is priced on its own (hw_models.price prices linear layers): the prefill writes
every token's K and V to DRAM once, and each decode step at that context reads all of it.
Quantized caches store one scale per (token, head) row in fp16, and a zero point per row
when asymmetric; a float cache is fp16 with no scales.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .precision import SeqTransform
from .profile import HardwareProfile
from .transform_ops import SEQ_CODES, padded_rows, prefix_applies, seq_transform_ops_per_feature

__all__ = ["KVCacheCost", "KVCacheShape", "kv_cache_cost"]

_SCALE_BYTES = 2  # fp16 scale per (token, head) row
_FLOAT_BITS = 16


@dataclass(frozen=True)
class KVCacheShape:
    """layers : decoder blocks with a cache; kv_heads : K / V heads per block;
    head_dim : features per head."""

    layers: int
    kv_heads: int
    head_dim: int

    def __post_init__(self) -> None:
        for key in ("layers", "kv_heads", "head_dim"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**20:
                raise ValueError(f"KVCacheShape.{key}={value!r} is out of range; allowed: integers 1..2^20")


@dataclass(frozen=True)
class KVCacheCost:
    """bytes : K and V of every block at `tokens` tokens (scales included);
    write_pj / read_pj : DRAM energy of writing it once (prefill) / reading it once (one
    decode step at that context); read_s : that read at the profile's DRAM bandwidth;
    transform_pj / transform_s : the sequence transform over the cache's tokens (forward
    on K and V before quantization, inverse on the dequantized cache), vector unit."""

    bytes: float
    write_pj: float
    read_pj: float
    read_s: float
    transform_pj: float
    transform_s: float


def kv_cache_cost(profile: HardwareProfile, shape: KVCacheShape, tokens: int, bits: int | None,
                  high_tokens: int = 0, high_bits: int | None = None, zero_points: bool = False,
                  seq_transform: str = "identity", seq_levels: int = 3, filter_length: int = 2,
                  prefix: int = 0) -> KVCacheCost:
    """Cost of a `tokens`-token K / V cache at `bits` (None: fp16), `high_tokens` of its
    (transformed) rows at `high_bits`, on `profile`; `prefix` leading tokens (an attention
    sink) stay out of the sequence transform."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 <= tokens <= 2**31:
        raise ValueError(f"tokens={tokens!r} is out of range; allowed: integers 0..2^31")
    code = SEQ_CODES[SeqTransform(seq_transform)]
    rows = int(padded_rows(tokens, code, seq_levels, filter_length, prefix)) if bits is not None else tokens
    pre = int(prefix_applies(tokens, code, prefix)) * prefix
    high = min(high_tokens, rows) if bits is not None and high_bits is not None and high_bits > bits else 0
    per_row = 2 * shape.layers * shape.kv_heads  # K and V rows per token position
    if bits is None:
        value_bits = float(rows * _FLOAT_BITS)
        meta_bytes = 0.0
    else:
        value_bits = float((rows - high) * bits + high * high_bits) if high else float(rows * bits)
        meta_bytes = float(rows) * (_SCALE_BYTES + (1 if zero_points else 0))
    total = per_row * (value_bits * shape.head_dim / 8.0 + meta_bytes)
    ops = 0.0
    if bits is not None and code != SEQ_CODES[SeqTransform.IDENTITY]:
        per_feature = float(seq_transform_ops_per_feature(rows - pre, code, seq_levels, filter_length, tokens - pre))
        ops = 2.0 * per_feature * per_row * shape.head_dim  # forward and inverse
    e = profile.energy
    read_s = total / profile.dram_bytes_per_s
    return KVCacheCost(bytes=total, write_pj=total * e.dram_pj_per_byte, read_pj=total * e.dram_pj_per_byte,
                       read_s=read_s, transform_pj=ops * e.vector_op_pj,
                       transform_s=ops / profile.vector_ops_per_s if ops else 0.0)
