"""The whole forward pass of a decoder priced on a profile: prefill of N tokens, or one
decode step at a context length.

The model is resolved once to its ``ModelGeometry`` (``models.geometry_hf.geometry``; a
geometry passed in is used as is), and everything priced derives from it: the linear GEMM
rows and the DecoderShape (``models.architecture``). One table, one row per kernel in
execution order, whose ``latency_s``, ``energy_pj`` and ``weight_bytes`` sum to the
phase's totals:

- every linear layer of the blocks at the config's precision (``layer_pricing.price_config``);
  an MoE block's router in fp16 (runtimes keep it in float; the simulated model never
  quantizes it), its experts as ``models.architecture`` routes them (top_k experts per
  token, each expert touched reading its weights once), its shared expert at the config;
- lm_head as it is simulated: weight-only at the config's ``lm_head_bits``, or fp16
  weights and activations when that is None (``nn.model``), or the precision passed as
  ``lm_head``; prefill computes the logits of
  the last position only, what generation needs (``PREFILL_LOGITS``);
- the rest (attention products, KV cache, norms, rotary, residuals, activation,
  embedding) from ``hw_models.price_decoder``, the cache at the config's ``kv_bits``
  with its STaMP transform (and, under a Hadamard rotation, the online rotation of
  queries and keys a quantized cache needs).

A Hadamard config's rotations are priced where its ``rotation_placement`` runs them
(``layer_pricing.online_rotation``): folded into the weights (free) on every linear layer but
down_proj by default, as QuaRot / SpinQuant deploy them.

``forward_summary`` turns the table into what a user compares: time to first token,
ms per token and tokens/s, energy per token, and peak memory (weights + KV cache + the
largest live activations; an MoE's weights count every expert, though a step reads only
those routed to).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stamp_sim import hw_models
from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.layer_pricing import kv_precision, price_config
from stamp_sim.models.architecture import decoder_shape_of, gemm_rows
from stamp_sim.models.geometry import BlockKind, ModelGeometry
from stamp_sim.models.geometry_hf import UnsupportedArchitectureError, geometry

__all__ = ["FORWARD_COLUMNS", "PREFILL_LOGITS", "ForwardSummary", "forward_fields", "forward_summary",
           "lm_head_precision", "price_forward"]

#: results.csv's whole-forward columns (schema.Source.FORWARD), in their units.
FORWARD_COLUMNS = ("ttft_ms", "model_prefill_mj", "model_decode_ms", "model_tokens_per_s", "model_decode_mj",
                   "peak_memory_mb")

#: Positions whose logits prefill computes: the last one (the next token's distribution).
PREFILL_LOGITS = 1
# Execution order of a block's kernels, by kind (linear kinds from models.architecture, the
# rest from hw_models.decoder); norms placed by name (_BY_NAME) where one kind runs twice.
_ORDER = {"embedding": -1, "norm": 0, "q": 1, "k": 1, "v": 1, "qkv": 1, "qk_norm": 1.5, "rotary": 2,
          "qk_rotation": 2.5, "kv_write": 3, "scores": 4, "softmax": 5, "values": 6, "o": 7, "residual": 8,
          "router": 9.5, "router_softmax": 9.6, "gate": 10, "up": 10, "gate_up": 10, "fc1": 10, "activation": 11,
          "down": 12, "fc2": 12, "shared_gate": 12.2, "expert_combine": 12.5}
_BY_NAME = {"attn_out_norm": 7.5, "post_norm": 9, "mlp_out_norm": 12.7, "mlp_residual": 13}
_PARTS = {"scores": "attention", "values": "attention", "softmax": "attention", "kv_write": "kv cache",
          "embedding": "embedding", "lm_head": "lm_head", "call": "call overhead"}
# Linear kinds priced in fp16 whatever the config: a runtime keeps an MoE router in float.
_FLOAT_KINDS = ("router",)


def _linear_rows(geo: ModelGeometry, cfg, profile, phase: str, s: int, lm_head: hw_models.LayerPrecision | None,
                 logits: int) -> pd.DataFrame:
    work = gemm_rows(geo, s)
    head = work.kind == "lm_head"
    floats = work.kind.isin(_FLOAT_KINDS)
    blocks = price_config(work[~head & ~floats].reset_index(drop=True), cfg, [profile], [phase])
    parts = [blocks]
    if floats.any():
        parts.append(hw_models.price(work[floats].reset_index(drop=True), {cfg.name: hw_models.LayerPrecision()},
                                     [profile], [phase]))
    head_work = work[head].assign(tokens=min(s, logits))
    parts.append(hw_models.price(head_work.reset_index(drop=True), {cfg.name: lm_head or lm_head_precision(cfg)},
                                 [profile], [phase]))
    return pd.concat(parts, ignore_index=True)


def lm_head_precision(cfg: PrecisionConfig | MixedConfig) -> hw_models.LayerPrecision:
    """lm_head as `cfg` simulates it: weight-only at lm_head_bits (per channel), or fp16."""
    c = cfg.default if isinstance(cfg, MixedConfig) else cfg
    return hw_models.LayerPrecision(w_bits=c.lm_head_bits)


def price_forward(model: str | ModelGeometry, cfg: PrecisionConfig | MixedConfig,
                  profile: hw_models.HardwareProfile | str, phase: str = "prefill", tokens: int = 512,
                  context: int = 512, lm_head: hw_models.LayerPrecision | None = None,
                  logits: int = PREFILL_LOGITS) -> pd.DataFrame:
    """Every kernel of one forward of causal LM `model` at `cfg` on `profile`.

    model : a ModelGeometry, or anything ``models.geometry_hf.geometry`` takes (a name, card
    or path as --model takes it), resolved once. phase : "prefill" (`tokens` tokens, their
    K / V written) or "decode" (one token attending to `context` cached tokens, or a
    sliding-window block's last window). lm_head : its precision (None: as simulated,
    lm_head_precision); logits : prefill positions lm_head computes (1; a static-shape runtime may
    compute all of them). Returns one row per kernel with layer, kind,
    part (linear, lm_head, attention, kv cache, vector, embedding), block, expert (an MoE
    row's expert, else -1), the cost columns of hw_models.price / DECODER_COLUMNS (bytes,
    pJ, seconds) and hw, config, phase.
    """
    prof = hw_models.load_profile(profile) if isinstance(profile, str) else profile
    geo = geometry(model)
    shape = decoder_shape_of(geo)
    decode = hw_models.Phase(phase) is hw_models.Phase.DECODE
    s = 1 if decode else int(tokens)
    keys = int(context) + 1 if decode else s
    linear = _linear_rows(geo, cfg, prof, phase, s, lm_head, logits)
    rest = hw_models.price_decoder(shape, prof, phase, s, context=int(context) if decode else 0,
                                   kv=kv_precision(cfg, keys))
    rest = rest.assign(hw=prof.name, config=cfg.name, phase=phase, expert=-1)
    table = pd.concat([linear.astype({"hw": str, "config": str, "phase": str}), rest], ignore_index=True)
    unnamed = pd.Series(np.where(table.index < len(linear), "linear", "vector"), index=table.index)
    table["part"] = table["kind"].map(_PARTS).fillna(unnamed)
    position = table["kind"].map(_ORDER).fillna(9).to_numpy()
    for suffix, place in _BY_NAME.items():
        position = np.where(table.layer.str.endswith(suffix), place, position)
    tail = (table.block < 0) & (table.kind != "embedding")
    order = np.where(tail, shape.layers * 100 + (table.kind == "lm_head"), table.block * 100 + position)
    table = table.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    front = ["hw", "config", "phase", "layer", "kind", "part", "block", "expert", "tokens", "k", "n"]
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


def _resident_weight_bytes(table: pd.DataFrame, geo: ModelGeometry) -> float:
    """Weight bytes stored: the table's (bytes read), plus the experts of an MoE block that
    no row touched (an expert GEMM's untouched copies cost what one touched copy read)."""
    read = float(table["weight_bytes"].sum())
    experts = table[table["expert"] >= 0] if "expert" in table.columns else table.iloc[:0]
    if experts.empty:
        return read
    copies = {b.layer: b.mlp.experts for b in geo.blocks_of(BlockKind.MOE_MLP)}
    untouched = 0.0
    for (block, _), rows in experts.groupby([experts.block, experts.layer.str.rsplit(".", n=1).str[-1]]):
        untouched += (copies[int(block)] - len(rows)) * float(rows["weight_bytes"].iloc[0])
    return read + untouched


def forward_summary(table: pd.DataFrame, model: str | ModelGeometry) -> ForwardSummary:
    """Totals of one price_forward table (one hw, config, phase) of `model` (a name or its
    ModelGeometry); weight_bytes counts every expert of an MoE."""
    geo = geometry(model)
    linear = table[table.part.isin(["linear", "lm_head"])]
    tokens = int(linear["tokens"].max())  # prefill's prompt; 1 in decode
    # The cache is what the attention products read: K on the scores rows, V on the values rows.
    kv_bytes = table.loc[table.kind.isin(["scores", "values"]), "kv_bytes"].sum()
    # The largest layer's input and output, plus the residual stream they branch from.
    live = (linear["act_bytes"] + linear["out_bytes"]).max() + tokens * geo.hidden * 2.0
    latency = float(table["latency_s"].sum())
    share = (table.groupby("part")["latency_s"].sum() / latency).to_dict()
    bound = hw_models.bound_of(float(table["memory_s"].sum()), float(table["compute_s"].sum()))
    return ForwardSummary(phase=str(table["phase"].iloc[0]), tokens=tokens, latency_s=latency,
                          energy_pj=float(table["energy_pj"].sum()),
                          weight_bytes=_resident_weight_bytes(table, geo),
                          kv_cache_bytes=float(kv_bytes), activation_bytes=float(live), latency_share=share,
                          kernels=len(table), bound=bound)


def forward_fields(model: str | ModelGeometry, cfg, profile: hw_models.HardwareProfile, tokens: int) -> dict:
    """results.csv's FORWARD_COLUMNS of `cfg` on `profile`: prefill of `tokens` tokens and
    one decode step at a context of `tokens`; NaN for a model that is not a decoder, or a
    decoder family with no geometry (models.geometry_hf.SUPPORTED_FAMILIES)."""
    from stamp_sim.models import ModelKind, model_spec

    nan = {name: float("nan") for name in FORWARD_COLUMNS}
    if isinstance(model, str) and model_spec(model).kind is not ModelKind.CAUSAL_LM:
        return nan
    try:
        geo = geometry(model)
    except UnsupportedArchitectureError:
        return nan
    u = hw_models.units
    pre = forward_summary(price_forward(geo, cfg, profile, "prefill", tokens), geo)
    dec = forward_summary(price_forward(geo, cfg, profile, "decode", context=tokens), geo)
    return {"ttft_ms": float(u.s_to_ms(pre.latency_s)), "model_prefill_mj": float(u.pj_to_mj(pre.energy_pj)),
            "model_decode_ms": float(u.s_to_ms(dec.latency_s)), "model_tokens_per_s": float(dec.tokens_per_s),
            "model_decode_mj": float(u.pj_to_mj(dec.energy_pj)),
            "peak_memory_mb": float(u.bytes_to_mb(max(pre.peak_memory_bytes, dec.peak_memory_bytes)))}
