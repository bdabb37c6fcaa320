"""Tables -> CSV, figures, Markdown and a self-contained HTML report, written atomically.

The entry point is ``write_report(run_dir, results, layers, token_energy, meta)``;
``new_run_dir`` makes the directory. The pieces are public for callers that need
only one (a figure, the findings, an atomic CSV append for an interrupted sweep).
"""

from stamp_sim.report.columns import METRICS, Metric, choose_quality
from stamp_sim.report.errors import ReportError
from stamp_sim.report.figures import (
    cost_vs_accuracy,
    energy_breakdown,
    figure_to_base64_png,
    figure_to_png_bytes,
    layer_sqnr,
    save_figure,
    token_energy,
)
from stamp_sim.report.html import render_html
from stamp_sim.report.io import (
    append_rows_atomic,
    new_run_dir,
    read_table,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from stamp_sim.report.markdown import render_markdown
from stamp_sim.report.pareto import best_under_budgets, dominators, pareto_front
from stamp_sim.report.pairs import Pair, baseline_pairs, stamp_pairs
from stamp_sim.report.text import Section, findings
from stamp_sim.report.writer import make_figures, write_report

__all__ = [
    "METRICS",
    "Metric",
    "Pair",
    "ReportError",
    "Section",
    "append_rows_atomic",
    "baseline_pairs",
    "best_under_budgets",
    "choose_quality",
    "cost_vs_accuracy",
    "dominators",
    "energy_breakdown",
    "figure_to_base64_png",
    "figure_to_png_bytes",
    "findings",
    "layer_sqnr",
    "make_figures",
    "new_run_dir",
    "pareto_front",
    "read_table",
    "render_html",
    "render_markdown",
    "save_figure",
    "stamp_pairs",
    "token_energy",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_report",
    "write_text_atomic",
]
