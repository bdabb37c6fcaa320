"""The report as Markdown (GitHub-flavoured tables), figures linked by relative path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from stamp_sim.report.columns import require_columns
from stamp_sim.report.tables import formatted, layer_summary, meta_rows, report_title, summary_table
from stamp_sim.report.text import FIGURE_CAPTIONS, Section, findings
from stamp_sim.report.usability import coverage

__all__ = ["render_markdown"]


def _cell(text: str) -> str:
    # A pipe or newline would end the cell early and break the table.
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _escape(text: str) -> str:
    # Only what would turn plain prose into markup here; leaves numbers like 4.5 alone.
    for ch in ("\\", "*", "_", "`", "[", "]", "<", ">", "#"):
        text = text.replace(ch, "\\" + ch)
    return text


def render_markdown(
    results: pd.DataFrame,
    layers: pd.DataFrame | None,
    meta: Mapping | None,
    figures_rel_paths: Mapping[str, str],
    extra_sections: Sequence[tuple[str, str]] = (),
    sections: Sequence[Section] | None = None,
) -> str:
    """The report as Markdown: title, what the numbers cover, findings (the answer first), summary table, figures
    (``figures_rel_paths`` maps a figure name to its path relative to the .md file), per-layer
    summary, ``extra_sections`` (title, Markdown text) verbatim, and the run metadata and notes last. ``sections`` overrides
    the computed findings."""
    require_columns(results, ["config"], "render_markdown results")
    out = [f"# {_escape(report_title(meta))}", ""]
    out += [f"**What these numbers cover.** {_escape(coverage(meta, results))}", ""]
    out += ["## Findings", ""]
    for section in (findings(results) if sections is None else sections):
        out += [f"### {_escape(section.title)}", ""] + [f"- {_escape(s)}" for s in section.items] + [""]
    headers, table_rows = formatted(summary_table(results))
    out += ["## Results", "", _md_table(headers, table_rows), ""]
    if figures_rel_paths:
        out += ["## Figures", ""]
        for name, rel in figures_rel_paths.items():
            caption = FIGURE_CAPTIONS.get(name, name.replace("_", " "))
            out += [f"![{_escape(caption)}]({str(rel).replace(' ', '%20')})", "", f"*{_escape(caption)}*", ""]
    summary = layer_summary(layers) if layers is not None else pd.DataFrame()
    if not summary.empty:
        headers, table_rows = formatted(summary)
        out += ["## Per layer", "", "Activation SQNR over the linear layers; every layer is in layers.csv.", "",
                _md_table(headers, table_rows), ""]
    for title, body in extra_sections:
        out += [f"## {_escape(str(title))}", "", str(body).rstrip(), ""]
    rows, notes = meta_rows(dict(meta or {}))
    if rows:
        out += ["## Run", "", _md_table(["", "value"], [[k, v] for k, v in rows]), ""]
    if notes:
        out += ["Notes:", ""] + [f"- {_escape(n)}" for n in notes] + [""]
    return "\n".join(out).rstrip() + "\n"
