"""The report's wording rules on synthetic results: unusable configs are shown but never
recommended, the answer comes first, the numbers say what they cover, metadata comes last."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from stamp_sim.report import findings, render_html, render_markdown, write_report
from stamp_sim.report.tables import formatted, layer_summary, summary_table
from stamp_sim.report.usability import MAX_PPL_RATIO, coverage, unusable, usability_rule
from stamp_sim.workflows.run import high_rows_note
from stamp_sim.config import get_preset
from tests.report.synthetic import layers_table, results_table

META = {"model": "synthetic-llama", "tokens": 512, "windows": 4, "priced_layers": 210,
        "started": "2026-12-01T11:48:19+00:00", "finished": "2026-12-01T11:50:06+00:00",
        "notes": ["fp = dequantized Q4_1 weights"]}


def _items(sections, title=None) -> list[str]:
    return [i for s in sections if title is None or s.title == title for i in s.items]


def _cheap_but_useless() -> pd.DataFrame:
    """w4a4 the cheapest point on both axes and on the front, at a perplexity 100x the float's."""
    r = results_table(["fp", "w8a8", "w4a8", "w4a4"], hw=("npu",))
    r.loc[r.config == "w4a4", "ppl"] = 1200.0
    r.loc[r.config == "w4a4", ["energy_mj", "latency_ms"]] = [0.001, 0.001]
    return r


def test_unusable_is_perplexity_above_twice_float():
    r = results_table(hw=("npu",))
    float_ppl = float(r.loc[r.config == "fp", "ppl"].iloc[0])
    expected = r.ppl > MAX_PPL_RATIO * float_ppl
    assert expected.any() and not expected.all()
    assert (unusable(r) == expected).all()
    assert f"{MAX_PPL_RATIO * float_ppl:.4g}" in usability_rule(r)


def test_unusable_config_is_named_but_never_recommended():
    sections = findings(_cheap_but_useless())
    answer = _items(sections, "Answer")
    budgets = [i for i in answer if i.startswith("Best usable config under each")]
    assert len(budgets) == 2 and all("w4a4 " not in b and "w4a4:" not in b for b in budgets)
    knees = [i for i in _items(sections) if i.startswith(("Knee", "Cheapest usable"))]
    assert knees and all("w4a4 " not in k for k in knees)
    flagged = [i for i in _items(sections) if i.startswith("Not recommended")]
    assert len(flagged) == 2 and all("w4a4 (" in f and "perplexity 1200" in f for f in flagged)
    assert "w4a4 1200 (unusable)" in " ".join(_items(sections, "Overview"))


def test_without_a_float_config_nothing_is_flagged_and_the_report_says_why():
    r = results_table(["w8a8", "w4a4"], hw=("npu",))
    assert not unusable(r).any()
    assert "No 'fp' config" in usability_rule(r)


def test_encoders_use_the_output_sqnr_rule():
    r = results_table(["fp", "w8a8", "w4a4"], hw=("npu",))
    r["ppl"] = np.nan
    r["out_sqnr_db"] = [np.inf, 30.0, 6.0]
    assert list(unusable(r)) == [False, False, True]
    assert "output SQNR" in usability_rule(r)


def test_answer_comes_first_and_says_what_stamp_buys():
    sections = findings(results_table(hw=("npu",)))
    assert sections[0].title == "Answer"
    stamp = [i for i in sections[0].items if i.startswith("What STaMP buys: w4a4-stamp vs w4a4-first64")]
    assert stamp and "perplexity 40.00 -> 20.00" in stamp[0] and "more energy on npu" in stamp[0]


def test_coverage_says_phase_tokens_and_priced_layers():
    r = results_table(hw=("npu",))
    text = coverage(META, r)
    assert "prefill" in text and "512 tokens" in text and "210 linear layers" in text
    assert "lm_head are not in these columns" in text and "whole forward" in text
    assert "Decode" not in text  # no decode columns in this table
    r["decode_energy_mj"] = 1.0
    assert "Decode columns price one token" in coverage(META, r)


def test_markdown_order_answer_first_metadata_last(tmp_path):
    r, layers = results_table(hw=("npu",)), layers_table()
    md = render_markdown(r, layers, META, {})
    cover, find, answer, run = (md.index(s) for s in ("What these numbers cover", "## Findings", "### Answer",
                                                      "## Run"))
    assert cover < find < answer < run
    assert md.index("| started |") < md.index("| finished |")
    assert md.rstrip().endswith("- fp = dequantized Q4\\_1 weights")
    html = render_html(r, layers, META, {})
    assert html.index("What these numbers cover") < html.index("<h2>Findings</h2>") < html.index("<h2>Run</h2>")


def test_layer_counts_print_as_integers_and_float_as_float():
    headers, rows = formatted(layer_summary(layers_table()))
    assert headers[1] == "layers" and {row[1] for row in rows} == {"14"}
    r = results_table(["fp", "w8a8"], hw=("npu",)).assign(acc=["fp32", "int32-wrap"])
    headers, rows = formatted(summary_table(r))
    assert rows[0][headers.index("avg a bits")] == "float" and rows[0][headers.index("accumulator")] == "fp32"
    assert rows[1][headers.index("avg a bits")] == "8"


def test_short_inputs_say_how_many_rows_are_high():
    note = high_rows_note([get_preset("fp"), get_preset("w4a4-stamp")], 128)
    assert "w4a4-stamp: 64 of 128 rows at 8 bits, the rest at 4, so 6.00 average activation bits" in note
    assert high_rows_note([get_preset("w8a8")], 128) == ""


def test_report_html_references_nothing_outside_itself(tmp_path):
    paths = write_report(tmp_path, results_table(), layers_table(), None, META)
    page = paths["report.html"].read_text()
    refs = re.findall(r"""(?:src|href|action|poster|data)\s*=\s*["']([^"']*)["']""", page, re.I)
    refs += re.findall(r"url\(\s*['\"]?([^'\")]*)", page, re.I) + re.findall(r"@import\s+['\"]([^'\"]+)", page)
    assert refs and all(ref.startswith(("data:", "#")) for ref in refs), [r[:40] for r in refs]
    assert "<script" not in page.lower() and "<link" not in page.lower() and "<iframe" not in page.lower()


def test_the_accuracy_figure_draws_the_unusable_limit_only_when_a_config_is_above_it():
    from stamp_sim.report import cost_vs_accuracy

    def limit_lines(r):
        fig = cost_vs_accuracy(r, "energy_mj")
        return [line.get_ydata()[0] for line in fig.axes[0].get_lines()
                if line.get_label().startswith("unusable above")]

    r = results_table(hw=("npu",))
    assert limit_lines(r) == [MAX_PPL_RATIO * 12.0]
    assert limit_lines(results_table(["fp", "w8a8", "w4a8"], hw=("npu",))) == []
