"""The whole forward pass of a decoder priced on a profile: prefill of N tokens, or one
decode step at a context length.

One table, one row per kernel in execution order, whose ``latency_s``, ``energy_pj``
and ``weight_bytes`` sum to the phase's totals:

- every linear layer of the blocks at the config's precision (``pricing.price_config``);
- lm_head as it is simulated: weight-only at the config's ``lm_head_bits``, or fp16
  weights and activations when that is None (``nn.model``), or the precision passed as
  ``lm_head``; prefill computes the logits of
  the last position only, what generation needs (``PREFILL_LOGITS``);
- the rest (attention products, KV cache, norms, rotary, residuals, activation,
  embedding) from ``hw_models.price_decoder``, the cache at the config's ``kv_bits``
  with its STaMP transform (and, under a Hadamard rotation, the online rotation of
  queries and keys a quantized cache needs).

A Hadamard config's rotations are priced where its ``rotation_placement`` runs them
(``pricing.online_rotation``): folded into the weights (free) on every linear layer but
down_proj by default, as QuaRot / SpinQuant deploy them.

``forward_summary`` turns the table into what a user compares: time to first token,
ms per token and tokens/s, energy per token, and peak memory (weights + KV cache + the
largest live activations).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stamp_sim import hw_models
from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.models import workload
from stamp_sim.models.architecture import decoder_shape
from stamp_sim.pricing import kv_precision, price_config

__all__ = ["FORWARD_COLUMNS", "PREFILL_LOGITS", "ForwardSummary", "forward_fields", "forward_summary",
           "lm_head_precision", "price_forward"]

#: results.csv's whole-forward columns (schema.Source.FORWARD), in their units.
FORWARD_COLUMNS = ("ttft_ms", "model_prefill_mj", "model_decode_ms", "model_tokens_per_s", "model_decode_mj",
                   "peak_memory_mb")

#: Positions whose logits prefill computes: the last one (the next token's distribution).
PREFILL_LOGITS = 1
# Execution order of a block's kernels, by kind (linear kinds from models.workload, the
# rest from hw_models.decoder).
_ORDER = {"embedding": -1, "norm": 0, "q": 1, "k": 1, "v": 1, "rotary": 2, "qk_rotation": 2.5, "kv_write": 3,
          "scores": 4, "softmax": 5,
          "values": 6, "o": 7, "residual": 8, "gate": 10, "up": 10, "fc1": 10, "activation": 11, "down": 12, "fc2": 12}
_PARTS = {"scores": "attention", "values": "attention", "softmax": "attention", "kv_write": "kv cache",
          "embedding": "embedding", "lm_head": "lm_head", "call": "call overhead"}


@functools.lru_cache(maxsize=32)
def _traced(model: str, s: int) -> pd.DataFrame:
    # A trace on the meta device takes up to a second for an 8B card; sweeps price one
    # model and length many times over.
    return workload(model, s, include_lm_head=True)


def _linear_rows(model: str, cfg, profile, phase: str, s: int, lm_head: hw_models.LayerPrecision | None,
                 logits: int) -> pd.DataFrame:
    work = _traced(model, s).copy()
    head = work.kind == "lm_head"
    blocks = price_config(work[~head].reset_index(drop=True), cfg, [profile], [phase])
    head_work = work[head].assign(tokens=min(s, logits))
    head_rows = hw_models.price(head_work.reset_index(drop=True), {cfg.name: lm_head or lm_head_precision(cfg)},
                                [profile], [phase])
    return pd.concat([blocks, head_rows], ignore_index=True)


def lm_head_precision(cfg: PrecisionConfig | MixedConfig) -> hw_models.LayerPrecision:
    """lm_head as `cfg` simulates it: weight-only at lm_head_bits (per channel), or fp16."""
    c = cfg.default if isinstance(cfg, MixedConfig) else cfg
    return hw_models.LayerPrecision(w_bits=c.lm_head_bits)


def price_forward(model: str, cfg: PrecisionConfig | MixedConfig, profile: hw_models.HardwareProfile | str,
                  phase: str = "prefill", tokens: int = 512, context: int = 512,
                  lm_head: hw_models.LayerPrecision | None = None, logits: int = PREFILL_LOGITS) -> pd.DataFrame:
    """Every kernel of one forward of causal LM `model` at `cfg` on `profile`.

    phase : "prefill" (`tokens` tokens, their K / V written) or "decode" (one token
    attending to `context` cached tokens). lm_head : its precision (None: as simulated,
    lm_head_precision); logits : prefill positions lm_head computes (1; a static-shape runtime may
    compute all of them). Returns one row per kernel with layer, kind,
    part (linear, lm_head, attention, kv cache, vector, embedding), block, the cost
    columns of hw_models.price / DECODER_COLUMNS (bytes, pJ, seconds) and hw, config, phase.
    """
    prof = hw_models.load_profile(profile) if isinstance(profile, str) else profile
    shape = decoder_shape(model)
    decode = hw_models.Phase(phase) is hw_models.Phase.DECODE
    s = 1 if decode else int(tokens)
    keys = int(context) + 1 if decode else s
    linear = _linear_rows(model, cfg, prof, phase, s, lm_head, logits)
    rest = hw_models.price_decoder(shape, prof, phase, s, context=int(context) if decode else 0,
                                   kv=kv_precision(cfg, keys))
    rest = rest.assign(hw=prof.name, config=cfg.name, phase=phase)
    table = pd.concat([linear.astype({"hw": str, "config": str, "phase": str}), rest], ignore_index=True)
    unnamed = pd.Series(np.where(table.index < len(linear), "linear", "vector"), index=table.index)
    table["part"] = table["kind"].map(_PARTS).fillna(unnamed)
    position = table["kind"].map(_ORDER).fillna(9).to_numpy()
    position = np.where(table.layer.str.endswith("post_norm"), 9, position)
    position = np.where(table.layer.str.endswith("mlp_residual"), 13, position)
    tail = (table.block < 0) & (table.kind != "embedding")
    order = np.where(tail, shape.layers * 100 + (table.kind == "lm_head"), table.block * 100 + position)
    table = table.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    front = ["hw", "config", "phase", "layer", "kind", "part", "block", "tokens", "k", "n"]
    return table[front + [c for c in table.columns if c not in front]]


@dataclass(frozen=True)
class ForwardSummary:
    """One phase of one config: latency_s (the forward), energy_pj, tokens it produced or
    read, weight_bytes, kv_cache_bytes (the cache the attention reads), activation_bytes
    (largest live set), per part (linear, lm_head, attention, ...) the share of latency,
    kernels (rows of the table) and bound (of its summed memory and compute time)."""

    phase: str
    tokens: int
    latency_s: float
    energy_pj: float
    weight_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    latency_share: dict
    kernels: int
    bound: str

    @property
    def peak_memory_bytes(self) -> float:
        return self.weight_bytes + self.kv_cache_bytes + self.activation_bytes

    @property
    def tokens_per_s(self) -> float:
        """Decode: generated tokens/s (1 / latency); prefill: prompt tokens/s."""
        return self.tokens / self.latency_s

    @property
    def energy_per_token_pj(self) -> float:
        return self.energy_pj / self.tokens


def forward_summary(table: pd.DataFrame, model: str) -> ForwardSummary:
    """Totals of one price_forward table (one hw, config, phase) of `model`."""
    linear = table[table.part.isin(["linear", "lm_head"])]
    tokens = int(linear["tokens"].max())  # prefill's prompt; 1 in decode
    # The cache is what the attention products read: K on the scores rows, V on the values rows.
    kv_bytes = table.loc[table.kind.isin(["scores", "values"]), "kv_bytes"].sum()
    # The largest layer's input and output, plus the residual stream they branch from.
    live = (linear["act_bytes"] + linear["out_bytes"]).max() + tokens * decoder_shape(model).hidden * 2.0
    latency = float(table["latency_s"].sum())
    share = (table.groupby("part")["latency_s"].sum() / latency).to_dict()
    bound = hw_models.bound_of(float(table["memory_s"].sum()), float(table["compute_s"].sum()))
    return ForwardSummary(phase=str(table["phase"].iloc[0]), tokens=tokens, latency_s=latency,
                          energy_pj=float(table["energy_pj"].sum()), weight_bytes=float(table["weight_bytes"].sum()),
                          kv_cache_bytes=float(kv_bytes), activation_bytes=float(live), latency_share=share,
                          kernels=len(table), bound=bound)


def forward_fields(model: str, cfg, profile: hw_models.HardwareProfile, tokens: int) -> dict:
    """results.csv's FORWARD_COLUMNS of `cfg` on `profile`: prefill of `tokens` tokens and
    one decode step at a context of `tokens`; NaN for a model that is not a decoder."""
    from stamp_sim.models import ModelKind, model_spec

    if model_spec(model).kind is not ModelKind.CAUSAL_LM:
        return {name: float("nan") for name in FORWARD_COLUMNS}
    u = hw_models.units
    pre = forward_summary(price_forward(model, cfg, profile, "prefill", tokens), model)
    dec = forward_summary(price_forward(model, cfg, profile, "decode", context=tokens), model)
    return {"ttft_ms": float(u.s_to_ms(pre.latency_s)), "model_prefill_mj": float(u.pj_to_mj(pre.energy_pj)),
            "model_decode_ms": float(u.s_to_ms(dec.latency_s)), "model_tokens_per_s": float(dec.tokens_per_s),
            "model_decode_mj": float(u.pj_to_mj(dec.energy_pj)),
            "peak_memory_mb": float(u.bytes_to_mb(max(pre.peak_memory_bytes, dec.peak_memory_bytes)))}
