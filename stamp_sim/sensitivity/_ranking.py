"""Sensitivity rankings and how well each agrees with the true perplexity increase.

Every metric is turned into a score where higher means more sensitive: KL, logit MSE and
delta cross-entropy as measured, layer-output SQNR negated (less SQNR = more noise). The
"oracle" ranks by the measured perplexity increase itself (on the evaluation windows, so
it is the best any surrogate can do there, not a deployable method).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

__all__ = ["METRICS", "kendall_table", "sensitivity_score"]

# ranking name -> (sensitivity.csv column, sign making higher = more sensitive)
METRICS: dict[str, tuple[str, float]] = {
    "kl": ("kl", 1.0),
    "mse": ("mse", 1.0),
    "sqnr": ("sqnr_db", -1.0),
    "delta_ce": ("delta_ce", 1.0),
    "oracle": ("ppl_increase", 1.0),
}


def sensitivity_score(sens: pd.DataFrame, metric: str) -> np.ndarray:
    """Scores (higher = more sensitive) of every row of a sensitivity table for `metric`.

    An SQNR of +inf (no error at all) scores -inf: least sensitive.
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is unknown; allowed: {', '.join(sorted(METRICS))}")
    column, sign = METRICS[metric]
    return sign * sens[column].to_numpy(dtype=float)


def _tau(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    keep = ~np.isnan(x) & ~np.isnan(y)  # +-inf (an exact SQNR) still orders
    if keep.sum() < 2:
        return math.nan, math.nan
    result = kendalltau(x[keep], y[keep])  # tau-b: ties in either ranking are accounted for
    return float(result.statistic), float(result.pvalue)


def kendall_table(sens: pd.DataFrame, metrics=("kl", "mse", "sqnr", "delta_ce")) -> pd.DataFrame:
    """Kendall tau-b of each metric's scores against the perplexity increase.

    One row per (metric, candidate), candidate "all" pooling every (group, candidate)
    pair; +1 means the metric orders the pairs exactly as the true perplexity increase.
    Columns: metric, candidate, tau, p_value, n.
    """
    truth = sens["ppl_increase"].to_numpy(dtype=float)
    rows = []
    for metric in metrics:
        score = sensitivity_score(sens, metric)
        parts = [("all", np.ones(len(sens), dtype=bool))]
        parts += [(c, (sens["config"] == c).to_numpy()) for c in dict.fromkeys(sens["config"])]
        for name, mask in parts:
            tau, p = _tau(score[mask], truth[mask])
            rows.append({"metric": metric, "candidate": name, "tau": tau, "p_value": p, "n": int(mask.sum())})
    return pd.DataFrame(rows)
