"""Matched comparisons: each config that declares a baseline, read from the results table.

A preset names the config it is compared with at a matched budget (PrecisionConfig's
``baseline``); results.csv carries it in the ``baseline`` column and what differs in
``baseline_change``. Renaming a preset therefore renames its comparison with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["Pair", "baseline_pairs", "stamp_pairs"]


@dataclass(frozen=True)
class Pair:
    """candidate vs baseline; change says what differs, e.g. 'seq_transform identity -> dwt'."""

    candidate: str
    baseline: str
    change: str


def baseline_pairs(results: pd.DataFrame) -> list[Pair]:
    """Every (config, its baseline) pair with both in ``results``, in the table's order."""
    if "baseline" not in results.columns:
        return []
    present = set(results["config"].astype(str))
    rows = results.drop_duplicates("config")
    out = []
    for _, row in rows.iterrows():
        base = row["baseline"]
        if isinstance(base, str) and base and base in present:
            change = row.get("baseline_change", "")
            out.append(Pair(str(row["config"]), base, change if isinstance(change, str) else ""))
    return out


def stamp_pairs(results: pd.DataFrame) -> list[Pair]:
    """The pairs that isolate a sequence transform (with STaMP vs without it)."""
    return [p for p in baseline_pairs(results) if "seq_transform" in p.change]
