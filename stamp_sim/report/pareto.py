"""Pareto fronts and budgeted choices over a results table (cost lower is better)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from stamp_sim.report.columns import require_columns
from stamp_sim.report.errors import ReportError

__all__ = ["best_under_budgets", "dominators", "pareto_front"]


def _numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _goodness(df: pd.DataFrame, quality: str, higher_is_better: bool) -> np.ndarray:
    # One orientation for the sweep: larger is better.
    q = _numeric(df, quality)
    return q if higher_is_better else -q


def pareto_front(df: pd.DataFrame, cost: str, quality: str, higher_is_better: bool) -> pd.Series:
    """Boolean mask (indexed like ``df``) of the non-dominated rows.

    Row i is dominated when another row j has cost_j <= cost_i and quality at least
    as good, with at least one of the two strictly better. Rows tied exactly on both
    are all kept (neither dominates the other). Rows whose cost or quality is NaN or
    infinite are excluded (False): they cannot be placed on the trade-off.

    O(n log n): sort by cost, then sweep keeping the best quality seen so far.
    """
    require_columns(df, [cost, quality], "pareto_front")
    c = _numeric(df, cost)
    g = _goodness(df, quality, higher_is_better)
    mask = np.zeros(len(df), dtype=bool)
    valid = np.flatnonzero(np.isfinite(c) & np.isfinite(g))
    order = valid[np.lexsort((-g[valid], c[valid]))]
    best_cheaper = -np.inf  # best quality among strictly cheaper rows
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and c[order[j]] == c[order[i]]:
            j += 1
        group = order[i:j]
        top = g[group].max()
        if top > best_cheaper:
            mask[group[g[group] == top]] = True
        best_cheaper = max(best_cheaper, top)
        i = j
    return pd.Series(mask, index=df.index, name="pareto")


def dominators(df: pd.DataFrame, cost: str, quality: str, higher_is_better: bool) -> pd.Series:
    """For each row, the index label of the row that dominates it best (best quality, then
    cheapest), or None when nothing dominates it (or its values are missing)."""
    require_columns(df, [cost, quality], "dominators")
    c = _numeric(df, cost)
    g = _goodness(df, quality, higher_is_better)
    ok = np.isfinite(c) & np.isfinite(g)
    out = []
    for i in range(len(df)):
        if not ok[i]:
            out.append(None)
            continue
        dom = ok & (c <= c[i]) & (g >= g[i]) & ((c < c[i]) | (g > g[i]))
        idx = np.flatnonzero(dom)
        if len(idx) == 0:
            out.append(None)
            continue
        best = idx[np.lexsort((c[idx], -g[idx]))[0]]
        out.append(df.index[best])
    return pd.Series(out, index=df.index, name="dominated_by", dtype=object)


def best_under_budgets(
    df: pd.DataFrame, cost: str, quality: str, higher_is_better: bool, budgets: Iterable[float]
) -> pd.DataFrame:
    """For each budget, the row with the best quality among rows with cost <= budget.

    Ties on quality go to the cheaper row, then to the earlier row. Returns one row
    per budget, in the given order: a ``budget`` column (same unit as ``cost``), a
    ``feasible`` flag (False when nothing fits; the other columns are then missing),
    and the chosen row's columns. Rows with a missing cost or quality never qualify.
    """
    require_columns(df, [cost, quality], "best_under_budgets")
    budgets = [float(b) for b in budgets]
    if any(np.isnan(b) for b in budgets):
        raise ReportError(f"best_under_budgets: budgets={budgets!r} contain NaN; allowed: numbers")
    c = _numeric(df, cost)
    g = _goodness(df, quality, higher_is_better)
    ok = np.isfinite(c) & np.isfinite(g)
    positions = np.arange(len(df))
    rows = []
    for budget in budgets:
        idx = np.flatnonzero(ok & (c <= budget))
        if len(idx):
            pick = idx[np.lexsort((positions[idx], c[idx], -g[idx]))[0]]
            rows.append({"budget": budget, "feasible": True, **df.iloc[pick].to_dict()})
        else:
            rows.append({"budget": budget, "feasible": False})
    columns = ["budget", "feasible"] + [col for col in df.columns if col not in ("budget", "feasible")]
    return pd.DataFrame(rows, columns=columns)
