"""Report figures (matplotlib, Agg canvas only; nothing is ever shown).

Each function takes a tidy table and returns a ``matplotlib.figure.Figure``. The
figures are built without pyplot, so they never touch an interactive backend nor
pyplot's global figure registry (which warns past 20 open figures, an error under
this project's test settings). ``save_figure`` writes a PNG atomically.
"""

from __future__ import annotations

import base64
import io as _io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from stamp_sim.report.columns import (
    ENERGY_COMPONENTS,
    METRICS,
    Metric,
    choose_quality,
    has_values,
    hw_groups,
    require_columns,
)
from stamp_sim.report.errors import ReportError
from stamp_sim.report.io import write_bytes_atomic
from stamp_sim.report.usability import MAX_PPL_RATIO, usable_ppl_limit
from stamp_sim.report.pareto import pareto_front

__all__ = [
    "cost_vs_accuracy",
    "energy_breakdown",
    "figure_to_base64_png",
    "figure_to_png_bytes",
    "layer_sqnr",
    "save_figure",
    "token_energy",
]

_DPI = 120
_PANEL_W, _PANEL_H = 5.6, 4.3  # inches per panel: room for 9 labelled points
_MAX_COLS = 3
_SPAN_FOR_LOG = 10.0  # an axis spanning more than 10x reads better on a log scale


