"""End to end: `stamp-sim run` on a tiny random Llama (seconds), files, columns, resume, errors."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("transformers")

import stamp_sim.config_eval as config_eval  # noqa: E402
from stamp_sim.cli import main  # noqa: E402

CONTRACT = ["config", "hw", "w_bits", "a_bits", "avg_a_bits", "acc_bits", "seq_transform", "feature_transform",
            "ppl", "kl", "sqnr_db", "energy_mj", "latency_ms", "weight_mb", "act_mb", "overflow_rate"]
CONFIGS = """
- fp
- w4a4
- {extends: w4a4-first64, name: w4a4-first16, high_rows: 16}
- {extends: w4a4-stamp, name: w4a4-stamp16, high_rows: 16}
- {extends: w4a4-stamp-acc16, name: w4a4-stamp16-acc16, high_rows: 16}
"""


def _run(tmp_path, *extra):
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "configs.yaml"
    cfg.write_text(CONFIGS)
    args = ["run", "--model", "tiny-llama", "--tokens", "96", "--windows", "2", "--calib-windows", "1",
            "--configs", str(cfg), "--hw", "npu", "--hw", "tiny", "--out", str(tmp_path / "reports"),
            "--no-progress", *extra]
    return CliRunner().invoke(main, args)


def _run_dir(result):
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("report: ")
    return os.path.dirname(line.removeprefix("report: "))


def test_run_writes_a_complete_report(tmp_path):
    result = _run(tmp_path)
    assert result.exit_code == 0, result.output
    run_dir = _run_dir(result)
    for name in ("results.csv", "layers.csv", "run.json", "report.html", "report.md", "token_energy.csv"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert any(f.endswith(".png") for f in os.listdir(os.path.join(run_dir, "figures")))
    results = pd.read_csv(os.path.join(run_dir, "results.csv"))
    assert set(CONTRACT) <= set(results.columns)
    assert len(results) == 5 * 2 and set(results.hw) == {"npu", "tiny"}
    by = results[results.hw == "npu"].set_index("config")
    assert by.loc["fp", "kl"] == 0 and by.loc["fp", "top1"] == 1
    # The preset keeps the first token (the sink) out of the DWT: 1 row + the other 95
    # tokens padded to 96 for 3 Haar levels = 97 rows, 16 of them at 8 bits.
    assert by.loc["w4a4-stamp16", "avg_a_bits"] == pytest.approx((16 * 8 + 81 * 4) / 97)
    assert by.loc["w4a4", "energy_mj"] < by.loc["fp", "energy_mj"]
    assert 0 <= by.loc["w4a4-stamp16-acc16", "overflow_rate"] <= 1
    assert by.loc["w4a4", "int_max_rel_err"] < 1e-5  # integer (exact acc) vs fake-quant
    # The whole forward adds lm_head, attention, the KV cache and the rest to the linear layers.
    assert (by["ttft_ms"] > by["latency_ms"]).all() and (by["model_decode_ms"] > by["decode_latency_ms"]).all()
    assert by["model_tokens_per_s"].to_numpy() == pytest.approx(1e3 / by["model_decode_ms"].to_numpy())
    assert by.loc["w4a4", "peak_memory_mb"] < by.loc["fp", "peak_memory_mb"]
    layers = pd.read_csv(os.path.join(run_dir, "layers.csv"))
    assert {"config", "layer", "act_sqnr_db", "energy_concentration"} <= set(layers.columns)
    meta = json.loads(Path(run_dir, "run.json").read_text())
    assert meta["run"]["seed"] == 0 and "torch" in meta["versions"]
    html = Path(run_dir, "report.html").read_text()
    assert "data:image/png;base64," in html and "https://" not in html


def test_interrupted_run_resumes_and_same_seed_same_numbers(tmp_path, monkeypatch):
    full = _run(tmp_path / "a")
    assert full.exit_code == 0, full.output
    reference = pd.read_csv(os.path.join(_run_dir(full), "results.csv"))

    calls = {"n": 0}
    real = config_eval.quantize_model

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(config_eval, "quantize_model", interrupted)
    broken = _run(tmp_path / "b")
    assert broken.exit_code != 0
    (run_dir,) = [os.path.join(tmp_path / "b" / "reports", d) for d in os.listdir(tmp_path / "b" / "reports")]
    kept = pd.read_csv(os.path.join(run_dir, "results.csv"))
    assert sorted(set(kept.config)) == ["fp", "w4a4"]
    assert not os.path.exists(os.path.join(run_dir, "report.html"))

    monkeypatch.setattr(config_eval, "quantize_model", real)
    resumed = CliRunner().invoke(main, ["run", "--resume", run_dir, "--no-progress"])
    assert resumed.exit_code == 0, resumed.output
    final = pd.read_csv(os.path.join(run_dir, "results.csv"))
    assert len(final) == len(reference)
    cols = ["config", "hw", "ppl", "kl", "top1", "sqnr_db", "energy_mj", "latency_ms", "overflow_rate"]
    key = ["config", "hw"]
    pd.testing.assert_frame_equal(final[cols].sort_values(key).reset_index(drop=True),
                                  reference[cols].sort_values(key).reset_index(drop=True))


def test_resume_refuses_an_option_that_differs_from_run_json(tmp_path):
    run_dir = tmp_path / "half"
    run_dir.mkdir()
    from stamp_sim.config import RunConfig, get_preset

    saved = RunConfig(model="tiny-llama", configs=(get_preset("w4a4"),), profiles=("npu",), tokens=32, windows=1)
    (run_dir / "run.json").write_text(json.dumps({"run": saved.to_dict()}))
    result = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--hw", "gpu", "--no-progress"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "--hw" in line and "gpu" in line and "npu" in line
    # The same value as run.json's is no conflict; a broken run.json is one line naming the file.
    (run_dir / "run.json").write_text('{"run": {"model": ')
    broken = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--no-progress"])
    assert broken.exit_code == 1 and "run.json" in broken.output and "Traceback" not in broken.output
    (run_dir / "run.json").write_text("{}")
    keyless = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--no-progress"])
    assert keyless.exit_code == 1 and "'run'" in keyless.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "gpt5"], "unknown model 'gpt5'"),
        (["--hw", "no-such-chip"], "no-such-chip"),
        (["--configs", "MISSING"], "cannot read configs file"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "reports"
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--out", str(out), "--no-progress", *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() or not os.listdir(out)


def test_malformed_configs_and_unwritable_out(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: x, w_bits: 99}\n")
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--configs", str(bad), "--no-progress"])
    assert result.exit_code == 1 and "w_bits=99" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--tokens", "32", "--windows", "1",
                                       "--out", str(blocker / "reports"), "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_mixed_allocation_runs_as_a_config(tmp_path):
    (tmp_path / "alloc.yaml").write_text(
        "name: mixed-demo\ndefault: w4a4\nlayers:\n  model.layers.0.mlp.down_proj: fp\n"
        "  model.layers.1.self_attn.q_proj: w8a8\n")
    (tmp_path / "configs.yaml").write_text("- w4a4\n- mixed:alloc.yaml\n")
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--tokens", "64", "--windows", "1",
                                       "--configs", str(tmp_path / "configs.yaml"), "--hw", "tiny",
                                       "--out", str(tmp_path / "r"), "--no-progress"])
    assert result.exit_code == 0, result.output
    results = pd.read_csv(Path(_run_dir(result), "results.csv")).set_index("config")
    assert results.loc["mixed-demo", "seq_transform"] == "mixed"
    assert results.loc["mixed-demo", "energy_mj"] > results.loc["w4a4", "energy_mj"]
    assert 4 < results.loc["mixed-demo", "w_bits"] < 16


def test_integer_check_counts_overflows_of_a_narrow_accumulator(tmp_path):
    """A 6-bit saturating register overflows on most outputs; the rate is a share in (0.5, 1]."""
    (tmp_path / "c.yaml").write_text("- {extends: w4a4, name: acc6, accumulator: {bits: 6, mode: saturate}}\n")
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--tokens", "64", "--windows", "1",
                                       "--configs", str(tmp_path / "c.yaml"), "--hw", "tiny",
                                       "--out", str(tmp_path / "r"), "--no-progress"])
    assert result.exit_code == 0, result.output
    results = pd.read_csv(Path(_run_dir(result), "results.csv"))
    assert 0.5 < results.overflow_rate.iloc[0] <= 1.0
    assert results.int_max_rel_err.iloc[0] < 1e-5  # the exact-accumulator check is unaffected
    # Every layer was checked (the default's 21 covers tiny-llama's 14): layers.csv carries each
    # one's counts, and they add up to the run's rate.
    layers = pd.read_csv(Path(_run_dir(result), "layers.csv"))
    assert results.int_layers.iloc[0] == len(layers) and layers.outputs.gt(0).all()
    assert (layers.overflows > 0).all() and layers.overflow_rate.between(0, 1).all()
    pooled = (layers.overflow_rate * layers.outputs).sum() / layers.outputs.sum()
    assert abs(pooled - results.overflow_rate.iloc[0]) < 1e-12


def test_int_layers_limits_the_agreement_check_never_the_accuracy_path(tmp_path):
    (tmp_path / "c.yaml").write_text("- {extends: w4a4, name: acc6, accumulator: {bits: 6, mode: saturate}}\n")
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--tokens", "64", "--windows", "1",
                                       "--configs", str(tmp_path / "c.yaml"), "--hw", "tiny", "--int-layers", "2",
                                       "--out", str(tmp_path / "r"), "--no-progress"])
    assert result.exit_code == 0, result.output
    layers = pd.read_csv(Path(_run_dir(result), "layers.csv"))
    assert layers.int_path.all() and layers.outputs.gt(0).all()  # every layer's accuracy came through int_matmul
    results = pd.read_csv(Path(_run_dir(result), "results.csv")).iloc[0]
    assert results.int_layers == 2 and results.int_path_layers == len(layers)


def test_a_narrow_accumulator_moves_perplexity_and_a_wide_one_does_not(tmp_path):
    """Wraparound in an 8-bit register changes the accuracy numbers; a 32-bit register (which
    provably holds every sum, so the fake-quant path runs) and an exact one agree."""
    (tmp_path / "c.yaml").write_text(
        "- {extends: w4a4, name: exact, accumulator: {bits: 64, mode: exact}}\n"
        "- {extends: w4a4, name: acc32}\n"
        "- {extends: w4a4, name: wrap8, accumulator: {bits: 8, mode: wrap}}\n"
        "- {extends: w4a4, name: sat8, accumulator: {bits: 8, mode: saturate}}\n")
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--tokens", "64", "--windows", "2",
                                       "--configs", str(tmp_path / "c.yaml"), "--hw", "tiny",
                                       "--out", str(tmp_path / "r"), "--no-progress"])
    assert result.exit_code == 0, result.output
    res = pd.read_csv(Path(_run_dir(result), "results.csv")).set_index("config")
    assert res.loc["acc32", "ppl"] == res.loc["exact", "ppl"] and res.loc["acc32", "int_path_layers"] == 0
    assert res.loc["acc32", "overflow_rate"] == 0
    for narrow in ("wrap8", "sat8"):
        assert res.loc[narrow, "int_path_layers"] > 0 and res.loc[narrow, "overflow_rate"] > 0
        assert res.loc[narrow, "kl"] > res.loc["exact", "kl"] * 1.01
    assert res.loc["wrap8", "ppl"] != res.loc["sat8", "ppl"]


def test_int_layers_takes_all_or_a_count_and_refuses_anything_else(tmp_path):
    from stamp_sim.commands.run import _IntOrAll

    assert _IntOrAll().convert("all", None, None) is None and _IntOrAll().convert("21", None, None) == 21
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--hw", "tiny", "--int-layers", "some",
                                       "--out", str(tmp_path / "r"), "--no-progress"])
    assert result.exit_code == 2 and "'some' is not a layer count; allowed: an integer 0..100000 or 'all'" in result.output
    assert not (tmp_path / "r").exists()
