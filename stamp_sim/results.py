"""Rows of results.csv and layers.csv for one evaluated config, in the schema's column order.

The values come from the config (widths, transforms), the accuracy measurement, the
layers' statistics, the integer check and the pricing; ``stamp_sim.schema`` declares
what each column is. A MixedConfig reports MAC-weighted mean widths.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.config_eval import ConfigEvaluation
from stamp_sim.pricing import accumulator_bits
from stamp_sim.schema import FLOAT_BITS, LAYERS_COLUMNS, RESULTS_COLUMNS

__all__ = ["config_fields", "layer_rows", "ordered", "result_rows"]


def _width(bits: int | None) -> int:
    return FLOAT_BITS if bits is None else bits


def _single_fields(cfg: PrecisionConfig) -> dict:
    a = cfg.accumulator
    return {
        "w_bits": _width(cfg.w_bits), "a_bits": _width(cfg.a_bits),
        "acc_bits": accumulator_bits(cfg),
        "acc": a.describe() if a is not None else ("fp32" if cfg.w_bits is None else "exact"),
        "acc_mode": a.mode.value if a is not None else "exact", "acc_tile": a.tile if a is not None else None,
        "weight_method": cfg.weight_method, "weight_l1": cfg.weight_l1,
        "seq_transform": cfg.seq_transform, "feature_transform": cfg.feature_transform,
        "kv_bits": _width(cfg.kv_bits), "lm_head_bits": _width(cfg.lm_head_bits),
    }


def _mixed_fields(cfg: MixedConfig, work: pd.DataFrame) -> dict:
    """MAC-weighted mean widths of a per-layer allocation."""
    macs = (work.tokens * work.k * work.n).to_numpy(dtype=float)
    cfgs = [cfg.config_for(n) for n in work.layer]
    mean = lambda f: float(np.average([f(c) for c in cfgs], weights=macs))  # noqa: E731
    return {
        "w_bits": mean(lambda c: _width(c.w_bits)), "a_bits": mean(lambda c: _width(c.a_bits)),
        "acc_bits": mean(accumulator_bits), "acc": "mixed", "acc_mode": "mixed", "acc_tile": None,
        "weight_method": "mixed", "weight_l1": "mixed", "seq_transform": "mixed", "feature_transform": "mixed",
        "kv_bits": _width(cfg.default.kv_bits), "lm_head_bits": _width(cfg.default.lm_head_bits),
    }


def config_fields(cfg: PrecisionConfig | MixedConfig, work: pd.DataFrame,
                  baseline: PrecisionConfig | None = None) -> dict:
    """The config's columns: widths, accumulator, transforms, baseline and what differs from it."""
    if isinstance(cfg, MixedConfig):
        return {"config": cfg.name, **_mixed_fields(cfg, work), "baseline": "", "baseline_change": ""}
    return {"config": cfg.name, **_single_fields(cfg),
            "baseline": baseline.name if baseline is not None else "",
            "baseline_change": cfg.changes_from(baseline) if baseline is not None else ""}


def _avg_a_bits(cfg, layers: pd.DataFrame, tokens: int) -> float:
    if len(layers) and layers.avg_a_bits.notna().any():
        return float(layers.avg_a_bits.mean())
    return cfg.average_activation_bits(tokens) if isinstance(cfg, PrecisionConfig) else float(FLOAT_BITS)


def _mean_sqnr(layers: pd.DataFrame) -> float:
    return float(layers.act_sqnr_db.replace([math.inf], np.nan).mean()) if len(layers) else math.nan


def ordered(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """`frame` with the declared `columns` first, in order (those present), then any others."""
    names = [c.name for c in columns if c.name in frame.columns]
    return frame[names + [c for c in frame.columns if c not in names]]


def result_rows(run_fields: dict, fields: dict, cfg, ev: ConfigEvaluation, layers: pd.DataFrame,
                costs: pd.DataFrame) -> pd.DataFrame:
    """results.csv rows of one config, one per profile of `costs` (pricing.cost_summary).

    run_fields : model, tokens, windows. fields : config_fields(...). ev : the evaluation
    (accuracy, overflow counts, the agreement check). layers : this config's layers.csv rows.
    """
    row = {
        **run_fields, **fields,
        "avg_a_bits": _avg_a_bits(cfg, layers, run_fields["tokens"]),
        **{k: ev.accuracy.get(k, math.nan) for k in ("ppl", "kl", "top1", "out_sqnr_db", "cosine")},
        "sqnr_db": _mean_sqnr(layers), **ev.overflow_fields, **ev.check.fields(),
        "avg_kv_bits": ev.kv.get("avg_kv_bits", float(fields.get("kv_bits", FLOAT_BITS))),
        "kv_sqnr_db": ev.kv.get("kv_sqnr_db", math.nan),
    }
    return ordered(pd.DataFrame([{**row, **c} for c in costs.to_dict("records")]), RESULTS_COLUMNS)


def layer_rows(model: str, config: str, stats: pd.DataFrame) -> pd.DataFrame:
    """layers.csv rows of one config: nn.layer_stats' table (overflow counts from the evaluation)."""
    out = stats.reset_index(drop=True)
    out.insert(0, "config", config)
    out.insert(0, "model", model)
    out["layer_index"] = np.arange(len(out))
    return ordered(out, LAYERS_COLUMNS)