def _new_figure(n_panels: int, panel_w: float = _PANEL_W, panel_h: float = _PANEL_H,
                sharey: bool = False) -> tuple[Figure, list[Axes]]:
    ncols = max(1, min(n_panels, _MAX_COLS))
    nrows = max(1, math.ceil(n_panels / ncols))
    fig = Figure(figsize=(panel_w * ncols, panel_h * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:max(n_panels, 1)]


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=10, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _wants_log(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return len(v) > 1 and bool((v > 0).all()) and v.max() / v.min() > _SPAN_FOR_LOG


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _label_offsets():
    """Candidate label offsets in points, nearest first: right-above, then around the point,
    then farther out (with a leader line) for crowded clusters."""
    out = []
    for radius in (6, 16, 28, 42):
        for deg in (45, -45, 135, -135, 90, -90, 0, 180, 20, -20, 160, -160):
            dx, dy = radius * math.cos(math.radians(deg)), radius * math.sin(math.radians(deg))
            ha = "left" if dx > 1 else "right" if dx < -1 else "center"
            va = "bottom" if dy > 1 else "top" if dy < -1 else "center"
            out.append((dx, dy, ha, va, radius > 6))
    return tuple(out)


_LABEL_OFFSETS = _label_offsets()


def _place_labels(fig: Figure, ax: Axes, xs: np.ndarray, ys: np.ndarray, labels: Sequence[str]) -> None:
    """Annotate each point with its label at the nearest offset that overlaps no label or point.

    Greedy and approximate (positions are taken after one layout pass), but it keeps
    the usual cluster of low-bit configs readable without an extra dependency.
    Labels far from their point get a thin leader line.
    """
    from matplotlib.transforms import Bbox

    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    # A label next to a neighbour's marker reads as that neighbour's: keep a margin around markers.
    markers = [Bbox.from_extents(px - 9, py - 9, px + 9, py + 9) for px, py in pts]
    labels_taken = []
    axes_box = ax.get_window_extent(renderer)
    # Crowded points first: they have the fewest good spots; their labels always get a leader line.
    crowd = [int(sum(np.hypot(*(p - q)) < 40 for q in pts)) for p in pts]
    for i in sorted(range(len(labels)), key=lambda i: -crowd[i]):
        best, best_cost = None, math.inf
        for dx, dy, ha, va, far in _LABEL_OFFSETS:
            leader = far or crowd[i] > 1
            ann = ax.annotate(str(labels[i]), (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points",
                              ha=ha, va=va, fontsize=8,
                              arrowprops=dict(arrowstyle="-", lw=0.5, color="0.5", shrinkA=0, shrinkB=3)
                              if leader else None)
            ann.set_in_layout(False)
            # The text alone: Annotation's own extent includes the leader line, which may cross markers.
            ann.update_positions(renderer)
            box = Text.get_window_extent(ann, renderer).padded(1)
            cost = sum(_overlap(box, t) for t in labels_taken)
            cost += sum(_overlap(box, m) for j, m in enumerate(markers) if j != i)
            # Leaving the axes is worse than touching a neighbour's marker; farther is worse too.
            cost += 4 * (box.width * box.height - _overlap(box, axes_box)) + 0.01 * math.hypot(dx, dy)
            if cost < best_cost:
                if best is not None:
                    best[0].remove()
                best, best_cost = (ann, box), cost
            else:
                ann.remove()
            if cost < 1:
                break
        labels_taken.append(best[1])


def cost_vs_accuracy(results: pd.DataFrame, cost: str = "energy_mj", quality: str | None = None) -> Figure:
    """Scatter of cost (x) against quality (y), one panel per hardware profile (``hw``).

    Each point is a config, labelled with its name; the Pareto front (cheapest for
    its quality) is drawn as a line, dominated configs as hollow grey points.
    ``cost`` is ``energy_mj`` (mJ) or ``latency_ms`` (ms); ``quality`` defaults to
    ``ppl`` when it has values, else ``out_sqnr_db``. An axis spanning more than
    10x is drawn on a log scale.
    """
    if cost not in ("energy_mj", "latency_ms"):
        raise ReportError(f"cost_vs_accuracy: cost={cost!r} is not allowed; allowed: 'energy_mj', 'latency_ms'")
    require_columns(results, ["config"], "cost_vs_accuracy")
    metric: Metric | None = METRICS.get(quality) if quality else choose_quality(results)
    if quality and metric is None:
        raise ReportError(f"cost_vs_accuracy: quality={quality!r} is unknown; allowed: {sorted(METRICS)}")
    cost_m = METRICS[cost]
    groups = hw_groups(results)
    fig, axes = _new_figure(len(groups))
    quality_name = metric.name if metric else "quality"
    fig.suptitle(f"{cost_m.name.capitalize()} vs {quality_name}: each point a config", fontsize=12)
    for ax, (hw, df) in zip(axes, groups):
        ax.set_title(f"hw: {hw}" if hw else "", fontsize=10)
        if metric is None or not has_values(df, cost) or not has_values(df, metric.column):
            _empty(ax, f"no {cost_m.name} and quality values to plot")
            continue
        x, y = _numeric(df, cost), _numeric(df, metric.column)
        ok = np.isfinite(x) & np.isfinite(y)
        front = pareto_front(df, cost, metric.column, bool(metric.higher_is_better)).to_numpy() & ok
        ax.scatter(x[ok & ~front], y[ok & ~front], s=36, facecolors="none", edgecolors="0.45",
                   label="dominated", zorder=3)
        ax.scatter(x[front], y[front], s=40, color="C0", label="Pareto front", zorder=4)
        order = np.argsort(x[front], kind="stable")
        ax.plot(x[front][order], y[front][order], color="C0", lw=1.2, zorder=2)
        if _wants_log(x[ok]):
            ax.set_xscale("log")
        if metric.column == "ppl" and _wants_log(y[ok]):
            ax.set_yscale("log")
        limit = usable_ppl_limit(df) if metric.column == "ppl" else math.nan
        if math.isfinite(limit) and np.nanmax(y[ok]) > limit:
            ax.axhline(limit, color="C3", ls="--", lw=0.9, zorder=1,
                       label=f"unusable above ({MAX_PPL_RATIO:g}x float)")
        ax.set_xlabel(cost_m.axis_label)
        ax.set_ylabel(metric.axis_label)
        ax.grid(True, which="major", alpha=0.3)
        ax.margins(0.15)
        ax.legend(fontsize=8, loc="best")
        labels = df["config"].astype(str).to_numpy()
        _place_labels(fig, ax, x[ok], y[ok], labels[ok])
    return fig


def energy_breakdown(results: pd.DataFrame) -> Figure:
    """Stacked bars of energy (mJ) by component per config, one panel per hardware profile.

    Components are the columns ``e_mac_mj, e_acc_mj, e_sram_mj, e_dram_mj,
    e_transform_mj, e_requant_mj`` that hold values; each bar is labelled with its total.
    """
    require_columns(results, ["config"], "energy_breakdown")
    components = [c for c in ENERGY_COMPONENTS if has_values(results, c)]
    groups = hw_groups(results)
    n_configs = max(len(df) for _, df in groups) if groups else 1
    fig, axes = _new_figure(len(groups), panel_w=max(4.5, 0.6 * n_configs + 2.0))
    fig.suptitle("Energy by component per config", fontsize=12)
    for ax, (hw, df) in zip(axes, groups):
        ax.set_title(f"hw: {hw}" if hw else "", fontsize=10)
        if not components:
            _empty(ax, "no energy components (e_*_mj) in these results")
            continue
        positions = np.arange(len(df))
        bottom = np.zeros(len(df))
        for i, comp in enumerate(components):
            values = np.nan_to_num(_numeric(df, comp), nan=0.0)
            ax.bar(positions, values, bottom=bottom, color=f"C{i}", width=0.7,
                   label=METRICS[comp].name.replace(" energy", ""))
            bottom += values
        for px, total in zip(positions, bottom):
            ax.annotate(METRICS["energy_mj"].format(total), (px, total), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(positions, df["config"].astype(str).tolist(), rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("Energy (mJ)")
        ax.set_ylim(0, max(float(bottom.max()), 1e-12) * 1.12)  # room for the totals
        ax.grid(True, axis="y", alpha=0.3)
    if components:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles[::-1], labels[::-1], loc="outside right upper", fontsize=8, title="component")
    return fig


def _default_layer_configs(present: Sequence[str], pairs: Sequence[tuple[str, str]]) -> list[str]:
    chosen = [name for pair in pairs if all(p in present for p in pair) for name in pair]
    return chosen or list(present)[:6]


def layer_sqnr(layers: pd.DataFrame, configs: Sequence[str] | None = None,
               pairs: Sequence[tuple[str, str]] = ()) -> Figure:
    """Per-layer activation SQNR (dB, column ``act_sqnr_db``) along the layer index.

    pairs : (with STaMP, without) config pairs (report.pairs.stamp_pairs); a pair shares a
    colour: solid with STaMP, dashed without. ``configs`` defaults to the pairs present,
    else the first six configs. One panel per model.
    """
    require_columns(layers, ["config", "act_sqnr_db"], "layer_sqnr")
    present = [str(c) for c in pd.unique(layers["config"].astype(str))]
    configs = _default_layer_configs(present, pairs) if configs is None else list(configs)
    unknown = sorted(set(configs) - set(present))
    if unknown:
        raise ReportError(f"layer_sqnr: configs {unknown} are not in the layers table; present: {sorted(present)}")
    models = (list(pd.unique(layers["model"].astype(str))) if "model" in layers.columns else [""])
    fig, axes = _new_figure(len(models), panel_w=7.5, panel_h=4.0)
    fig.suptitle("Per-layer activation SQNR", fontsize=12)
    styles = {}
    for i, (stamp, base) in enumerate(pairs):
        styles[stamp] = (f"C{i}", "-")
        styles[base] = (f"C{i}", "--")
    extra = iter(range(len(pairs), 100))
    for ax, model in zip(axes, models):
        df = layers if model == "" else layers.loc[layers["model"].astype(str) == model]
        ax.set_title(f"model: {model}" if model else "", fontsize=10)
        drawn = 0
        for name in configs:
            rows = df.loc[df["config"].astype(str) == name]
            if not has_values(rows, "act_sqnr_db"):
                continue
            if name not in styles:
                styles[name] = (f"C{next(extra) % 10}", "-")
            color, ls = styles[name]
            x = _numeric(rows, "layer_index") if "layer_index" in rows.columns else np.arange(len(rows))
            y = _numeric(rows, "act_sqnr_db")
            order = np.argsort(x, kind="stable")
            ax.plot(x[order], y[order], ls=ls, color=color, marker="o", ms=2.5, lw=1.1,
                    label=f"{name} (mean {np.nanmean(y):.1f} dB)")
            drawn += 1
        if not drawn:
            _empty(ax, "no per-layer SQNR for the chosen configs")
            continue
        ax.set_xlabel("Linear layer index (execution order)")
        ax.set_ylabel(METRICS["act_sqnr_db"].axis_label)
        ax.grid(True, alpha=0.3)
        # Beside the axes: per-layer lines fill the whole panel, any inside spot hides data.
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def token_energy(df: pd.DataFrame, layer: str | None = None, k: int | None = None) -> Figure:
    """Energy per token row of one layer's activations before and after the sequence transform.

    Columns ``layer, row, energy_before, energy_after`` (and optionally ``k``);
    ``layer`` defaults to the first one in the table. The y axis is logarithmic; the
    first ``k`` rows (those kept at high bits; from the argument, else the ``k``
    column) are shaded, and the legend gives the share of energy they hold.
    """
    require_columns(df, ["layer", "row", "energy_before", "energy_after"], "token_energy")
    layers = [str(v) for v in pd.unique(df["layer"].astype(str))]
    if not layers:
        raise ReportError("token_energy: the table has no rows")
    layer = layers[0] if layer is None else str(layer)
    if layer not in layers:
        raise ReportError(f"token_energy: layer={layer!r} is not in the table; present: {sorted(layers)[:10]}")
    rows = df.loc[df["layer"].astype(str) == layer]
    if k is None and has_values(rows, "k"):
        k = int(np.nanmax(_numeric(rows, "k")))
    fig, (ax,) = _new_figure(1, panel_w=7.5, panel_h=4.2)
    model = f" ({rows['model'].iloc[0]})" if "model" in rows.columns and len(rows) else ""
    ax.set_title(f"Energy per token row, layer {layer}{model}", fontsize=11)
    x = _numeric(rows, "row")
    order = np.argsort(x, kind="stable")
    x = x[order]
    before = _numeric(rows, "energy_before")[order]
    after = _numeric(rows, "energy_after")[order]

    def share(e: np.ndarray) -> str:
        if not k:
            return ""
        total = np.nansum(e)
        return f", first {k} rows hold {np.nansum(e[x < k]) / total:.0%}" if total > 0 else ""

    ax.plot(x, before, color="0.5", lw=0.9, label=f"before transform{share(before)}")
    ax.plot(x, after, color="C3", lw=1.1, label=f"after transform{share(after)}")
    if k:
        ax.axvspan(x.min() - 0.5, k - 0.5, color="C2", alpha=0.12, label=f"first {k} rows: high bits")
    positive = np.concatenate([before, after])
    if (positive[np.isfinite(positive)] > 0).any():
        ax.set_yscale("log", nonpositive="mask")
    ax.set_xlabel("Token row (after the transform: coefficient index, low frequencies first)")
    ax.set_ylabel("Row energy (sum of squares)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def figure_to_png_bytes(fig: Figure, dpi: int = _DPI) -> bytes:
    """The figure as PNG bytes (Agg), without closing it."""
    if not isinstance(fig, Figure):
        raise ReportError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = _io.BytesIO()
    # No "Software" stamp: the same figure gives the same bytes across matplotlib versions.
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def figure_to_base64_png(fig: Figure, dpi: int = _DPI) -> str:
    """The figure as base64-encoded PNG text, for a ``data:image/png;base64,`` URI."""
    return base64.b64encode(figure_to_png_bytes(fig, dpi)).decode("ascii")


def save_figure(fig: Figure, path: Path | str, dpi: int = _DPI) -> Path:
    """Write the figure as PNG to ``path`` atomically and release it; returns the path."""
    data = figure_to_png_bytes(fig, dpi)
    path = write_bytes_atomic(data, path)
    _close(fig)
    return path


def _close(fig: Figure) -> None:
    # Figures made here are not in pyplot's registry; one made with pyplot by a caller is,
    # and only pyplot can let go of it (pyplot is then already imported, no backend change).
    import sys

    if getattr(fig.canvas, "manager", None) is not None and "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    else:
        fig.clear()
