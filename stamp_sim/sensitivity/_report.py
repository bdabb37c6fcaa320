"""The sensitivity part of the report: budget-vs-perplexity figure, Kendall tau and
allocation tables, as an HTML fragment (for write_report's extra_sections) and Markdown."""

from __future__ import annotations

import html
import math

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from stamp_sim.report import figure_to_base64_png

__all__ = ["budget_figure", "ppl_pivot", "section_html", "section_markdown", "tau_pivot"]

_STYLE = {"kl": ("C0", "o"), "mse": ("C1", "s"), "sqnr": ("C2", "^"), "delta_ce": ("C3", "v"),
          "oracle": ("0.45", "x")}


def budget_figure(alloc: pd.DataFrame, axis_label: str, float_ppl: float | None = None) -> Figure:
    """Perplexity (y) of each ranking's allocation at each budget (x: its cost), one line per
    metric; the all-base and all-cheapest allocations as black markers, the float model's
    perplexity as a dotted line."""
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ends = alloc[alloc["metric"].isin(["base", "lowest"])]
    for metric, rows in alloc[~alloc["metric"].isin(["base", "lowest"])].groupby("metric", sort=False):
        color, marker = _STYLE.get(metric, ("C4", "D"))
        rows = rows.sort_values("cost")
        ax.plot(rows["cost"], rows["ppl"], marker=marker, color=color, label=metric,
                linestyle="--" if metric == "oracle" else "-")
    for _, row in ends.iterrows():
        ax.scatter([row["cost"]], [row["ppl"]], color="black", marker="*" if row["metric"] == "base" else "P",
                   zorder=3)
        ax.annotate(row["config"], (row["cost"], row["ppl"]), textcoords="offset points", xytext=(4, 4),
                    fontsize=8)
    if float_ppl is not None:
        ax.axhline(float_ppl, color="0.3", linestyle=":", linewidth=1, label="float")
    ppl = alloc["ppl"].to_numpy(float)
    if len(ppl) and ppl.min() > 0 and ppl.max() / ppl.min() > 20:
        ax.set_yscale("log")
    ax.set_xlabel(axis_label)
    ax.set_ylabel("perplexity (evaluation windows)")
    ax.set_title("Allocation chosen by each sensitivity ranking")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def tau_pivot(tau: pd.DataFrame) -> pd.DataFrame:
    """metric x candidate table of Kendall tau."""
    out = tau.pivot(index="metric", columns="candidate", values="tau")
    cols = ["all"] + [c for c in dict.fromkeys(tau["candidate"]) if c != "all"]
    return out.reindex(index=list(dict.fromkeys(tau["metric"])), columns=cols)


def ppl_pivot(alloc: pd.DataFrame) -> pd.DataFrame:
    """metric x budget (share of the all-base cost) table of perplexity."""
    rows = alloc[~alloc["metric"].isin(["base", "lowest"])]
    out = rows.pivot(index="metric", columns="budget_share", values="ppl")
    out.columns = [f"{c:.3f}" for c in out.columns]
    return out.reindex(list(dict.fromkeys(rows["metric"])))


def _fmt(v) -> str:
    return "nan" if isinstance(v, float) and math.isnan(v) else (f"{v:.4g}" if isinstance(v, float) else str(v))


def _text(info: dict) -> list[str]:
    return [
        f"{info['groups']} groups x {info['candidates']} candidates scored alone (all other layers float) on "
        f"{info['calib_windows']} calibration windows of {info['tokens']} tokens; perplexity increase measured on "
        f"{info['windows']} held-out windows; wall time {info['wall_s']:.0f} s (scoring {info['scoring_s']:.0f} s).",
        f"Budget axis: {info['axis']} on {info['hw']} (prefill); base {info['base']}, candidates "
        f"{', '.join(info['candidate_names'])}; moves ordered by {info['order']}.",
        "Kendall tau-b of each metric's ranking of (group, candidate) pairs against the measured perplexity "
        "increase: +1 is the same order. 'oracle' ranks by that perplexity increase itself (an upper reference, "
        "not a deployable surrogate).",
    ]


def section_html(tau: pd.DataFrame, alloc: pd.DataFrame, fig: Figure, info: dict) -> str:
    """HTML fragment: method line, Kendall tau table, figure, allocation table."""
    esc = html.escape
    parts = ["<ul>" + "".join(f"<li>{esc(t)}</li>" for t in _text(info)) + "</ul>",
             "<h3>Kendall tau against the perplexity increase</h3>",
             tau_pivot(tau).to_html(float_format=lambda v: f"{v:.3f}", na_rep="nan"),
             "<h3>Perplexity of each ranking's allocation, by budget (share of the all-base cost)</h3>",
             ppl_pivot(alloc).to_html(float_format=lambda v: f"{v:.4g}", na_rep="-"),
             f'<figure><img src="data:image/png;base64,{figure_to_base64_png(fig)}" alt="budget vs perplexity">'
             f"<figcaption>{esc(info['axis_label'])} vs perplexity, one line per ranking metric</figcaption></figure>",
             "<details><summary>Every evaluated allocation</summary>",
             alloc[["metric", "config", "budget", "cost", "ppl", "kl", "top1", "lowered", "configs"]]
             .to_html(index=False, float_format=lambda v: f"{v:.4g}"),
             "</details>"]
    return "\n".join(parts)


def _md_table(frame: pd.DataFrame, index: bool = True) -> str:
    frame = frame.reset_index() if index else frame
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    sep = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def section_markdown(tau: pd.DataFrame, alloc: pd.DataFrame, figure_path: str, info: dict) -> str:
    """The same section in Markdown (figure by relative path)."""
    lines = ["", "## Sensitivity and budgeted allocation", ""]
    lines += [f"- {t}" for t in _text(info)]
    lines += ["", "### Kendall tau against the perplexity increase", "",
              _md_table(tau_pivot(tau).rename_axis("metric")), "", "### Perplexity by budget (share of the all-base cost)", "",
              _md_table(ppl_pivot(alloc).rename_axis("metric")), "",
              f"![budget vs perplexity]({figure_path})", ""]
    return "\n".join(lines)
