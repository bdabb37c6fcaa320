"""Which configs are too inaccurate to recommend, by one stated rule, and what the numbers cover.

A config whose accuracy is far from the float model's is still shown in every table and
figure, but the findings never name it as the knee, the cheapest pick or the best config
under a budget. The rule is written out in the report beside its verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["FLOAT_CONFIG", "MAX_PPL_RATIO", "MIN_OUT_SQNR_DB", "coverage", "unusable", "usability_rule",
           "usable_ppl_limit"]

#: The float reference config (a preset) the perplexity rule compares with.
FLOAT_CONFIG = "fp"
#: A language model config is unusable when its perplexity exceeds this multiple of the float model's.
MAX_PPL_RATIO = 2.0
#: An encoder / ViT config is unusable when its output SQNR against the float model is below this (dB):
#: 10 dB is an output error of a tenth of the output's power.
MIN_OUT_SQNR_DB = 10.0


def _value(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _float_ppl(results: pd.DataFrame) -> float:
    rows = results.loc[results["config"].astype(str) == FLOAT_CONFIG]
    values = _value(rows, "ppl")
    values = values[np.isfinite(values)]
    return float(values[0]) if len(values) else math.nan


def usable_ppl_limit(results: pd.DataFrame) -> float:
    """The perplexity above which a config is unusable (MAX_PPL_RATIO x fp's); NaN without fp."""
    return MAX_PPL_RATIO * _float_ppl(results)


def unusable(results: pd.DataFrame) -> pd.Series:
    """Boolean mask (indexed like ``results``): True where the config's accuracy breaks the rule.

    Perplexity above MAX_PPL_RATIO x the ``fp`` config's (when the run has ``fp`` and
    perplexities), else output SQNR below MIN_OUT_SQNR_DB dB (encoders, ViTs). A row
    without the metric is not flagged (nothing to judge it by).
    """
    ppl, ref = _value(results, "ppl"), _float_ppl(results)
    if math.isfinite(ref) and np.isfinite(ppl).any():
        flag = np.isfinite(ppl) & (ppl > MAX_PPL_RATIO * ref)
    else:
        sqnr = _value(results, "out_sqnr_db")
        flag = np.isfinite(sqnr) & (sqnr < MIN_OUT_SQNR_DB)
    return pd.Series(flag, index=results.index, name="unusable")


def usability_rule(results: pd.DataFrame) -> str:
    """The rule ``unusable`` applies to ``results``, in one sentence."""
    ref = _float_ppl(results)
    if math.isfinite(ref) and np.isfinite(_value(results, "ppl")).any():
        return (f"Unusable accuracy: perplexity above {MAX_PPL_RATIO:g}x the float model's "
                f"({MAX_PPL_RATIO * ref:.4g}, float {ref:.4g}). Such configs are shown but never recommended.")
    if np.isfinite(_value(results, "out_sqnr_db")).any():
        return (f"Unusable accuracy: output SQNR against the float model below {MIN_OUT_SQNR_DB:g} dB. "
                "Such configs are shown but never recommended.")
    if np.isfinite(_value(results, "ppl")).any():
        return (f"No '{FLOAT_CONFIG}' config in this run, so no config is judged unusable "
                f"(the rule, perplexity above {MAX_PPL_RATIO:g}x the float model's, needs it).")
    return "No accuracy against a float model in this run: no config is judged unusable."


def _count(value, noun: str) -> str:
    return f"{int(value)} {noun}" if isinstance(value, (int, np.integer)) or (
        isinstance(value, float) and value.is_integer()) else f"? {noun}"


def coverage(meta: Mapping | None, results: pd.DataFrame) -> str:
    """What the run's numbers cover: phase, tokens and windows, which layers are priced."""
    meta = dict(meta or {})
    tokens = meta.get("tokens")
    windows = meta.get("windows")
    layers = meta.get("priced_layers")
    parts = []
    if tokens is not None:
        where = f" over {windows} evaluation window(s)" if windows is not None else ""
        parts.append(f"Accuracy is measured on prefill: {tokens} tokens per window{where}, against the float model.")
    what = f"the {_count(layers, 'linear layers')} of the transformer blocks" if layers is not None else \
        "the linear layers of the transformer blocks"
    same = f" of the same {tokens} tokens" if tokens is not None else ""
    parts.append(f"Energy and latency price prefill{same}, {what} only "
                 "(attention's score and value products, norms, embeddings and lm_head are not in these columns; "
                 "a decoder's whole forward, those included, is in TTFT, tokens/s and peak memory: "
                 "`stamp-sim cost --model` breaks it down).")
    if "decode_energy_mj" in results.columns and pd.to_numeric(results["decode_energy_mj"], errors="coerce").notna().any():
        parts.append("Decode columns price one token through the same layers, with no sequence transform "
                     "(STaMP needs more than one token).")
    parts.append("Latency is a range: serial (MAC array, then vector unit) and overlapped (both pipelined).")
    if meta.get("high_rows"):
        parts.append(str(meta["high_rows"]))
    return " ".join(parts)
