"""Speed of gptq_quantize / gpfq_quantize against round-to-nearest on SmolLM2-135M shapes.

    PYTHONPATH=. python -m benchmarks.gptq [--bits 4 --blocks 30 --threads 2 --repeats 3]

(as a module, so that it imports `benchmarks` helpers as a package).

One transformer block of SmolLM2-135M has seven Linear layers, (out, in): q (576, 576),
k (192, 576), v (192, 576), o (576, 576), gate (1536, 576), up (1536, 576), down (576, 1536).
q/k/v share one Hessian and gate/up another, but each weight is quantized separately, as the
model pipeline does. Hessians come from random correlated data (X of 2048 rows through a
random mixing matrix), once per shape, outside the timing. Prints per layer the best time of
RTN (`quantize`, per-channel) and of each quantizer, the ratio to RTN, and the estimate for a
model of `--blocks` blocks (best block time x blocks): the quantizer only, not the forward
passes that collect Hessians.
"""

from __future__ import annotations

import argparse
import os
import time

# Idle OpenMP workers must sleep, not spin, on a small shared machine (as in tests/conftest.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from stamp_sim.quant import A2QConfig, gpfq_quantize, gptq_quantize, quantize  # noqa: E402

LAYERS = [("q", 576, 576), ("k", 192, 576), ("v", 192, 576), ("o", 576, 576),
          ("gate", 1536, 576), ("up", 1536, 576), ("down", 576, 1536)]


def hessian(k: int, seed: int, rows: int = 2048) -> torch.Tensor:
    """X^T X (K x K, float64) of correlated inputs, normalized by the row count."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.eye(k) + torch.randn(k, k, generator=g) / k**0.5
    x = torch.randn(rows, k, generator=g) @ mix * (0.2 + 2 * torch.rand(k, generator=g))
    return (x.double().T @ x.double()) / rows


def best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--blocks", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    hs = {k: hessian(k, k) for k in {k for _, _, k in LAYERS}}
    axe = A2QConfig(w_bits=args.bits, acc_bits=16, x_bits=8, x_signed=True, tile=64)
    methods = {"gptq": lambda w, h: gptq_quantize(w, h, args.bits),
               "gpfq": lambda w, h: gpfq_quantize(w, h, args.bits),
               "gptq+axe": lambda w, h: gptq_quantize(w, h, args.bits, budget=axe)}
    totals = {"rtn": 0.0, **{m: 0.0 for m in methods}}
    print(f"{'layer':6} {'shape':>11} {'rtn ms':>8} " + " ".join(f"{m + ' ms':>12} {'x rtn':>7}" for m in methods))
    for name, out, k in LAYERS:
        w = torch.randn(out, k, generator=torch.Generator().manual_seed(out + k)) * 0.05
        t_rtn = best_seconds(lambda: quantize(w, args.bits, "per-channel"), args.repeats)
        totals["rtn"] += t_rtn
        row = f"{name:6} {f'{out}x{k}':>11} {t_rtn * 1e3:8.2f} "
        for m, fn in methods.items():
            t = best_seconds(lambda: fn(w, hs[k]), args.repeats)
            totals[m] += t
            row += f"{t * 1e3:12.1f} {t / t_rtn:7.0f} "
        print(row)
    print(f"\nper block: rtn {totals['rtn'] * 1e3:.1f} ms; " +
          "; ".join(f"{m} {t:.2f} s ({t / totals['rtn']:.0f}x rtn)" for m, t in totals.items() if m != "rtn"))
    print(f"{args.blocks}-block model ({7 * args.blocks} layers), quantizer only: " +
          "; ".join(f"{m} {t * args.blocks:.1f} s" for m, t in totals.items()))


if __name__ == "__main__":
    main()
