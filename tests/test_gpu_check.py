"""benchmarks/gpu_check.py on the CPU: the no-CUDA exit, and the pure parts (the shapes taken from the
workloads, the predictions, the table and its Markdown, the test counts) and the timers on tiny inputs,
so that what runs on the lent GPU machine is not run there for the first time."""

import ast
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from stamp_sim import hw_models
from stamp_sim.forward_cost import price_forward
from stamp_sim.config import get_preset
from stamp_sim.models import load_model, workload

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
_spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gc = importlib.util.module_from_spec(_spec)
sys.modules["gpu_check"] = gc  # dataclasses look their module up there
_spec.loader.exec_module(gc)

INT8 = hw_models.LayerPrecision(w_bits=8, a_bits=8)
# Llama-3.2-1B's published config: hidden 2048, 8 KV heads of 64, MLP 8192.
LLAMA_1B_SHAPES = [("q/o", 2048, 2048), ("k/v", 2048, 512), ("gate/up", 2048, 8192), ("down", 8192, 2048)]


def test_without_cuda_it_exits_2_with_one_line_and_writes_nothing(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no CUDA device" in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists()


def test_layer_shapes_of_the_llama_card_join_the_kinds_sharing_a_shape():
    assert gc.layer_shapes(workload("llama-3.2-1b", 32)) == LLAMA_1B_SHAPES


def test_gemm_list_crosses_models_shapes_and_rows():
    shapes = {"a": LLAMA_1B_SHAPES, "b": [("down", 1536, 576)]}
    gemms = gc.gemm_list(shapes, (512, 1))
    assert len(gemms) == 2 * 4 + 2 * 1
    assert [g.shape for g in gemms[:5]] == ["512x2048x2048", "512x2048x512", "512x2048x8192", "512x8192x2048",
                                            "1x2048x2048"]
    assert [g.phase for g in gemms] == ["prefill"] * 4 + ["decode"] * 4 + ["prefill", "decode"]
    assert gemms[-1] == gc.Gemm("b", "down", 1, 1536, 576)


def test_dwt_list_is_one_prefill_input_per_width_with_its_kinds_in_block_order():
    gemms = gc.gemm_list({"m": LLAMA_1B_SHAPES}, (2048, 1))
    dwts = gc.dwt_list(gemms)
    assert [(g.m, g.k, g.kinds) for g in dwts] == [(2048, 2048, "q/k/v/o/gate/up"), (2048, 8192, "down")]


@pytest.mark.parametrize(("m", "rows"), [(1, 32), (16, 32), (17, 17), (512, 512)])
def test_int_mm_rows_pads_what_torch_int_mm_refuses(m, rows):
    assert gc.int_mm_rows(m) == rows


def test_operand_copies_exceed_the_flush_size_within_the_cap():
    assert gc.operand_copies(1 << 20, 100 << 20) == 100
    assert gc.operand_copies(3, 10) == 4
    assert gc.operand_copies(1 << 30, 100 << 20) == 1
    assert gc.operand_copies(1, 1 << 30) == gc.MAX_OPERAND_COPIES
    with pytest.raises(ValueError, match="set_bytes=0"):
        gc.operand_copies(0, 10)


def _m(kind, gemm=None, measured=10.0, phase="prefill", note=""):
    shape = gemm.shape if gemm is not None else "512 tokens"
    return gc.Measurement(f"{kind} thing", kind, shape, measured, gemm, phase, note)


def test_predictions_are_the_cost_models_numbers():
    gpu = hw_models.load_profile("gpu")
    g, decode = gc.Gemm("m", "q", 512, 576, 1536), gc.Gemm("m", "q", 1, 576, 1536)
    int8 = hw_models.price_layer(512, 576, 1536, INT8, gpu, "prefill").latency_s * 1e6
    fp16 = hw_models.price_layer(512, 576, 1536, hw_models.LayerPrecision(), gpu, "prefill").latency_s * 1e6
    assert gc.predicted_us(_m("int8", g), gpu, {}) == pytest.approx(int8)
    assert gc.predicted_us(_m("fp16", g), gpu, {}) == pytest.approx(fp16)
    assert fp16 > int8  # H100: int8 has twice fp16's MACs per second and half its bytes
    one_row = hw_models.price_layer(1, 576, 1536, INT8, gpu, "decode").latency_s * 1e6
    assert gc.predicted_us(_m("int8", decode, phase="decode"), gpu, {}) == pytest.approx(one_row)
    dwt = hw_models.LayerPrecision(w_bits=8, a_bits=8, seq_transform="dwt", seq_levels=3)
    seq = hw_models.price_layer(512, 576, 1536, dwt, gpu, "prefill").seq_transform_s * 1e6
    assert seq > 0 and gc.predicted_us(_m("dwt", g), gpu, {}) == pytest.approx(seq)
    costs = {("gpu", "prefill"): 123.0, ("gpu", "decode"): "error: no --context"}
    assert gc.predicted_us(_m("model"), gpu, costs) == 123.0
    assert gc.predicted_us(_m("model", phase="decode"), gpu, costs) == "error: no --context"
    assert gc.predicted_us(_m("model"), hw_models.load_profile("npu"), costs) == "not priced"
    with pytest.raises(ValueError, match="kind='int4'"):
        gc.precision_of("int4")


def test_table_has_a_prediction_and_a_ratio_per_profile_and_keeps_errors_as_text():
    profiles = {"gpu": hw_models.load_profile("gpu"), "npu": hw_models.load_profile("npu")}
    g = gc.Gemm("m", "q", 512, 576, 576)
    rows = [_m("int8", g, measured=4.0, note="n1"), _m("model", measured=500.0, phase="decode")]
    costs = {("gpu", "decode"): 250.0, ("npu", "decode"): "error: stamp-sim cost: boom"}
    table = gc.build_table(rows, profiles, costs)
    assert list(table.columns) == ["what", "shape", "measured_us", "predicted_gpu_us", "predicted_npu_us",
                                   "ratio_gpu", "ratio_npu", "note"]
    predicted = hw_models.price_layer(512, 576, 576, INT8, profiles["gpu"], "prefill").latency_s * 1e6
    assert table.loc[0, "ratio_gpu"] == pytest.approx(4.0 / predicted)
    assert table.loc[1, "ratio_gpu"] == 2.0
    assert table.loc[1, "predicted_npu_us"] == "error: stamp-sim cost: boom" and math.isnan(table.loc[1, "ratio_npu"])
    assert table.loc[0, "note"] == "n1"


def test_markdown_and_text_show_every_row_the_notes_and_the_tests():
    table = pd.DataFrame({"what": ["a|b", "c"], "shape": ["1x2x3", "4 tokens"], "measured_us": [1.23456, math.nan],
                          "predicted_gpu_us": [2.0, "error: x"], "ratio_gpu": [0.61728, math.nan], "note": ["", "n"]})
    env = {"device": "NVIDIA H200", "torch": "2.13.0", "cuda": "12.8", "git_revision": "abc1234", "time": "t"}
    tests = {"tests": 84, "passed": 83, "failed": 1, "errors": 0, "skipped": 0, "seconds": 61.0}
    text = gc.markdown(table, ["profile 'h200' skipped"], env, tests)
    lines = text.splitlines()
    assert "| what | shape | measured (us) | predicted gpu (us) | measured/predicted gpu | note |" in lines
    assert "| a\\|b | 1x2x3 | 1.235 | 2 | 0.6173 |  |" in lines
    assert "| c | 4 tokens |  | error: x |  | n |" in lines
    assert "- profile 'h200' skipped" in lines
    assert "CUDA tests: 83 passed, 1 failed, 0 errors, 0 skipped of 84 (61 s)" in lines
    assert "NVIDIA H200, torch 2.13.0 (CUDA 12.8)" in text
    plain = gc.text_lines(table)
    assert len(plain) == 3 and plain[0].startswith("what") and "error: x" in plain[2]


def test_load_profiles_skips_one_that_does_not_load_with_a_note():
    profiles, notes = gc.load_profiles(["gpu", "no-such-chip"])
    assert list(profiles) == ["gpu"]
    assert len(notes) == 1 and "'no-such-chip'" in notes[0] and "skipped" in notes[0]


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="1" failures="2" skipped="3" tests="10" time="1.0"></testsuite></testsuites>"""


def test_junit_counts_and_what_counts_as_passing():
    counts = gc.junit_counts(JUNIT)
    assert counts == {"tests": 10, "failed": 2, "errors": 1, "skipped": 3, "passed": 4}
    assert gc.junit_counts('<testsuite tests="5" skipped="1"/>')["passed"] == 4
    assert not gc.tests_ok(counts)
    assert gc.tests_ok({"tests": 5, "failed": 0, "errors": 0, "skipped": 1})
    assert not gc.tests_ok({"tests": 0, "failed": 0, "errors": 0, "skipped": 0})
    assert not gc.tests_ok({"error": "timed out"})
    assert gc.tests_line({"error": "timed out"}) == "did not finish: timed out"


def test_pytest_command_runs_every_test_file_with_cuda_tests_and_quick_only_their_gpu_tests(tmp_path):
    full, quick = gc.pytest_command(tmp_path / "j.xml", False), gc.pytest_command(tmp_path / "j.xml", True)
    with_cuda = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")
                       if "torch.cuda.is_available" in p.read_text() and p.name != Path(__file__).name)
    assert with_cuda == sorted(gc.TEST_FILES)
    assert all(path in full for path in gc.TEST_FILES)
    assert "gpu" not in full and quick[-2:] == ["-m", "gpu"]


def test_model_cost_args_give_decode_its_context():
    assert gc.model_cost_args("gpu", "prefill", 512, "p.csv")[-6:] == ["--phase", "prefill", "--tokens", "512",
                                                                        "--csv", "p.csv"]
    assert gc.model_cost_args("h200", "decode", 512, "d.csv")[1:3] == ["--hw", "h200"]
    assert gc.model_cost_args("gpu", "decode", 512, "d.csv")[-4:-2] == ["--context", "512"]


def test_the_cost_cli_latency_is_the_whole_forward_sum_and_a_failure_is_its_text(tmp_path):
    got = gc.cli_model_latency_us("gpu", "prefill", 16, tmp_path, model="tiny-llama")
    priced = price_forward("tiny-llama", get_preset("fp"), hw_models.load_profile("gpu"), "prefill", 16)
    assert got == pytest.approx(priced["latency_s"].sum() * 1e6)
    bad = gc.cli_model_latency_us("no-such-chip", "prefill", 16, tmp_path, model="tiny-llama")
    assert bad.startswith("error: stamp-sim cost: ") and "no-such-chip" in bad and "\n" not in bad
    assert gc.latency_sum_us(tmp_path / "missing.csv").startswith("error: ")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    assert gc.latency_sum_us(tmp_path / "x.csv") == "error: x.csv has no latency_s rows"


def test_median_us_calls_warmup_then_blocks_of_every_index():
    seen = []
    us = gc.median_us(seen.append, calls=3, warmup=2, repeats=2, device="cpu")
    assert seen == [0, 1, 0, 1, 2, 0, 1, 2] and us >= 0


def test_the_timers_run_on_tiny_inputs():
    kw = dict(warmup=1, repeats=2, flush_bytes=1 << 16)
    int8 = gc.time_gemm(gc.Gemm("m", "q", 1, 64, 32), "int8", "cpu", **kw)
    assert int8.measured_us > 0 and "ran 32 rows" in int8.note and int8.phase == "decode"
    fp16 = gc.time_gemm(gc.Gemm("m", "q", 24, 64, 32), "fp16", "cpu", **kw)
    assert fp16.measured_us > 0 and fp16.note == "" and fp16.shape == "24x64x32"
    dwt = gc.time_dwt(gc.Gemm("m", "q", 24, 64, 32), "cpu", **kw)
    assert dwt.measured_us > 0 and dwt.shape == "24x64"
    model = load_model("tiny-llama", fresh=True).model.to(torch.float16)
    prefill = gc.time_prefill(model, "cpu", tokens=16, warmup=1, repeats=1, name="tiny-llama")
    decode = gc.time_decode(model, "cpu", context=16, steps=3, repeats=1, name="tiny-llama")  # checks the cache grew
    assert prefill.measured_us > 0 and decode.measured_us > 0 and decode.phase == "decode"


def test_a_failing_timer_is_a_row_saying_why():
    def boom():
        raise RuntimeError("CUDA error: out of memory\nmore")

    row = gc.attempt(boom, "int8 GEMM m q", "int8", "1x2x3")
    assert math.isnan(row.measured_us) and row.note == "failed: RuntimeError: CUDA error: out of memory"


def test_settings_quick_is_smaller_and_repeats_overrides():
    full, quick = gc.settings(False, None), gc.settings(True, None)
    assert full["prefill_m"] == (512, 2048) and quick["prefill_m"] == (512,)
    assert quick["repeats"] < full["repeats"] and quick["steps"] < full["steps"]
    assert gc.settings(False, 7)["repeats"] == 7 == gc.settings(False, 7)["model_repeats"]


def test_no_function_of_the_script_is_over_80_lines():
    long = [node.name for node in ast.walk(ast.parse(SCRIPT.read_text()))
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 80]
    assert not long, long
