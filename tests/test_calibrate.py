"""`stamp-sim calibrate` and the fit behind it (stamp_sim.latency_basis, stamp_sim.profile_fit).

The oracle of every number here is the cost model itself: a "hidden" profile (the base
with a few free parameters changed by known factors) prices the rows that serve as
measurements, and the fit must find those values again; the probe decomposition must
equal a direct pricing at any parameter values.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from stamp_sim import hw_models
from stamp_sim.cli import main
from stamp_sim.config import get_preset
from stamp_sim.latency_basis import LatencyBasis, MeasuredForward, free_parameters, parameter_values, with_values
from stamp_sim.profile_fit import calibrate, error_summary, held_out

BASE = "npu"
# The hidden chip: slower DRAM, a slower fp16 array on large GEMMs, and a fixed cost per
# forward call; every other parameter is the base's.
HIDDEN = {"efficiency.dram": 0.7, "modes.fp16.large_m_efficiency": 0.55, "efficiency.call_overhead_us": 800.0}
# (model, config, phase, tokens): three small models so that leaving one out still
# leaves rows of both phases and both configs.
ROWS = [(model, config, phase, tokens)
        for model in ("smollm2-135m", "smollm2-360m", "llama-3.2-1b")
        for config, phase, tokens in (("fp", "prefill", 512), ("fp", "prefill", 128), ("w8a8", "decode", 256),
                                      ("fp", "decode", 1024))]


def _hidden() -> hw_models.HardwareProfile:
    return with_values(hw_models.load_profile(BASE), HIDDEN)


def _forwards(rows, profile) -> list[MeasuredForward]:
    """`rows` as measurements: each priced on `profile` (the hidden chip)."""
    out = []
    for model, config, phase, tokens in rows:
        f = MeasuredForward(model=model, config=get_preset(config), phase=phase, tokens=tokens, measured_ms=1.0)
        ms = float(f.price(profile)["latency_s"].sum()) * 1e3
        out.append(MeasuredForward(model=model, config=f.config, phase=phase, tokens=tokens, measured_ms=ms))
    return out


@pytest.fixture(scope="module")
def synthetic() -> list[MeasuredForward]:
    return _forwards(ROWS, _hidden())


def _write_csv(path, forwards, **override):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["model", "config", "phase", "tokens", "measured_ms"])
        for f in forwards:
            writer.writerow([f.model, f.config.name, f.phase, f.tokens, repr(f.measured_ms)])
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("profile_name, config", [("npu", "w4a16"), ("npu", "w4a4-stamp"), ("gpu", "w4a16"),
                                                  ("snapdragon-8-elite", "w8a8")])
def test_basis_equals_direct_pricing_at_random_values(profile_name, config):
    profile = hw_models.load_profile(profile_name)
    forwards = [MeasuredForward("smollm2-135m", get_preset(config), phase, tokens, 1.0)
                for phase, tokens in (("prefill", 256), ("decode", 512))]
    basis = LatencyBasis.build(profile, forwards)
    rng = np.random.default_rng(0)
    for _ in range(3):
        values = {f: (float(rng.uniform(0.05, 1.0)) if "overhead" not in f else float(rng.uniform(0, 50)))
                  for f in free_parameters(profile)}
        direct = [float(f.price(with_values(profile, values))["latency_s"].sum()) for f in forwards]
        np.testing.assert_allclose(basis.latency_s(values), direct, rtol=1e-9)


def test_fit_recovers_the_hidden_values_and_predicts_held_out_models(synthetic):
    result = calibrate(hw_models.load_profile(BASE), synthetic)
    for name, value in HIDDEN.items():
        assert name in result.fit.fitted
        assert result.fit.values[name] == pytest.approx(value, rel=0.03), name
    np.testing.assert_allclose(result.fitted_s, result.measured_s, rtol=0.01)
    assert result.heldout.scheme == "leave one model out"
    summary = error_summary(result.heldout.predicted_s, result.measured_s, [f.phase for f in synthetic])
    assert set(summary) == {"prefill", "decode"}
    assert all(s["worst"] < 0.05 for s in summary.values()), summary
    base = error_summary(result.base_s, result.measured_s, [f.phase for f in synthetic])
    assert max(s["median"] for s in base.values()) > 0.2  # the base really is off
    # The same rows with the measurements shuffled: what was learnt on some models no
    # longer predicts the others (held out is out of sample).
    permuted = np.roll(result.measured_s, len(synthetic) // 2 + 1)
    shuffled = held_out(result.basis, permuted, [f.model for f in synthetic])
    assert np.median(np.abs(shuffled.predicted_s / permuted - 1.0)) > 0.3


def test_one_model_falls_back_to_leave_one_row_out():
    rows = [r for r in ROWS if r[0] == "smollm2-135m"]
    result = calibrate(hw_models.load_profile(BASE), _forwards(rows, _hidden()))
    assert result.heldout.scheme == "leave one row out"
    assert np.isfinite(result.heldout.predicted_s).all()


def test_few_rows_fit_only_what_they_pin_down():
    # One decode row on a memory-bound chip says nothing about the MAC array.
    rows = [("smollm2-135m", "fp", "decode", 1024)]
    result = calibrate(hw_models.load_profile(BASE), _forwards(rows, _hidden()))
    assert len(result.fit.fitted) == 1
    assert "modes.int4.large_m_efficiency" in result.fit.kept
    assert result.fit.kept["modes.int4.large_m_efficiency"] == "no row depends on it"


def test_cli_writes_a_profile_that_prices_the_rows_as_reported(tmp_path, synthetic):
    rows = synthetic[:8]  # two models
    measurements = _write_csv(tmp_path / "m.csv", rows)
    out = tmp_path / "fitted.yaml"
    result = invoke("calibrate", measurements, "--hw", BASE, "--out", out)
    assert result.exit_code == 0, result.output
    assert "held-out is leave one model out" in result.output
    assert "fitted efficiency.dram" in result.output and "kept from npu" in result.output
    doc = yaml.safe_load(out.read_text())
    assert doc["extends"] == BASE
    prov = doc["provenance"]
    assert len(prov["sha256"]) == 64 and prov["fitted"] and len(prov["rows"]) == len(rows)
    fitted = hw_models.load_profile(out)
    for f, record in zip(rows, prov["rows"]):
        assert float(f.price(fitted)["latency_s"].sum()) * 1e3 == pytest.approx(record["fitted_ms"], rel=1e-9)
    assert parameter_values(fitted)["efficiency.dram"] == pytest.approx(HIDDEN["efficiency.dram"], rel=0.03)
    cost = invoke("cost", "--hw", out, "--model", "smollm2-135m", "--config", "fp", "--tokens", "128")
    assert cost.exit_code == 0, cost.output
    assert "npu-calibrated" in cost.output


def test_run_takes_the_fitted_profile(tmp_path, synthetic):
    measurements = _write_csv(tmp_path / "m.csv", synthetic[:4])
    out = tmp_path / "sub" / "fitted.yaml"
    base = tmp_path / "base.yaml"
    base.write_text("extends: npu\nname: my-npu\n")
    assert invoke("calibrate", measurements, "--hw", base, "--out", out).exit_code == 0
    assert yaml.safe_load(out.read_text())["extends"] == "../base.yaml"
    configs = tmp_path / "configs.yaml"
    configs.write_text("- fp\n- w8a8\n")
    result = invoke("run", "--model", "llama-3.2-1b", "--hw", out, "--configs", configs, "--tokens", "64",
                    "--out", tmp_path / "reports", "--no-progress")
    assert result.exit_code == 0, result.output
    results = list((tmp_path / "reports").glob("*/results.csv"))
    assert results and "my-npu-calibrated" in results[0].read_text()


def test_configs_file_names_are_accepted(tmp_path, synthetic):
    configs = tmp_path / "configs.yaml"
    configs.write_text("- {name: my-w8, extends: w8a8}\n")
    measurements = tmp_path / "m.csv"
    measurements.write_text("model,config,phase,tokens,measured_ms,source\n"
                            "smollm2-135m,my-w8,decode,256,2.5,my phone\n")
    out = tmp_path / "f.yaml"
    result = invoke("calibrate", measurements, "--hw", BASE, "--configs", configs, "--out", out)
    assert result.exit_code == 0, result.output
    assert "leave one row out" in result.output


BAD = [
    ("model,config,phase,tokens\nsmollm2-135m,fp,decode,256\n", "missing column(s) measured_ms"),
    ("model,config,phase,tokens,measured_ms\nsmollm2-135m,w9a9,decode,256,3\n", "row 1 (line 2), column config: got 'w9a9'"),
    ("model,config,phase,tokens,measured_ms\nsmollm2-135m,fp,generate,256,3\n", "column phase: got 'generate'; allowed: decode, prefill"),
    ("model,config,phase,tokens,measured_ms\nsmollm2-135m,fp,decode,256,0\n", "column measured_ms: got '0'; allowed: a finite number > 0"),
    ("model,config,phase,tokens,measured_ms\nsmollm2-135m,fp,decode,256,-2\n", "column measured_ms: got '-2'"),
    ("model,config,phase,tokens,measured_ms\nsmollm2-135m,fp,prefill,0,3\n", "column tokens: got '0'; allowed: the prompt length"),
    ("model,config,phase,tokens,measured_ms\nno-such-model,fp,prefill,8,3\n", "column model: got 'no-such-model'"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_measurements_are_one_line_errors_and_write_nothing(tmp_path, text, message):
    measurements = tmp_path / "m.csv"
    measurements.write_text(text)
    out = tmp_path / "f.yaml"
    result = invoke("calibrate", measurements, "--hw", BASE, "--out", out)
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()


def test_nothing_fittable_is_refused_in_one_line(tmp_path):
    measurements = tmp_path / "m.csv"
    measurements.write_text("model,config,phase,tokens,measured_ms\nsmollm2-135m,fp,decode,256,3\n")
    out = tmp_path / "f.yaml"
    result = invoke("calibrate", measurements, "--hw", BASE, "--out", out, "--params", "modes.int4.small_m_efficiency")
    assert result.exit_code != 0
    assert "nothing can be fitted" in result.output and "no row depends on it" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()
    bad = invoke("calibrate", measurements, "--hw", BASE, "--out", out, "--params", "efficiency.warp")
    assert bad.exit_code != 0 and "efficiency.warp" in bad.output and not out.exists()
