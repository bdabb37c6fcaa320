"""The written report: files, offline HTML, findings on tables with a known answer, sparse inputs."""

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from stamp_sim.report import (
    ReportError,
    cost_vs_accuracy,
    energy_breakdown,
    figure_to_base64_png,
    findings,
    layer_sqnr,
    make_figures,
    new_run_dir,
    render_html,
    render_markdown,
    save_figure,
    token_energy,
    write_report,
)
from tests.report.synthetic import layers_table, results_table, token_energy_table

META = {"model": "SmolLM2-135M <q4>", "tokens": 512, "windows": 2, "seed": 0, "profiles": ["npu", "gpu"],
        "git_revision": "abc123", "versions": {"torch": "2.4"}, "notes": ["fp = dequantized Q4_1 weights"]}


def _text(sections):
    return "\n".join([s.title for s in sections] + [i for s in sections for i in s.items])


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    """One full report shared by the tests that only read it (rendering figures is the slow part)."""
    run = new_run_dir(tmp_path_factory.mktemp("reports"), "run")
    paths = write_report(run, results_table(), layers_table(), token_energy_table(), META,
                         extra_sections=[("Sensitivity", "<p>later issue</p>")])
    return run, paths


def test_write_report_full(full_report):
    run, paths = full_report
    expected = {"results.csv", "layers.csv", "token_energy.csv", "run.json", "report.md", "report.html",
                "figures/cost_vs_accuracy_energy.png", "figures/cost_vs_accuracy_latency.png",
                "figures/energy_breakdown.png", "figures/layer_sqnr.png", "figures/token_energy.png"}
    assert set(paths) == expected
    for rel, path in paths.items():
        assert path == run / rel and path.stat().st_size > 0
    assert not list(run.rglob(".*.tmp"))
    assert json.loads(paths["run.json"].read_text())["seed"] == 0
    assert pd.read_csv(paths["results.csv"]).shape == results_table().shape
    for rel in expected:
        if rel.endswith(".png"):
            assert paths[rel].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["report.md"].read_text()
    for rel in expected:
        if rel.startswith("figures/"):
            assert f"]({rel})" in md
    assert "fp = dequantized Q4\\_1 weights" in md and "w4a4-stamp has lower perplexity than w4a4-first64" in md


def test_html_is_offline_and_embeds_every_figure(full_report):
    _, paths = full_report
    page = paths["report.html"].read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len([p for p in paths if p.startswith("figures/")]) == 5
    on_disk = {paths[p].read_bytes() for p in paths if p.startswith("figures/")}
    assert {base64.b64decode(i) for i in images} == on_disk
    # Text is escaped; the extra section's fragment is inserted as HTML.
    assert "SmolLM2-135M &lt;q4&gt;" in page and "<q4>" not in page
    assert "<h2>Sensitivity</h2>\n<p>later issue</p>" in page
    assert "<details>" in page


def test_findings_say_which_config_has_lower_perplexity():
    text = _text(findings(results_table()))
    assert "w4a4-stamp has lower perplexity than w4a4-first64 (20.00 vs 40.00)" in text
    assert "w4a4-hadamard-stamp has lower perplexity than w4a4-hadamard" in text
    assert "w4a4-stamp beats w4a4-first64 on every accuracy metric" in text
    assert "Average activation bits: 4.50 for both." in text
    # Energy on npu: w4a4 (80) and w4a4-first64 (40) are above 2x the float perplexity (12): never picked.
    assert "Cheapest usable: w4a4-hadamard at" in text and "Most accurate: fp at" in text
    assert re.search(r"Not recommended, accuracy unusable[^\n]*w4a4 \([^)]*perplexity 80.00\), "
                     r"w4a4-first64 \([^)]*perplexity 40.00\)", text)
    assert re.search(r"Dominated on energy[^\n]*w4a4-stamp-acc16 \(by ", text)


def test_findings_say_so_when_stamp_loses():
    text = _text(findings(results_table(stamp_wins=False)))
    assert "w4a4-stamp has higher perplexity than w4a4-first64 (60.00 vs 40.00): worse." in text
    assert "w4a4-first64 has lower" not in text  # always phrased from the candidate's side
    assert "w4a4-stamp loses to w4a4-first64" in text or "Mixed: w4a4-stamp" in text
    assert "w4a4-stamp beats" not in text


def test_findings_follow_the_numbers_not_the_names():
    r = results_table(["fp", "w4a4"], hw=("npu",))
    r.loc[r["config"] == "w4a4", "ppl"] = 11.0  # a quantized model that happens to be better
    text = _text(findings(r))
    assert "w4a4 is both the cheapest" in text
    assert "By perplexity, best first: w4a4 11.00, fp 12.00." in text


