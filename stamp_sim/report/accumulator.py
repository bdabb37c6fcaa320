"""Accumulator width vs accuracy: configs that differ only in their accumulator, side by side.

A sweep is a set of configs equal in everything the results table records but the
accumulator (width, mode, tile): same widths, transforms and weight method. Each sweep
series is one weight method (RTN, GPTQ, GPFQ; with an L1 bound: A2Q / AXE), one
accumulator mode and one stage layout (single stage, or tiles of T). The figure shows
perplexity against the inner accumulator width, with the overflow rate beside it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["SWEEP_KEY", "accumulator_sweep_figure", "accumulator_sweeps", "sweep_items"]

#: Columns that must agree for two configs to be one sweep.
SWEEP_KEY = ("w_bits", "a_bits", "avg_a_bits", "seq_transform", "feature_transform")
_NEEDED = (*SWEEP_KEY, "config", "acc_bits", "acc_mode", "weight_method", "weight_l1", "ppl")


def _method(row) -> str:
    base = str(row["weight_method"]).upper()
    l1 = str(row["weight_l1"])
    if l1 in ("", "none", "nan"):
        return base
    return f"AXE ({base}, {l1})" if base in ("GPTQ", "GPFQ") else f"{base}+{l1.upper()}"


def _stage(row) -> str:
    tile = row.get("acc_tile")
    return "single stage" if tile is None or (isinstance(tile, float) and math.isnan(tile)) else f"tiles of {int(tile)}"


def accumulator_sweeps(results: pd.DataFrame) -> pd.DataFrame:
    """One row per config of a sweep (first profile only: accuracy is the same on every one):
    sweep (e.g. 'W4A8'), method ('GPTQ', 'AXE (GPTQ, a2q+)'), mode, stage ('single stage',
    'tiles of 64'), series (method, mode, stage), acc_bits, ppl, overflow_rate, config.
    Empty when no two configs differ only in their accumulator."""
    if any(c not in results.columns for c in _NEEDED):
        return pd.DataFrame()
    df = results.drop_duplicates("config").copy()
    df = df[pd.to_numeric(df["ppl"], errors="coerce").notna() & (df["acc_mode"].astype(str) != "mixed")]
    if df.empty:
        return pd.DataFrame()
    df["_key"] = df[list(SWEEP_KEY)].astype(str).agg("|".join, axis=1)
    df["_acc"] = df[["acc_bits", "acc_mode"]].astype(str).agg("|".join, axis=1) + "|" + df.apply(_stage, axis=1)
    sizes = df.groupby("_key")["_acc"].nunique()
    df = df[df["_key"].map(sizes) > 1]
    if df.empty:
        return pd.DataFrame()
    rate = df["overflow_rate"] if "overflow_rate" in df.columns else np.nan
    methods = [_method(r) for _, r in df.iterrows()]
    stages = [_stage(r) for _, r in df.iterrows()]
    return pd.DataFrame({
        "sweep": [f"W{int(w)}A{int(a)}" for w, a in zip(df["w_bits"], df["a_bits"])],
        "method": methods, "mode": df["acc_mode"].astype(str).to_numpy(), "stage": stages,
        "series": [f"{m}, {mode}, {st}" for m, mode, st in zip(methods, df["acc_mode"], stages)],
        "acc_bits": df["acc_bits"].astype(float).to_numpy(),
        "ppl": df["ppl"].astype(float).to_numpy(), "overflow_rate": np.asarray(rate, dtype=float),
        "config": df["config"].astype(str).to_numpy(),
    })


_STAGE_MARKERS = ("s", "^", "D", "v", "P")


def _draw(top, bottom, part: pd.DataFrame, colors: dict) -> None:
    """Single-stage series as lines, each tiled layout as markers of its own shape."""
    tiled = sorted({s for s in part["stage"] if s != "single stage"}, key=lambda s: int(s.rsplit(" ", 1)[1]))
    for method, rows in part.groupby("method", sort=False):
        color = colors[method]
        single = rows[rows["stage"] == "single stage"].sort_values("acc_bits")
        top.plot(single["acc_bits"], single["ppl"], "-o", ms=3, color=color, label=method)
        bottom.plot(single["acc_bits"], single["overflow_rate"], "-o", ms=3, color=color)
        for stage, marker in zip(tiled, _STAGE_MARKERS):
            pts = rows[rows["stage"] == stage]
            top.scatter(pts["acc_bits"], pts["ppl"], marker=marker, color=color, s=28, zorder=3)
            bottom.scatter(pts["acc_bits"], pts["overflow_rate"], marker=marker, color=color, s=28, zorder=3)
    for stage, marker in zip(tiled, _STAGE_MARKERS):
        top.scatter([], [], marker=marker, color="0.4", label=f"{stage} (inner bits shown)")


def accumulator_sweep_figure(sweeps: pd.DataFrame) -> Figure:
    """Perplexity (top) and overflow rate (bottom) against inner accumulator width: one column
    of panels per (sweep, mode), one colour per weight method, lines for single-stage
    accumulators and markers for tiled (multi-stage) ones."""
    panels = list(dict.fromkeys(zip(sweeps["sweep"], sweeps["mode"])))
    colors = {m: f"C{i % 10}" for i, m in enumerate(dict.fromkeys(sweeps["method"]))}
    fig = Figure(figsize=(5.2 * len(panels), 7.4))
    FigureCanvasAgg(fig)
    for i, (name, mode) in enumerate(panels):
        top = fig.add_subplot(2, len(panels), i + 1)
        bottom = fig.add_subplot(2, len(panels), len(panels) + i + 1, sharex=top)
        part = sweeps[(sweeps["sweep"] == name) & (sweeps["mode"] == mode)]
        _draw(top, bottom, part, colors)
        if part["ppl"].max() / max(part["ppl"].min(), 1e-12) > 10:
            top.set_yscale("log")
        top.set_title(f"{name}, {mode}: accumulator width vs accuracy", fontsize=10)
        top.set_ylabel("perplexity, lower is better")
        bottom.set_ylabel("overflow rate (share of outputs)")
        bottom.set_xlabel("inner accumulator bits")
        bottom.xaxis.get_major_locator().set_params(integer=True)
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
        top.legend(fontsize=7)
    fig.tight_layout()
    return fig


def sweep_items(sweeps: pd.DataFrame) -> list[str]:
    """One sentence per series: its perplexity at the narrowest and widest width, and where
    it first overflows."""
    items = []
    for (sweep, series), rows in sweeps.groupby(["sweep", "series"], sort=False):
        rows = rows.sort_values("acc_bits")
        lo, hi = rows.iloc[0], rows.iloc[-1]
        overflowing = rows[rows["overflow_rate"] > 0]
        where = (f"outputs overflow from {int(overflowing['acc_bits'].max())} bits down"
                 if len(overflowing) else "no output overflows at any width measured")
        span = (f"perplexity {hi['ppl']:.4g} at {int(hi['acc_bits'])} bits" if len(rows) == 1 else
                f"perplexity {hi['ppl']:.4g} at {int(hi['acc_bits'])} bits, {lo['ppl']:.4g} at {int(lo['acc_bits'])} bits")
        if len(rows) == 1:
            where = "its outputs overflow" if len(overflowing) else "no output overflows"
        items.append(f"{sweep}, {series}: {span}; {where}.")
    return items
