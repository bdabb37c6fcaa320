"""GPTQ / GPFQ / AXE on a whole model: wall time of calibrate_weights, forwards included.

    PYTHONPATH=. python -m benchmarks.gptq_model [--model smollm2-135m] [--tokens 512] [--calib-windows 2]

Quantizes every linear layer of the model (210 for SmolLM2-135M) layer by layer in model
order, each Hessian from inputs under the already-quantized earlier layers, without the
cache; prints the wall time of each method against a round-to-nearest quantization of
the same layers measured in the same run (goal: GPTQ within 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from stamp_sim.kernels import AccumulatorSpec  # noqa: E402
from stamp_sim.config import get_preset  # noqa: E402
from stamp_sim.evaluation import model_outputs, prepare_data  # noqa: E402
from stamp_sim.models import load_model  # noqa: E402
from stamp_sim.nn import calibrate_weights, quantize_model, restore_model  # noqa: E402

GOAL_S = 120.0


def _seconds(loaded, data, cfg) -> tuple[float, int]:
    model = loaded.model
    layers = quantize_model(model, cfg)
    try:
        start = time.perf_counter()
        if cfg.weight_method == "rtn":
            for layer in layers.values():
                layer.quantized_weight()
        else:
            calibrate_weights(model, layers, data.calibration, lambda b: model_outputs(model, b, data.kind),
                              use_cache=False)
        return time.perf_counter() - start, len(layers)
    finally:
        restore_model(model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--calib-windows", type=int, default=2)
    args = ap.parse_args()
    loaded = load_model(args.model)
    data = prepare_data(loaded, args.tokens, 1, args.calib_windows, seed=0)
    w4a8 = get_preset("w4a8")
    axe = w4a8.replace(accumulator=AccumulatorSpec(bits=16, mode="wrap", tile=64, outer_bits=32), weight_l1="a2q+")
    cases = {"rtn": w4a8, "gptq": w4a8.replace(weight_method="gptq"), "gpfq": w4a8.replace(weight_method="gpfq"),
             "axe-gptq (16-bit T64)": axe.replace(weight_method="gptq")}
    times = {}
    for name, cfg in cases.items():
        times[name], count = _seconds(loaded, data, cfg)
    print(f"{args.model}: {count} layers, {args.calib_windows} calibration windows of {args.tokens} tokens, "
          f"{torch.get_num_threads()} threads")
    for name, t in times.items():
        ratio = "" if name == "rtn" else f"  ({t / times['rtn']:.0f}x rtn)"
        print(f"  {name:24} {t:7.1f} s{ratio}")
    print(f"  gptq within {GOAL_S:.0f} s: {'met' if times['gptq'] <= GOAL_S else 'NOT met'}")


if __name__ == "__main__":
    main()
