"""The report as one self-contained HTML page: inline CSS, figures as base64 PNG data URIs,
no scripts and no external URLs, so it opens offline and can be mailed as one file."""

from __future__ import annotations

import base64
import html as _html
from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure

from stamp_sim.report.columns import require_columns
from stamp_sim.report.errors import ReportError
from stamp_sim.report.figures import figure_to_png_bytes
from stamp_sim.report.tables import (
    formatted,
    layer_sqnr_pivot,
    layer_summary,
    meta_rows,
    report_title,
    summary_table,
)
from stamp_sim.report.text import FIGURE_CAPTIONS, Section, findings
from stamp_sim.report.usability import coverage

__all__ = ["render_html"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #eee; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; font-size: .85em; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; }
th { background: #f4f4f4; text-align: left; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
.scroll { overflow-x: auto; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
details summary { cursor: pointer; font-weight: 600; margin: .5em 0; }
ul.findings li { margin: .2em 0; }
"""


def _e(text) -> str:
    return _html.escape(str(text), quote=True)


def _is_number(text: str) -> bool:
    return text.replace("%", "").replace("e", "").replace("-", "").replace("+", "").replace(".", "").isdigit()


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "\n".join(
        "<tr>" + "".join(f'<td class="num">{_e(v)}</td>' if _is_number(v) else f"<td>{_e(v)}</td>" for v in row)
        + "</tr>" for row in rows)
    return f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>'


def _png(name: str, fig) -> bytes:
    if isinstance(fig, Figure):
        return figure_to_png_bytes(fig)
    if isinstance(fig, (bytes, bytearray)) and bytes(fig[:8]) == _PNG_SIGNATURE:
        return bytes(fig)
    raise ReportError(f"render_html: figure {name!r} is a {type(fig).__name__}; allowed: a matplotlib Figure "
                      "or PNG bytes")


def render_html(
    results: pd.DataFrame,
    layers: pd.DataFrame | None,
    meta: Mapping | None,
    figures: Mapping[str, Figure | bytes],
    extra_sections: Sequence[tuple[str, str]] = (),
    sections: Sequence[Section] | None = None,
) -> str:
    """The report as a self-contained HTML page.

    Contents: title, what the numbers cover, findings (``sections``, computed from
    ``results`` when None), the summary table, every figure of ``figures`` (name ->
    Figure or PNG bytes) embedded as a ``data:image/png;base64`` URI, the per-layer
    SQNR summary and the full per-layer table inside ``<details>``, then
    ``extra_sections`` as (title, HTML fragment), then the run metadata and notes; the fragment is inserted as given,
    every other text is HTML-escaped.
    """
    require_columns(results, ["config"], "render_html results")
    title = report_title(meta)
    parts = [f"<h1>{_e(title)}</h1>"]
    parts.append(f"<p><strong>What these numbers cover.</strong> {_e(coverage(meta, results))}</p>")
    parts.append("<h2>Findings</h2>")
    for section in (findings(results) if sections is None else sections):
        parts.append(f"<h3>{_e(section.title)}</h3>")
        parts.append('<ul class="findings">' + "".join(f"<li>{_e(s)}</li>" for s in section.items) + "</ul>")
    parts.append("<h2>Results</h2>")
    parts.append(_table(*formatted(summary_table(results))))
    if figures:
        parts.append("<h2>Figures</h2>")
        for name, fig in figures.items():
            data = base64.b64encode(_png(name, fig)).decode("ascii")
            caption = FIGURE_CAPTIONS.get(name, name.replace("_", " "))
            parts.append(f'<figure id="fig-{_e(name)}"><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
                         f"<figcaption>{_e(caption)}</figcaption></figure>")
    if layers is not None and len(layers):
        summary = layer_summary(layers)
        parts.append("<h2>Per layer</h2>")
        if not summary.empty:
            parts.append(_table(*formatted(summary)))
        pivot = layer_sqnr_pivot(layers)
        full = pivot if not pivot.empty else layers
        label = ("Activation SQNR (dB) of every linear layer, by config" if not pivot.empty
                 else "Every per-layer row")
        parts.append(f"<details><summary>{_e(label)} ({len(full)} rows)</summary>")
        parts.append(_table(*formatted(full)))
        parts.append("</details>")
    for section_title, fragment in extra_sections:
        parts.append(f"<h2>{_e(section_title)}</h2>")
        parts.append(str(fragment))
    rows, notes = meta_rows(dict(meta or {}))
    if rows:
        parts.append("<h2>Run</h2>")
        parts.append(_table(["", "value"], [[k, v] for k, v in rows]))
    if notes:
        parts.append("<p>Notes:</p><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
