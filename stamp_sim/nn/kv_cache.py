"""K / V cache quantization inside a Hugging Face decoder's attention.

K (after the rotary embedding) and V are quantized per token and per head at the config's
kv_bits, with the activations' token treatment: the config's sequence transform along the
tokens (STaMP's KV4.125), the first high_rows (transformed) rows at a_high_bits and the
sink_tokens kept out of the transform. Attention then runs, in float, on the dequantized
cache (transformers' sdpa attention), as a decoder reading a quantized cache would.

The hook is transformers' attention interface: every attention module whose model runs
through it (Llama, Mistral, Qwen2/3, Gemma, Phi-3, ...) calls one registered function with
its K and V; a module that carries no quantizer passes through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.metrics import sqnr_from_sums, sum_of_squares
from stamp_sim.nn.sequence import sequence_for
from stamp_sim.quant import quantize
from stamp_sim.transforms import sequence_transform_from

__all__ = ["ATTENTION_NAME", "KVQuantizer", "attention_modules", "install_kv_quantization", "kv_stats",
           "remove_kv_quantization", "reset_kv_stats"]

#: The attention implementation name stamp-sim registers with transformers.
ATTENTION_NAME = "stamp_kv"
_ATTR = "stamp_kv_quantizer"
_SAVED = "_stamp_kv_saved_attn_implementation"


@dataclass
class KVStats:
    """Running K / V quantization statistics of one attention module."""

    signal: float = 0.0
    noise: float = 0.0
    bits_sum: float = 0.0
    rows: int = 0

    @property
    def sqnr_db(self) -> float:
        return sqnr_from_sums(self.signal, self.noise)

    @property
    def avg_bits(self) -> float:
        return self.bits_sum / self.rows if self.rows else float("nan")


class KVQuantizer:
    """Quantize-dequantize one attention module's K and V (batch, heads, tokens, head_dim)."""

    def __init__(self, config: PrecisionConfig, name: str = "") -> None:
        if config.kv_bits is None:
            raise ValueError(f"{name or 'attention'}: config {config.name!r} has no kv_bits")
        self.config = config
        self.name = name
        self.seq = (sequence_transform_from(config.seq_transform, config.transform_parameters())
                    if config.uses_sequence_transform else None)
        self.stats = KVStats()
        self.active = True  # False: K / V pass through in float (weight calibration's forwards)

    def row_bits(self, rows: int, device) -> torch.Tensor:
        """Widths in bits of the cache's `rows` (transformed) rows: first-k at a_high_bits."""
        cfg = self.config
        bits = torch.full((rows,), cfg.kv_bits, dtype=torch.int64, device=device)
        bits[: cfg.kv_high_token_count(rows)] = cfg.a_high_bits
        return bits

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        cfg = self.config
        tokens = x.shape[-2]
        seq = sequence_for(self.seq, tokens, cfg.sink_tokens)
        z = seq.forward(x) if seq is not None else x
        bits = self.row_bits(z.shape[-2], z.device).expand(*z.shape[:-1])
        zq = quantize(z, bits, "per-token", symmetric=cfg.a_symmetric, clip_ratio=cfg.a_clip).dequantize()
        back = seq.inverse(zq, tokens=tokens) if seq is not None else zq
        back = back.to(x.dtype)
        s = self.stats
        s.signal += sum_of_squares(x)
        s.noise += sum_of_squares(x.double() - back.double())
        s.bits_sum += float(bits.double().sum())
        s.rows += int(bits.numel())
        return back


def _attention(module, query, key, value, attention_mask, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    quantizer = getattr(module, _ATTR, None)
    if quantizer is not None:
        key, value = quantizer(key), quantizer(value)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _register() -> None:
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    ALL_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, _attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, sdpa_mask)


def attention_modules(model) -> dict:
    """{name: module} of the attention modules transformers' attention interface runs:
    those with a layer index and K / V projections (k_proj and v_proj, or a fused qkv_proj)."""
    return {name: m for name, m in model.named_modules()
            if hasattr(m, "layer_idx") and (hasattr(m, "k_proj") or hasattr(m, "qkv_proj"))
            and not hasattr(m, "self_attn")}


def install_kv_quantization(model, config: PrecisionConfig | MixedConfig) -> dict[str, KVQuantizer]:
    """Quantize the K / V cache of every attention module whose config has kv_bits (a
    MixedConfig: the config of the module's k_proj). Returns {name: KVQuantizer}; {} when
    no config asks for it. ValueError when one does and the model has no such attention."""
    def config_of(name):
        return config.config_for(f"{name}.k_proj") if isinstance(config, MixedConfig) else config

    remove_kv_quantization(model)
    modules = attention_modules(model)
    wanted = {n: config_of(n) for n in modules if config_of(n).kv_bits is not None}
    asked = any(c.kv_bits is not None for c in (config.configs() if isinstance(config, MixedConfig) else [config]))
    if asked and not wanted:
        raise ValueError(f"config {config.name!r} sets kv_bits, but {type(model).__name__} has no attention module "
                         "transformers' attention interface runs (Llama, Mistral, Qwen2/3, Gemma, Phi-3 style); "
                         "allowed: kv_bits None on this model")
    if not wanted:
        return {}
    _register()
    setattr(model, _SAVED, model.config._attn_implementation)
    model.config._attn_implementation = ATTENTION_NAME
    quantizers = {}
    for name, cfg in wanted.items():
        quantizers[name] = KVQuantizer(cfg, name)
        setattr(modules[name], _ATTR, quantizers[name])
    return quantizers


def remove_kv_quantization(model) -> None:
    """Undo install_kv_quantization: the model's own attention implementation, no quantizers."""
    for module in model.modules():
        if hasattr(module, _ATTR):
            delattr(module, _ATTR)
    if hasattr(model, _SAVED):
        model.config._attn_implementation = getattr(model, _SAVED)
        delattr(model, _SAVED)


def kv_quantizers(model) -> list[KVQuantizer]:
    """Every K / V quantizer installed in `model`."""
    return [q for _, m in model.named_modules() if (q := getattr(m, _ATTR, None)) is not None]


def reset_kv_stats(model) -> None:
    """Start every installed quantizer's statistics afresh (e.g. after calibration passes)."""
    for _, module in model.named_modules():
        quantizer = getattr(module, _ATTR, None)
        if quantizer is not None:
            quantizer.stats = KVStats()


def kv_stats(model) -> dict[str, KVStats]:
    """{attention module name: KVStats} of the installed quantizers."""
    return {n: getattr(m, _ATTR).stats for n, m in model.named_modules() if getattr(m, _ATTR, None) is not None}
