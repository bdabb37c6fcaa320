"""write_report: every file of a finished run, each written atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from stamp_sim.report import figures as _fig
from stamp_sim.report.accumulator import accumulator_sweep_figure, accumulator_sweeps
from stamp_sim.report.columns import COST_AXES, ENERGY_COMPONENTS, choose_quality, has_values, require_columns
from stamp_sim.report.errors import ReportError
from stamp_sim.report.html import render_html
from stamp_sim.report.io import write_bytes_atomic, write_csv_atomic, write_json_atomic, write_text_atomic
from stamp_sim.report.markdown import render_markdown
from stamp_sim.report.pairs import stamp_pairs
from stamp_sim.report.text import findings

__all__ = ["make_figures", "write_report"]


def make_figures(results: pd.DataFrame, layers: pd.DataFrame | None = None,
                 token_energy: pd.DataFrame | None = None) -> dict[str, bytes]:
    """PNG bytes of every figure the tables have data for, by name (in report order).

    Figures whose inputs are missing (no quality column, no energy components, no
    per-layer SQNR, no token energy) are left out rather than drawn empty.
    """
    out: dict[str, bytes] = {}

    def add(name, fig):
        out[name] = _fig.figure_to_png_bytes(fig)
        _fig._close(fig)

    if choose_quality(results) is not None:
        for cost, suffix in zip(COST_AXES, ("energy", "latency")):
            if has_values(results, cost):
                add(f"cost_vs_accuracy_{suffix}", _fig.cost_vs_accuracy(results, cost))
    if any(has_values(results, c) for c in ENERGY_COMPONENTS):
        add("energy_breakdown", _fig.energy_breakdown(results))
    if layers is not None and "config" in layers.columns and has_values(layers, "act_sqnr_db"):
        pairs = [(p.candidate, p.baseline) for p in stamp_pairs(results)]
        add("layer_sqnr", _fig.layer_sqnr(layers, pairs=pairs))
    sweeps = accumulator_sweeps(results)
    if len(sweeps):
        add("accumulator_sweep", accumulator_sweep_figure(sweeps))
    if (token_energy is not None and len(token_energy)
            and {"layer", "row", "energy_before", "energy_after"} <= set(token_energy.columns)):
        add("token_energy", _fig.token_energy(token_energy))
    return out


def write_report(
    run_dir: Path | str,
    results: pd.DataFrame,
    layers: pd.DataFrame | None = None,
    token_energy: pd.DataFrame | None = None,
    meta: Mapping | None = None,
    extra_sections: Sequence[tuple[str, str]] = (),
) -> dict[str, Path]:
    """Write a run's report into ``run_dir`` (which must exist; see ``new_run_dir``).

    Files: results.csv, layers.csv and token_energy.csv (when given), run.json
    (``meta``), figures/<name>.png, report.md and report.html. Each is written
    atomically; the two reports come last, so a report.html present means a
    finished report. Returns {relative path: absolute path} of every file written.
    ``extra_sections`` are (title, HTML fragment) pairs appended to report.html.
    Missing or all-NaN columns are tolerated: sections and figures without data are
    left out. Raises ReportError when ``results`` lacks ``config`` or ``run_dir`` is
    not a writable directory.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"cannot write a report into {run_dir}: not an existing directory")
    require_columns(results, ["config"], "write_report results")
    if len(results) == 0:
        raise ReportError("write_report results: the table has no rows")
    for name, table in (("layers", layers), ("token_energy", token_energy)):
        if table is not None and not isinstance(table, pd.DataFrame):
            raise ReportError(f"write_report {name}: expected a pandas DataFrame or None, got {type(table).__name__}")
    meta = dict(meta or {})
    written: dict[str, Path] = {}

    def put(rel: str, writer, payload) -> None:
        written[rel] = writer(payload, run_dir / rel)

    put("results.csv", write_csv_atomic, results)
    if layers is not None:
        put("layers.csv", write_csv_atomic, layers)
    if token_energy is not None:
        put("token_energy.csv", write_csv_atomic, token_energy)
    put("run.json", write_json_atomic, meta)
    pngs = make_figures(results, layers, token_energy)
    for name, data in pngs.items():
        put(f"figures/{name}.png", write_bytes_atomic, data)
    # Computed once, shown identically in both reports.
    sections = findings(results)
    put("report.md", write_text_atomic,
        render_markdown(results, layers, meta, {n: f"figures/{n}.png" for n in pngs}, sections=sections))
    put("report.html", write_text_atomic,
        render_html(results, layers, meta, pngs, extra_sections=extra_sections, sections=sections))
    return written