def test_encoder_without_perplexity_uses_output_sqnr(tmp_path):
    r = results_table(["fp", "w8a8", "w4a4"], hw=("npu",)).drop(columns=["kl", "top1"])
    r["ppl"] = np.nan
    r["out_sqnr_db"] = [np.inf, 30.0, 12.0]
    r["cosine"] = [1.0, 0.999, 0.95]
    text = _text(findings(r))
    assert "ranked by output SQNR (higher is better)" in text
    paths = write_report(tmp_path, r, None, None, {"model": "all-MiniLM-L6-v2"})
    assert "figures/cost_vs_accuracy_energy.png" in paths and "layers.csv" not in paths
    assert "ppl" not in pd.read_csv(paths["results.csv"]).dropna(axis=1, how="all").columns


@pytest.mark.parametrize("configs,hw", [(["fp"], ("npu",)), (["fp", "w4a4"], ("npu", "gpu"))])
def test_small_runs(tmp_path, configs, hw):
    r = results_table(configs, hw=hw)
    paths = write_report(tmp_path, r, layers_table(configs), None, {})
    assert {"report.html", "report.md", "results.csv"} <= set(paths)
    text = _text(findings(r))
    if len(configs) == 1:
        assert "Only fp has both energy and perplexity: nothing to trade off." in text or "nothing to trade off" in text
    assert "w4a4-stamp vs" not in text


def test_sparse_columns_only_config(tmp_path):
    r = pd.DataFrame({"config": ["fp", "w4a4"], "energy_mj": [np.nan, np.nan]})
    paths = write_report(tmp_path, r, pd.DataFrame({"config": ["fp"], "layer": ["x"]}), None, None)
    assert not any(p.startswith("figures/") for p in paths)
    page = paths["report.html"].read_text()
    assert "No accuracy column" in page


def test_bad_inputs_are_report_errors(tmp_path):
    with pytest.raises(ReportError, match="config"):
        write_report(tmp_path, pd.DataFrame({"x": [1]}))
    with pytest.raises(ReportError, match="not an existing directory"):
        write_report(tmp_path / "missing", results_table())
    with pytest.raises(ReportError, match="figure 'x'"):
        render_html(results_table(), None, {}, {"x": b"not a png"})
    with pytest.raises(ReportError, match="cost="):
        cost_vs_accuracy(results_table(), cost="power_w")
    with pytest.raises(ReportError, match="nope"):
        layer_sqnr(layers_table(), configs=["nope"])


def test_figures_are_figures_and_save(tmp_path):
    figs = [cost_vs_accuracy(results_table(), "latency_ms"), energy_breakdown(results_table(["fp"])),
            layer_sqnr(layers_table(["w4a4", "w8a8"])), token_energy(token_energy_table(), k=32)]
    for i, fig in enumerate(figs):
        assert isinstance(fig, Figure)
        assert base64.b64decode(figure_to_base64_png(fig))[:4] == b"\x89PNG"
        save_figure(fig, tmp_path / f"{i}.png")
        assert (tmp_path / f"{i}.png").stat().st_size > 1000


def test_markdown_escapes_table_cells():
    r = results_table(["fp"], hw=("npu",)).assign(config="a|b")
    md = render_markdown(r, None, {}, {})
    assert "a\\|b" in md


def test_accumulator_sweep_section_and_figure(tmp_path):
    """Configs that differ only in their accumulator get a section and a figure; others do not."""
    from stamp_sim.report.accumulator import accumulator_sweeps

    base = dict(model="m", hw="npu", w_bits=4, a_bits=8, avg_a_bits=8.0, seq_transform="identity",
                feature_transform="none", energy_mj=1.0, latency_ms=1.0)
    rows = []
    for method, l1 in (("rtn", "none"), ("gptq", "a2q+")):
        for bits, ppl, rate in ((12, 900.0, 0.2), (16, 60.0, 0.01), (20, 52.0, 0.0)):
            rows.append({**base, "config": f"{method}-{bits}", "acc_bits": bits, "acc_mode": "wrap",
                         "acc_tile": None, "weight_method": method, "weight_l1": l1,
                         "ppl": ppl * (0.5 if l1 != "none" else 1.0), "overflow_rate": rate})
    results = pd.DataFrame(rows)
    sweeps = accumulator_sweeps(results)
    assert set(sweeps["series"]) == {"RTN, wrap, single stage", "AXE (GPTQ, a2q+), wrap, single stage"}
    text = _text(findings(results))
    assert "Accumulator width vs accuracy" in text
    assert "W4A8, RTN, wrap, single stage: perplexity 52 at 20 bits, 900 at 12 bits; outputs overflow from 16 bits down" in text
    assert "accumulator_sweep" in make_figures(results)
    alone = results[results.config.str.endswith("-16")]
    assert accumulator_sweeps(alone).empty  # different methods at one width: no sweep
