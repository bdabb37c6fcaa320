"""Evaluation through the bit-exact integer kernels against the fake-quant evaluation.

    python benchmarks/integer_eval.py [--model smollm2-135m] [--tokens 512] [--windows 4]

One narrow-accumulator config (W4A8 on a 16-bit wrapping register: every SmolLM2 layer
can overflow it, so every layer runs int_matmul) is evaluated twice on the same windows:
as stamp-sim run evaluates it (integer path), and with every layer forced onto the
fake-quant path (no accumulator simulated). Prints both wall times and their ratio
(goal: at most 3x), plus the perplexities, which differ because one of them simulates
the overflows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from stamp_sim.kernels import AccumulatorSpec  # noqa: E402
from stamp_sim.config import get_preset  # noqa: E402
from stamp_sim.config_eval import choose_paths  # noqa: E402
from stamp_sim.evaluation import accuracy, float_reference, prepare_data  # noqa: E402
from stamp_sim.models import load_model  # noqa: E402
from stamp_sim.nn import quantize_model, restore_model  # noqa: E402

GOAL = 3.0


def _timed(model, cfg, data, reference, integer: bool) -> tuple[float, dict, int]:
    layers = quantize_model(model, cfg)
    try:
        if integer:
            count = choose_paths(layers)
        else:
            count = 0
            for layer in layers.values():
                layer.mode = "fake"
        start = time.perf_counter()
        acc = accuracy(model, data, reference)
        return time.perf_counter() - start, acc, count
    finally:
        restore_model(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--acc-bits", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)
    loaded = load_model(args.model)
    data = prepare_data(loaded, args.tokens, args.windows, 0, seed=0)
    reference = float_reference(loaded.model, data)
    cfg = get_preset("w4a8").replace(name=f"w4a8-acc{args.acc_bits}",
                                     accumulator=AccumulatorSpec(bits=args.acc_bits, mode="wrap"))
    _timed(loaded.model, cfg, data, reference[:1], integer=True)  # warm the Numba caches
    fake_s, fake_acc, _ = _timed(loaded.model, cfg, data, reference, integer=False)
    int_s, int_acc, count = _timed(loaded.model, cfg, data, reference, integer=True)
    ratio = int_s / fake_s
    print(f"{args.model}, {args.windows} windows of {args.tokens} tokens, {cfg.name}, {torch.get_num_threads()} threads")
    print(f"  fake-quant path:           {fake_s:7.2f} s   ppl {fake_acc['ppl']:.4f} (no accumulator simulated)")
    print(f"  integer path ({count} layers): {int_s:7.2f} s   ppl {int_acc['ppl']:.4f}")
    print(f"  ratio integer / fake-quant: {ratio:.2f}x (goal <= {GOAL:g}x): {'met' if ratio <= GOAL else 'NOT met'}")


if __name__ == "__main__":
    main()
