"""The cost model against published measurements of real chips: predicted vs measured.

Not a test: prints a table. Each row is one published measurement with its source and
conditions (a GEMM's TFLOP/s, a STREAM bandwidth, an LLM's tokens/s or time to first
token), predicted with the built-in profile as shipped. Rows marked ``calibrates`` are the
ones the profile's achieved efficiencies were fitted to (``--calibrate`` refits them from
those rows and prints the values the YAML files should hold); every other row is a check,
and the summary gives the median and worst absolute error over the checks only.

How each kind is predicted:
- gemm: ``hw_models.price_layer(M, K, N)`` at fp16 (BF16 rows) or int8 (FP8 rows: H100 and
  H200 run FP8 at the INT8 peak on the same operand bytes); TFLOP/s = 2 M N K / latency.
- bandwidth: the profile's achieved DRAM bandwidth (dram_gbps x efficiency.dram).
- llm: ``stamp_sim.forward_cost.price_forward`` of the whole model at batch 1 (an
  architecture card), decode at the published context or prefill of the published
  prompt; lm_head in fp16 unless the runtime quantizes it (TensorRT-LLM's FP8 leaves it
  in fp16). Genie's w4a16 as Qualcomm describes it (INT4 weights per channel, 16-bit
  activations and KV cache, lm_head_bits 8: "w4a16 + w8a16 (few layers)"); its prompt
  processor is a static 128-token graph, so lm_head computes all 128 positions' logits.

``--lomo`` checks the fit of ``stamp-sim calibrate`` (stamp_sim.profile_fit) on the llm rows
of each profile: it fits on the rows of every model but one and predicts the held-out
model's rows, starting from the shipped profile with the fields that llm rows calibrate
reset to the schema's defaults (efficiency 1, overhead 0), so no held-out row leaks into
the start; the GEMM and bandwidth rows' fields are kept (independent measurements).

Usage: python benchmarks/published.py [--calibrate] [--lomo] [--roofline] [--csv FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from stamp_sim import hw_models  # noqa: E402

AI_HUB = "Qualcomm AI Hub, quic/ai-hub-models qai_hub_models/models/{}/perf.yaml (Genie, Snapdragon 8 Elite QRD)"
AZURE = "Azure AI-benchmarking-guide, Azure_Results/ND_{}_v5_results.md"
BEKMAN = "S. Bekman, ml-engineering, compute/accelerator/README.md, Maximum Achievable Matmul FLOPS table"
XLA = "XLA matmul_interpolator_data.h, kDefaultMatmulPTable sm_90 (measured; Hopper SKU not stated: H100 SXM assumed)"
ISSUE = "stamp-sim issue 14 (measured H100 SXM GEMMs as quoted there; original publication not located)"
SGLANG = ("SGLang bench_latency log, gist jerryzh168/caa3f3a87f403091b238f85f7b22c20e (bf16, batch 1, "
          "CUDA graphs; an 80 GB GPU, H100 assumed)")
TRTLLM = "NVIDIA TensorRT-LLM docs/source/performance.md (v0.5), batch-1 first-token latency, H100 FP8"


@dataclass(frozen=True)
class Measurement:
    """One published number. metric: tflops, tb_per_s, tokens_per_s or ms. For a gemm:
    m, k, n and precision (fp16 | int8); for an llm: model (card), phase, tokens, context,
    config (genie-w4a16 | fp16 | w8a8) and kv_bits. calibrates: the profile field fitted to it."""

    key: str
    hw: str
    kind: str
    metric: str
    measured: float
    source: str
    conditions: str
    calibrates: str | None = None
    m: int = 0
    k: int = 0
    n: int = 0
    precision: str = "fp16"
    model: str = ""
    phase: str = "decode"
    tokens: int = 1
    context: int = 0
    config: str = "fp16"
    kv_bits: int | None = None
    logits: int = 1


def _gemm(key, hw, m, k, n, precision, tflops, source, conditions, calibrates=None) -> Measurement:
    return Measurement(key=key, hw=hw, kind="gemm", metric="tflops", measured=tflops, source=source,
                       conditions=conditions, calibrates=calibrates, m=m, k=k, n=n, precision=precision)


def _genie(model, card, tok_s, ttft_ms, calibrate=(None, None)) -> list[Measurement]:
    cond = "w4a16, context 4096, batch 1; TTFT = one 128-token prompt-processor call (logits of all 128 positions)"
    src = AI_HUB.format(model)
    return [Measurement(key=f"{card} decode", hw="snapdragon-8-elite", kind="llm", metric="tokens_per_s",
                        measured=tok_s, source=src, conditions=cond, model=card, phase="decode", context=4096,
                        config="genie-w4a16", calibrates=calibrate[0]),
            Measurement(key=f"{card} TTFT 128", hw="snapdragon-8-elite", kind="llm", metric="ms", measured=ttft_ms,
                        source=src, conditions=cond, model=card, phase="prefill", tokens=128, config="genie-w4a16",
                        calibrates=calibrate[1], logits=128)]


MEASUREMENTS: tuple[Measurement, ...] = (
    # --- Snapdragon 8 Elite, Qualcomm AI Hub (Genie) ---
    # The largest model fixes the bandwidth, the smallest the fixed cost of a call.
    *_genie("llama_v3_2_1b_instruct", "llama-3.2-1b", 53.6399, 37.0651,
            calibrate=("efficiency.call_overhead_us", "modes.w4a16.large_m_efficiency")),
    *_genie("llama_v3_2_3b_instruct", "llama-3.2-3b", 23.4718, 88.195),
    *_genie("llama_v3_8b_instruct", "llama-3-8b", 12.9262, 159.383, calibrate=("efficiency.dram", None)),
    *_genie("llama_v3_1_8b_instruct (Llama-3.1-8B: Llama-3-8B's shapes)", "llama-3-8b", 13.0546, 154.517),
    *_genie("qwen2_5_7b_instruct (runtime qnn_context_binary)", "qwen2.5-7b", 15.40274, 135.6538),
    *_genie("mistral_7b_instruct_v0_3 (runtime qnn_context_binary)", "mistral-7b-v0.3", 12.56, 165.65),
    # --- H100 SXM ---
    Measurement(key="H100 STREAM triad", hw="gpu", kind="bandwidth", metric="tb_per_s", measured=2.97,
                source=AZURE.format("H100"), conditions="STREAM-style Triad kernel, NVIDIA H100 80GB HBM3",
                calibrates="efficiency.dram"),
    _gemm("H100 BF16 best shape", "gpu", 2048, 13312, 2048, "fp16", 794.5, BEKMAN,
          "torch.matmul BF16, best shape MxNxK 2048x2048x13312, mean of 100 after 50 warm-up",
          calibrates="modes.fp16.large_m_efficiency"),
    _gemm("H100 FP8 8192^3", "gpu", 8192, 8192, 8192, "int8", 1290.1, AZURE.format("H100"),
          "cuBLASLt FP8, random init, 10,000 warm-up", calibrates="modes.int8.large_m_efficiency"),
    _gemm("H100 FP8 1024^3", "gpu", 1024, 1024, 1024, "int8", 274.1, AZURE.format("H100"),
          "cuBLASLt FP8, random init, 10,000 warm-up", calibrates="efficiency.kernel_overhead_us"),
    _gemm("H100 BF16 8192^3", "gpu", 8192, 8192, 8192, "fp16", 797.5, ISSUE, "BF16 8192x8192x8192"),
    _gemm("H100 BF16 M=128", "gpu", 128, 5376, 12288, "fp16", 352.6, ISSUE, "BF16 M=128, N=12288, K=5376"),
    _gemm("H100 FP8 M=128", "gpu", 128, 5376, 12288, "int8", 581.8, ISSUE, "FP8 M=128, N=12288, K=5376"),
    _gemm("H100 FP8 2048^3", "gpu", 2048, 2048, 2048, "int8", 1011.3, AZURE.format("H100"), "cuBLASLt FP8"),
    _gemm("H100 FP8 4096^3", "gpu", 4096, 4096, 4096, "int8", 1216.9, AZURE.format("H100"), "cuBLASLt FP8"),
    _gemm("H100 FP8 6144x12288x12288", "gpu", 6144, 12288, 12288, "int8", 1351.4, AZURE.format("H100"),
          "cuBLASLt FP8, m n k = 6144 12288 12288"),
    _gemm("H100 FP8 best shape", "gpu", 1024, 14336, 9216, "int8", 1402.6, BEKMAN,
          "torch FP8 (e4m3) matmul, best shape MxNxK 1024x9216x14336"),
    _gemm("sm_90 BF16 4096^3", "gpu", 4096, 4096, 4096, "fp16", 783.3, XLA, "bf16 x bf16 -> bf16, batch 1"),
    _gemm("sm_90 BF16 2048^3", "gpu", 2048, 2048, 2048, "fp16", 632.0, XLA, "bf16, batch 1"),
    _gemm("sm_90 BF16 1024x2048x2048", "gpu", 1024, 2048, 2048, "fp16", 524.3, XLA, "bf16, m1024 n2048 k2048"),
    _gemm("sm_90 BF16 256x2048x4096", "gpu", 256, 4096, 2048, "fp16", 285.9, XLA, "bf16, m256 n2048 k4096"),
    _gemm("sm_90 BF16 256x4096x2048", "gpu", 256, 2048, 4096, "fp16", 324.6, XLA, "bf16, m256 n4096 k2048"),
    _gemm("sm_90 BF16 256x1024x4096", "gpu", 256, 4096, 1024, "fp16", 172.3, XLA, "bf16, m256 n1024 k4096"),
    Measurement(key="H100 Llama-3-8B decode", hw="gpu", kind="llm", metric="tokens_per_s", measured=110.96,
                source=SGLANG, conditions="bf16, batch 1, input 128, output 8", model="llama-3-8b", phase="decode",
                context=128, config="fp16", calibrates="efficiency.call_overhead_us"),
    Measurement(key="H100 Llama-3-8B prefill 128", hw="gpu", kind="llm", metric="ms", measured=11.94,
                source=SGLANG, conditions="bf16, batch 1, input 128", model="llama-3-8b", phase="prefill",
                tokens=128, config="fp16"),
    Measurement(key="H100 LLaMA-7B FP8 TTFT 128", hw="gpu", kind="llm", metric="ms", measured=7.0, source=TRTLLM,
                conditions="FP8 weights, activations and KV cache, batch 1, 128 input tokens", model="llama-2-7b",
                phase="prefill", tokens=128, config="w8a8", kv_bits=8),
    Measurement(key="H100 LLaMA-7B FP8 TTFT 2048", hw="gpu", kind="llm", metric="ms", measured=36.0, source=TRTLLM,
                conditions="FP8 weights, activations and KV cache, batch 1, 2048 input tokens", model="llama-2-7b",
                phase="prefill", tokens=2048, config="w8a8", kv_bits=8),
    # --- H200 SXM ---
    Measurement(key="H200 STREAM triad", hw="h200", kind="bandwidth", metric="tb_per_s", measured=4.15,
                source=AZURE.format("H200"), conditions="STREAM-style Triad kernel, NVIDIA H200 141GB",
                calibrates="efficiency.dram"),
    _gemm("H200 FP8 8192^3", "h200", 8192, 8192, 8192, "int8", 1300.6, AZURE.format("H200"), "cuBLASLt FP8",
          calibrates="modes.int8.large_m_efficiency"),
    _gemm("H200 FP8 1024^3", "h200", 1024, 1024, 1024, "int8", 290.8, AZURE.format("H200"), "cuBLASLt FP8",
          calibrates="efficiency.kernel_overhead_us"),
    _gemm("H200 FP8 2048^3", "h200", 2048, 2048, 2048, "int8", 1013.4, AZURE.format("H200"), "cuBLASLt FP8"),
    _gemm("H200 FP8 4096^3", "h200", 4096, 4096, 4096, "int8", 1249.1, AZURE.format("H200"), "cuBLASLt FP8"),
    _gemm("H200 FP8 6144x12288x12288", "h200", 6144, 12288, 12288, "int8", 1318.0, AZURE.format("H200"),
          "cuBLASLt FP8"),
    _gemm("H200 FP8 best shape", "h200", 1280, 12032, 4096, "int8", 1453.4, BEKMAN,
          "torch FP8 (e4m3) matmul, best shape MxNxK 1280x4096x12032"),
)


@functools.lru_cache(maxsize=1)
def _configs():
    # Built once: a calibration predicts each row some 160 times.
    from stamp_sim.config import PrecisionConfig, get_preset

    return {"genie-w4a16": PrecisionConfig(name="genie-w4a16", description="Genie w4a16: INT4 per channel, a16, "
                                           "lm_head at 8 bits", w_bits=4, lm_head_bits=8),
            "fp16": get_preset("fp"), "w8a8": get_preset("w8a8")}


def predict(m: Measurement, profile: hw_models.HardwareProfile) -> float:
    """The cost model's value of `m`'s metric on `profile`."""
    if m.kind == "bandwidth":
        return profile.dram_bytes_per_s / 1e12
    if m.kind == "gemm":
        prec = hw_models.LayerPrecision() if m.precision == "fp16" else hw_models.LayerPrecision(w_bits=8, a_bits=8)
        latency = hw_models.price_layer(m.m, m.k, m.n, prec, profile).latency_s
        return 2.0 * m.m * m.k * m.n / latency / 1e12
    from stamp_sim.forward_cost import price_forward

    cfg = _configs()[m.config]
    if m.kv_bits is not None:
        cfg = dataclasses.replace(cfg, kv_bits=m.kv_bits)
    table = price_forward(m.model, cfg, profile, m.phase, m.tokens, m.context, logits=m.logits)
    latency = float(table["latency_s"].sum())
    return 1.0 / latency if m.metric == "tokens_per_s" else latency * 1e3


def _parse(field: str) -> tuple[hw_models.OperandMode | None, str]:
    """A calibrated field's (mode, attribute): ``efficiency.dram`` -> (None, "dram"),
    ``modes.int8.large_m_efficiency`` -> (INT8, "large_m_efficiency")."""
    section, _, rest = field.partition(".")
    if section == "efficiency":
        return None, rest
    mode, _, attr = rest.partition(".")
    return hw_models.OperandMode(mode), attr


def with_field(profile: hw_models.HardwareProfile, field: str, value: float) -> hw_models.HardwareProfile:
    """`profile` with one efficiency field (dotted, as in the YAML) set to `value`."""
    mode, attr = _parse(field)
    if mode is None:
        return dataclasses.replace(profile, efficiency=dataclasses.replace(profile.efficiency, **{attr: value}))
    modes = dict(profile.modes)
    modes[mode] = dataclasses.replace(modes[mode], **{attr: value})
    return dataclasses.replace(profile, modes=modes)


def _solve(m: Measurement, profile: hw_models.HardwareProfile) -> float:
    """The value of m.calibrates at which the prediction equals the measurement (bisection;
    predictions grow with an efficiency and shrink with a kernel overhead)."""
    overhead = m.calibrates.endswith("overhead_us")
    lo, hi = (0.0, 1e5) if overhead else (1e-4, 1.0)
    faster_with_more = not overhead
    slower = m.metric == "ms"
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        value = predict(m, with_field(profile, m.calibrates, mid))
        too_fast = value < m.measured if slower else value > m.measured
        if too_fast == faster_with_more:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def calibrate() -> dict[tuple[str, str], float]:
    """Each calibration row's field refitted, in order, four times over (the fields
    interact: an overhead changes the rows that fix the efficiencies)."""
    profiles = {m.hw: hw_models.load_profile(m.hw) for m in MEASUREMENTS}
    fitted: dict[tuple[str, str], float] = {}
    for _ in range(4):
        for m in MEASUREMENTS:
            if m.calibrates:
                value = _solve(m, profiles[m.hw])
                profiles[m.hw] = with_field(profiles[m.hw], m.calibrates, value)
                fitted[(m.hw, m.calibrates)] = value
    return fitted


def _roofline(profile: hw_models.HardwareProfile) -> hw_models.HardwareProfile:
    modes = {k: dataclasses.replace(v, large_m_efficiency=1.0, small_m_efficiency=1.0) for k, v in profile.modes.items()}
    return dataclasses.replace(profile, modes=modes, efficiency=hw_models.Efficiency())


def table(roofline: bool = False) -> pd.DataFrame:
    """One row per measurement: predicted, measured, error (predicted / measured - 1)."""
    rows = []
    for m in MEASUREMENTS:
        profile = hw_models.load_profile(m.hw)
        value = predict(m, _roofline(profile) if roofline else profile)
        rows.append({"key": m.key, "hw": m.hw, "metric": m.metric, "measured": m.measured, "predicted": value,
                     "error": value / m.measured - 1.0, "calibrates": m.calibrates or "", "source": m.source,
                     "conditions": m.conditions})
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame) -> dict[str, float]:
    """Median and worst |error| over the check rows (not used for calibration)."""
    checks = frame[frame.calibrates == ""]["error"].abs()
    return {"checks": int(len(checks)), "median_abs_error": float(statistics.median(checks)),
            "worst_abs_error": float(checks.max()), "worst_key": str(frame.loc[checks.idxmax(), "key"])}


def llm_rows(hw: str) -> list[Measurement]:
    """The llm measurements of profile `hw`, in table order."""
    return [m for m in MEASUREMENTS if m.hw == hw and m.kind == "llm"]


def measured_forward(m: Measurement):
    """An llm row as stamp_sim.latency_basis.MeasuredForward (ms of the prefill call or of one token)."""
    from stamp_sim.latency_basis import MeasuredForward

    cfg = _configs()[m.config]
    if m.kv_bits is not None:
        cfg = dataclasses.replace(cfg, kv_bits=m.kv_bits)
    ms = 1e3 / m.measured if m.metric == "tokens_per_s" else m.measured
    tokens = m.context if m.phase == "decode" else m.tokens
    return MeasuredForward(model=m.model, config=cfg, phase=m.phase, tokens=tokens, measured_ms=ms, logits=m.logits,
                           label=m.key)


def lomo_base(hw: str) -> hw_models.HardwareProfile:
    """The shipped profile with every field an llm row calibrates reset to its default
    (efficiencies 1.0, overheads 0): the start of a leave-one-model-out fit."""
    from stamp_sim.latency_basis import is_efficiency, with_values

    fields = {m.calibrates for m in llm_rows(hw) if m.calibrates}
    return with_values(hw_models.load_profile(hw), {f: 1.0 if is_efficiency(f) else 0.0 for f in fields})


def lomo(hw: str) -> tuple[pd.DataFrame, object]:
    """Leave one model out on `hw`'s llm rows: one row per measurement with the shipped
    prediction, the all-rows fit (in-sample) and the fit without its model (held out),
    in ms, and their errors; plus the stamp_sim.profile_fit.Calibration."""
    from stamp_sim.profile_fit import calibrate as fit_profile

    rows = llm_rows(hw)
    forwards = [measured_forward(m) for m in rows]
    result = fit_profile(lomo_base(hw), forwards)
    shipped = hw_models.load_profile(hw)
    frame = pd.DataFrame({
        "key": [m.key for m in rows], "model": [m.model for m in rows], "phase": [m.phase for m in rows],
        "measured_ms": [f.measured_ms for f in forwards],
        "shipped_ms": [float(f.price(shipped)["latency_s"].sum()) * 1e3 for f in forwards],
        "fitted_ms": result.fitted_s * 1e3, "heldout_ms": result.heldout.predicted_s * 1e3})
    for col in ("shipped", "fitted", "heldout"):
        frame[f"{col}_error"] = frame[f"{col}_ms"] / frame["measured_ms"] - 1.0
    return frame, result


def _print_lomo() -> None:
    from stamp_sim.profile_fit import error_summary

    for hw in dict.fromkeys(m.hw for m in MEASUREMENTS if m.kind == "llm"):
        frame, result = lomo(hw)
        print(f"\n{hw}: {len(frame)} llm rows, {frame.model.nunique()} models; {result.heldout.scheme}; "
              f"all-rows fit: {', '.join(f'{k} = {result.fit.values[k]:.4g}' for k in result.fit.fitted)}")
        for model, fitted in result.heldout.folds.items():
            print(f"  without {model}: fitted {', '.join(fitted) or 'nothing'}")
        shown = frame.drop(columns=["model"]).copy()
        for col in ("shipped_error", "fitted_error", "heldout_error"):
            shown[col] = (100 * shown[col]).map("{:+.1f}%".format)
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        for col, what in (("shipped", "shipped profile (its llm fields fitted on these rows)"),
                          ("fitted", "in-sample (fit on every row)"), ("heldout", "held out (leave one model out)")):
            parts = [f"{p} median {100 * v['median']:.1f}%, worst {100 * v['worst']:.1f}% ({v['rows']})"
                     for p, v in error_summary(frame[f"{col}_ms"], frame["measured_ms"], list(frame.phase)).items()]
            print(f"  {what}: " + "; ".join(parts))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", action="store_true", help="refit the calibrated fields and print them")
    ap.add_argument("--lomo", action="store_true", help="fit each profile's llm rows with stamp-sim calibrate's fit, "
                    "leaving one model out at a time, and print held-out errors")
    ap.add_argument("--roofline", action="store_true", help="also predict with every efficiency at 1.0")
    ap.add_argument("--csv", default=None, help="write the table to this CSV file")
    args = ap.parse_args(argv)
    if args.calibrate:
        for (hw, field), value in calibrate().items():
            shipped = _shipped(hw, field)
            print(f"{hw:>20} {field:<34} fitted {value:.4g}   in the YAML {shipped:.4g}")
        return 0
    if args.lomo:
        _print_lomo()
        return 0
    frame = table()
    if args.roofline:
        frame["roofline"] = table(roofline=True)["predicted"]
        frame["roofline_error"] = frame["roofline"] / frame["measured"] - 1.0
    shown = frame.drop(columns=["source", "conditions"]).assign(error=lambda f: (100 * f.error).map("{:+.1f}%".format))
    if "roofline_error" in shown:
        shown["roofline_error"] = (100 * shown["roofline_error"]).map("{:+.1f}%".format)
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    s = summary(frame)
    print(f"\nchecks (rows not used to calibrate): {s['checks']}; median |error| {100 * s['median_abs_error']:.1f}%, "
          f"worst {100 * s['worst_abs_error']:.1f}% ({s['worst_key']})")
    if args.csv:
        frame.to_csv(args.csv, index=False)
    return 0


def _shipped(hw: str, field: str) -> float:
    profile = hw_models.load_profile(hw)
    mode, attr = _parse(field)
    return float(getattr(profile.efficiency if mode is None else profile.modes[mode], attr))


if __name__ == "__main__":
    sys.exit(main())
