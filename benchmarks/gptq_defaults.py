"""Does GPTQ beat round to nearest with the default calibration? Perplexity of W4 weights.

    PYTHONPATH=. python -m benchmarks.gptq_defaults [--model smollm2-135m] [--tokens 512]
        [--windows 4] [--calib-windows DEFAULT] [--granularities per-channel,g64,g32]

Weight-only 4-bit weights (activations float) on the model, evaluated on the run's default
evaluation windows: round to nearest (RTN), GPTQ as a user gets it by writing
``weight_method: gptq`` (the config's defaults), GPTQ with act-order forced off and on, and
GPFQ, at per-channel and at groups of 64 and 32, the float model beside. Calibration windows
are the run's default (``RunConfig.calib_windows``), disjoint from the evaluation windows.
Prints perplexity and each method's ratio to RTN and to float; the goal is GPTQ below RTN in
every column and GPTQ at g32 within 1.25x float.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from stamp_sim.config import PrecisionConfig, RunConfig  # noqa: E402
from stamp_sim.config_eval import evaluate_config  # noqa: E402
from stamp_sim.evaluation import float_reference, prepare_data  # noqa: E402
from stamp_sim.models import load_model  # noqa: E402

GRANULARITIES = {"per-channel": {}, "g64": {"w_granularity": "per-group", "w_group_size": 64},
                 "g32": {"w_granularity": "per-group", "w_group_size": 32}}


def methods(base: PrecisionConfig) -> dict[str, PrecisionConfig]:
    """The weight quantizers compared, as configs on top of `base` (w_bits and grouping set)."""
    return {"rtn": base, "gptq (defaults)": base.replace(weight_method="gptq"),
            "gptq, act-order off": base.replace(weight_method="gptq", gptq_act_order=False),
            "gptq, act-order on": base.replace(weight_method="gptq", gptq_act_order=True),
            "gpfq": base.replace(weight_method="gpfq")}


def main() -> None:
    defaults = RunConfig(configs=(PrecisionConfig(),))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=defaults.model)
    ap.add_argument("--tokens", type=int, default=defaults.tokens)
    ap.add_argument("--windows", type=int, default=defaults.windows)
    ap.add_argument("--calib-windows", type=int, default=defaults.calib_windows)
    ap.add_argument("--granularities", default=",".join(GRANULARITIES))
    args = ap.parse_args()
    loaded = load_model(args.model)
    data = prepare_data(loaded, args.tokens, args.windows, args.calib_windows, seed=defaults.seed)
    model = loaded.model
    reference = float_reference(model, data, "cpu")
    table: dict[str, dict[str, float]] = {}
    start = time.perf_counter()
    fp = evaluate_config(model, PrecisionConfig(name="fp"), data, reference, "cpu", int_layers=0).accuracy["ppl"]
    widest = max(m.in_features for n, m in model.named_modules() if type(m).__name__ == "Linear" and "lm_head" not in n)
    calib_tokens = len(data.calibration) * args.tokens
    for gran in args.granularities.split(","):
        base = PrecisionConfig(name=f"w4-{gran}", w_bits=4, **GRANULARITIES[gran])
        for method, cfg in methods(base).items():
            ev = evaluate_config(model, cfg, data, reference, "cpu", int_layers=0)
            table.setdefault(method, {})[gran] = ev.accuracy["ppl"]
            print(f"  {gran:12} {method:22} ppl {ev.accuracy['ppl']:.2f}", flush=True)
    grans = args.granularities.split(",")
    print(f"{args.model}: W4 weights, float activations; {args.windows} evaluation windows of {args.tokens} tokens, "
          f"{args.calib_windows} calibration windows ({calib_tokens} tokens; widest layer {widest} in-features); "
          f"{time.perf_counter() - start:.0f} s")
    print(f"{'method':22}" + "".join(f"{g:>22}" for g in grans))
    for method, row in table.items():
        cells = []
        for g in grans:
            ratio = f"{row[g] / table['rtn'][g]:.2f}x rtn" if method != "rtn" else ""
            cells.append(f"{row[g]:8.2f} {ratio:>13}")
        print(f"{method:22}" + "".join(f"{c:>22}" for c in cells))
    print(f"{'float':22}" + "".join(f"{fp:8.2f}{'':>14}" for _ in grans))
    for g in grans:
        gptq = table["gptq (defaults)"][g]
        print(f"  {g}: gptq (defaults) {gptq / fp:.2f}x float, {gptq / table['rtn'][g]:.2f}x rtn "
              f"({'below' if gptq < table['rtn'][g] else 'NOT below'} rtn)")


if __name__ == "__main__":
    main()
