"""Tables for the report: which columns, in which order, formatted as text."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stamp_sim.report.columns import METRICS, SUMMARY_COLUMNS, format_value, has_values

__all__ = ["formatted", "layer_sqnr_pivot", "layer_summary", "meta_rows", "report_title", "summary_table",
           "text_table"]


#: results.csv's ``acc`` of a float config (float operands, fp32 accumulation).
FLOAT_ACC = "fp32"


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """The summary's columns of ``results`` (those present; numeric ones only when they hold
    values), rows in the table's order; a float config's average activation bits read "float"."""
    keep = [c for c in SUMMARY_COLUMNS
            if c in results.columns and (c in ("config", "hw", "acc") or has_values(results, c))]
    table = results.loc[:, keep].reset_index(drop=True)
    if "avg_a_bits" in table and "acc" in results.columns:
        # A float config's 16 "bits" stand for float activations: say float, as the presets table does.
        is_float = (results["acc"].astype(str) == FLOAT_ACC).to_numpy()
        table["avg_a_bits"] = table["avg_a_bits"].astype(object).where(~is_float, "float")
    return table


def formatted(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headers (with units) and rows of text, each column in its own format; missing values 'n/a'."""
    headers = [METRICS[c].header if c in METRICS else str(c) for c in df.columns]
    fmts = [METRICS[c].format if c in METRICS else _plain for c in df.columns]
    rows = [[fmt(v) for fmt, v in zip(fmts, row)] for row in df.itertuples(index=False, name=None)]
    return headers, rows


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Headers and rows of text as aligned plain-text columns (text left, numbers right)."""
    def numeric(cell: str) -> bool:
        core = cell.rstrip("%").replace(",", "").replace(".", "", 1).lstrip("-")
        return core.replace("e-", "", 1).replace("e+", "", 1).isdigit()

    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    right = [bool(rows) and all(numeric(r[i]) or r[i] == "n/a" for r in rows) for i in range(len(headers))]
    def line(cells):
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)).rstrip()
    return "\n".join([line(headers)] + [line(r) for r in rows])


def _plain(value) -> str:
    # Counts (a config's layers) print as integers, other numbers with 4 significant digits.
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    return format_value(value)


def layer_summary(layers: pd.DataFrame) -> pd.DataFrame:
    """Per config: layer count, mean and min activation SQNR (dB) and the layer holding the min."""
    if layers is None or "config" not in layers.columns or not has_values(layers, "act_sqnr_db"):
        return pd.DataFrame()
    df = layers.assign(_s=pd.to_numeric(layers["act_sqnr_db"], errors="coerce"))
    rows = []
    for config, g in df.groupby(df["config"].astype(str), sort=False):
        valid = g.dropna(subset=["_s"])
        worst = valid.loc[valid["_s"].idxmin()] if len(valid) else None
        rows.append({
            "config": config,
            "layers": len(g),
            "mean SQNR (dB)": valid["_s"].mean() if len(valid) else float("nan"),
            "min SQNR (dB)": worst["_s"] if worst is not None else float("nan"),
            "worst layer": str(worst["layer"]) if worst is not None and "layer" in g.columns else "n/a",
        })
    return pd.DataFrame(rows)


def layer_sqnr_pivot(layers: pd.DataFrame) -> pd.DataFrame:
    """Activation SQNR (dB): one row per layer (execution order), one column per config."""
    if layers is None or "config" not in layers.columns or not has_values(layers, "act_sqnr_db"):
        return pd.DataFrame()
    key = "layer" if "layer" in layers.columns else "layer_index"
    if key not in layers.columns:
        return pd.DataFrame()
    df = layers.assign(act_sqnr_db=pd.to_numeric(layers["act_sqnr_db"], errors="coerce"),
                       config=layers["config"].astype(str))
    if "layer_index" in df.columns:
        df = df.sort_values("layer_index", kind="stable")
    order_layers = list(pd.unique(df[key]))
    order_configs = list(pd.unique(layers["config"].astype(str)))
    pivot = df.pivot_table(index=key, columns="config", values="act_sqnr_db", aggfunc="mean", sort=False)
    pivot = pivot.reindex(index=order_layers, columns=[c for c in order_configs if c in pivot.columns])
    pivot.columns.name = None
    return pivot.reset_index()


# Run metadata shown first, in this order; other keys follow alphabetically.
_META_ORDER = ("model", "tokens", "windows", "calib_windows", "seed", "profiles", "hw", "configs", "device",
               "data", "model_source", "git_revision", "git", "created", "command", "versions",
               "started", "resumed", "finished")


def _meta_text(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_meta_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(_meta_text(v) for v in value)
    return format_value(value, lambda x: f"{x:g}")


def meta_rows(meta: dict | None) -> tuple[list[tuple[str, str]], list[str]]:
    """Run metadata as (key, text) rows in a stable order, and the notes (``meta['notes']``,
    a string or a list of strings) separately, to be shown as a list."""
    meta = dict(meta or {})
    notes = meta.pop("notes", None)
    meta.pop("title", None)
    meta.pop("run", None)  # the full options, for --resume: run.json keeps them, the page needs not
    meta.pop("high_rows", None)  # said at the top, in what the numbers cover
    if notes is None:
        notes_list = []
    elif isinstance(notes, str):
        notes_list = [notes]
    else:
        notes_list = [str(n) for n in notes]
    keys = [k for k in _META_ORDER if k in meta] + sorted((k for k in meta if k not in _META_ORDER), key=str)
    return [(str(k).replace("_", " "), _meta_text(meta[k])) for k in keys], notes_list


def report_title(meta: dict | None) -> str:
    """``meta['title']``, else 'stamp-sim report: <model>'."""
    meta = meta or {}
    if meta.get("title"):
        return str(meta["title"])
    model = meta.get("model")
    return f"stamp-sim report: {model}" if model else "stamp-sim report"
