"""Pricing: results.csv's cost columns of a config, from its layers' prices
(``layer_pricing``), its K / V cache and, for a decoder, its whole forward (``forward_cost``).

Used by every workflow that prices (run, sensitivity, the ``cost`` command). The mapping
of a PrecisionConfig onto hw_models' fields lives in ``layer_pricing`` and is re-exported
here, so ``from stamp_sim.pricing import price_workload`` keeps working; ``forward_cost``
imports ``layer_pricing``, not this module, so the two never import each other.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from stamp_sim import hw_models
from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.forward_cost import FORWARD_COLUMNS, forward_fields
from stamp_sim.layer_pricing import (
    ONLINE_ROTATION_KINDS,
    accumulator_bits,
    kv_precision,
    layer_precision,
    online_rotation,
    price_config,
    price_workload,
)
from stamp_sim.schema import COST_COLUMNS, Source

__all__ = ["ONLINE_ROTATION_KINDS", "accumulator_bits", "cost_summary", "kv_cache_fields", "kv_precision",
           "layer_precision", "online_rotation", "price_config", "price_workload"]


def kv_cache_fields(cfg: PrecisionConfig | MixedConfig, shape: hw_models.KVCacheShape | None, tokens: int,
                    profile: hw_models.HardwareProfile) -> dict:
    """results.csv's K / V cache columns (kv_cache_mb, kv_prefill_mj, decode_kv_read_ms) of
    `cfg` on `profile` at `tokens` tokens; NaN without a cache (shape None). A MixedConfig
    is priced at its default config's cache (the cache is one tensor per block)."""
    if shape is None:
        return {"kv_cache_mb": float("nan"), "kv_prefill_mj": float("nan"), "decode_kv_read_ms": float("nan")}
    cost = kv_precision(cfg, int(tokens)).cache_cost(profile, shape, int(tokens))
    return {"kv_cache_mb": float(hw_models.units.bytes_to_mb(cost.bytes)),
            "kv_prefill_mj": float(hw_models.units.pj_to_mj(cost.write_pj + cost.transform_pj)),
            "decode_kv_read_ms": float(hw_models.units.s_to_ms(cost.read_s))}


def cost_summary(work: pd.DataFrame, cfg: PrecisionConfig | MixedConfig, profiles: Sequence,
                 kv_shape: hw_models.KVCacheShape | None = None, model: str | None = None) -> pd.DataFrame:
    """One row per profile: hw and results.csv's cost columns (schema.COST_COLUMNS, in their
    units), ``bound`` and ``memory_bound_share`` of the prefill, from hw_models.totals, the
    K / V cache's columns (kv_cache_fields) at the workload's tokens, and, given the
    decoder's `model` name, the whole forward's columns (forward_cost.forward_fields)."""
    tot = hw_models.totals(price_config(work, cfg, profiles))
    rows = []
    for hw, grp in tot.groupby("hw", observed=True, sort=False):
        phase = {p: grp[grp.phase == p].iloc[0] for p in ("prefill", "decode")}
        row = {"hw": str(hw)}
        for col in COST_COLUMNS:
            row[col.name] = col.from_totals(phase["decode" if col.source is Source.DECODE else "prefill"])
        row["memory_bound_share"] = float(phase["prefill"]["memory_bound_share"])
        row["bound"] = str(phase["prefill"]["bound"])
        profile, tokens = _profile(profiles, str(hw)), int(work.tokens.max())
        row.update(kv_cache_fields(cfg, kv_shape, tokens, profile))
        row.update(_forward_fields(model, cfg, profile, tokens))
        rows.append(row)
    return pd.DataFrame(rows)


def _forward_fields(model: str | None, cfg, profile: hw_models.HardwareProfile, tokens: int) -> dict:
    if model is None:
        return {name: float("nan") for name in FORWARD_COLUMNS}
    return forward_fields(model, cfg, profile, tokens)


def _profile(profiles: Sequence, name: str) -> hw_models.HardwareProfile:
    for p in profiles:
        profile = hw_models.load_profile(p) if isinstance(p, str) else p
        if profile.name == name:
            return profile
    raise ValueError(f"profile {name!r} is not among the priced profiles")
