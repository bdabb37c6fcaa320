"""Speed of kernels.int_matmul (numba backend) as ratios against float32 torch.matmul.

Not a test: prints a table. Each ratio is t(float32 torch.matmul) / t(int_matmul) on the same
(M, K, N), both timed in this process, best of `--repeats` calls in a block of their own, two
blocks each, alternating (--interleave alternates single calls instead). Why blocks: on this CPU
a float32 GEMM leaves the int8 matrix unit slower for the next call (2048 x 576 x 1536: 1.9 ms
alone, 3.3 ms right after torch.matmul; the float GEMM is not slowed by the int8 one), so
alternating single calls charges one kernel's after-effect to the other.

Bars (issue 29), by the exact GEMM engine this machine chose (kernels/exact_gemm.py, printed
first; force one with STAMP_SIM_EXACT_GEMM=int8|float32|float64):
  where an int8 matrix unit beats float32 (engine int8: AMX, VNNI):
    exact and wrap values, int8 x int8 ................................... >= 2x
    saturate P=16 and multi-stage (T=64, int16 sat inner, int32 outer) on realistic w4a4 .. >= 1x
  where none does (engine float32: AVX2, ARM64 without i8mm kernels): all of those >= 0.9x
  everywhere, really overflowing (8-bit realistic data, all-max data, wrap counts on random int8):
      P <= 16 single and multi-stage >= 0.2x; saturating P in 17..32 >= 0.08x
  versus pure-Python loops >= 1000x (timed on a small shape, extrapolated per MAC) and a per-k
  vectorized torch loop >= 30x (timed over the first k steps, extrapolated per k).

Usage: python benchmarks/kernels_speed.py [--quick] [--repeats N] [--cold-cache] [--interleave]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# Both OpenMP pools (torch, numba) must sleep when idle, or they fight for the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPES = [(2048, 576, 1536), (2048, 1536, 576), (4096, 1152, 1152)]
QUICK_SHAPES = [(256, 576, 384), (256, 384, 576)]


def _quantize(a, bits, axis):
    """Symmetric min-max quantization to [-(2^(b-1)-1), 2^(b-1)-1], one scale per slice along axis."""
    import numpy as np

    qmax = (1 << (bits - 1)) - 1
    scale = np.abs(a).max(axis=axis, keepdims=True) / qmax
    return np.clip(np.rint(a / np.where(scale > 0, scale, 1.0)), -qmax, qmax).astype(np.int8)


def realistic(shape, bits, weight_mean=0.05, seed=0):
    """Per-token quantized correlated activations (low rank + outlier channels) and per-channel weights.

    weight_mean shifts the weights: with 0.5 most 8-bit outputs leave a 16-bit register (the
    "really overflowing" cases); with 0.05 w4a4 outputs mostly fit.
    """
    import numpy as np

    m, k, n = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, 16)) @ rng.standard_normal((16, k)) + 0.5 * rng.standard_normal((m, k))
    x[:, rng.choice(k, size=max(1, k // 100), replace=False)] *= 8.0  # outlier channels
    x += 2.0  # a shared offset: sums of one sign, as in real layers, make 8-bit outputs overflow
    w = rng.standard_normal((k, n)) + weight_mean
    return _quantize(x, bits, axis=1), _quantize(w, bits, axis=0)


def random_int8(shape, seed=0):
    import numpy as np

    m, k, n = shape
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8)


def all_max(shape):
    import numpy as np

    m, k, n = shape
    return np.full((m, k), 127, dtype=np.int8), np.full((k, n), 127, dtype=np.int8)


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def cases():
    """(label, bar, data factory, AccumulatorSpec kwargs, counts); a bar "exact" or "fits" depends
    on the engine (see bars_for)."""
    return [
        ("exact int8", "exact", random_int8, dict(bits=32, mode="exact"), True),
        ("wrap P=32 int8 (+counts)", "exact", random_int8, dict(bits=32, mode="wrap"), True),
        ("wrap P=16 int8 values", "exact", random_int8, dict(bits=16, mode="wrap"), False),
        ("sat P=16 w4a4", "fits", lambda s: realistic(s, 4), dict(bits=16, mode="saturate"), True),
        ("sat T64 16/32 w4a4", "fits", lambda s: realistic(s, 4),
         dict(bits=16, mode="saturate", tile=64, outer_bits=32), True),
        ("sat P=16 w8a8 (overflowing)", 0.2, lambda s: realistic(s, 8, 0.5), dict(bits=16, mode="saturate"), True),
        ("sat T64 16/32 w8a8 (overflowing)", 0.2, lambda s: realistic(s, 8, 0.5),
         dict(bits=16, mode="saturate", tile=64, outer_bits=32), True),
        ("sat P=16 all-max", 0.2, all_max, dict(bits=16, mode="saturate"), True),
        ("sat T64 16/32 all-max", 0.2, all_max, dict(bits=16, mode="saturate", tile=64, outer_bits=32), True),
        ("wrap P=16 int8 (+counts)", 0.2, random_int8, dict(bits=16, mode="wrap"), True),
        ("sat P=24 all-max", 0.08, all_max, dict(bits=24, mode="saturate"), True),
        ("sat P=20 w8a8", 0.08, lambda s: realistic(s, 8, 0.5), dict(bits=20, mode="saturate"), True),
    ]


def bars_for(engine: str) -> dict[str, float]:
    """The engine-dependent bars: an int8 matrix unit must beat float32; without one, float32 is the limit."""
    return {"exact": 2.0, "fits": 1.0} if engine == "int8" else {"exact": 0.9, "fits": 0.9}


def per_k_torch_loop(x, w, bits, k_steps):
    """How most people write it: one vectorized clamp-add per k over the whole output (first k_steps)."""
    import torch

    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    xt = torch.from_numpy(x).to(torch.int32)
    wt = torch.from_numpy(w).to(torch.int32)
    acc = torch.zeros((x.shape[0], w.shape[1]), dtype=torch.int32)
    count = torch.zeros_like(acc)
    for k in range(k_steps):
        true = acc + xt[:, k : k + 1] * wt[k : k + 1, :]
        acc = true.clamp(lo, hi)
        count += acc != true
    return acc, count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small shapes (a smoke run, not the bars' shapes)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per measurement; the best is kept")
    parser.add_argument("--cold-cache", action="store_true", help="empty Numba cache: first calls include compiling")
    parser.add_argument("--interleave", action="store_true",
                        help="alternate single calls of the two instead of timing each in its own block")
    args = parser.parse_args(argv)
    if args.cold_cache:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-cold-")

    import numba
    import torch

    from stamp_sim.kernels import AccumulatorSpec, int_matmul
    from stamp_sim.kernels.reference import matmul_reference

    from stamp_sim.kernels import engine_choice

    shapes = QUICK_SHAPES if args.quick else SHAPES
    choice = engine_choice("cpu")
    bars = bars_for(choice.engine)
    print(f"CPU capability (torch): {torch.backends.cpu.get_cpu_capability()}")
    print(f"exact GEMM: {choice.describe()}")
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), numba {numba.__version__} "
          f"({numba.get_num_threads()} threads), OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    # First calls: compile (or load from the Numba cache) every kernel the cases below use.
    first = []
    small = (64, 96, 80)
    for label, _, make, spec_kw, counts in cases():
        x, w = make(small)
        t0 = time.perf_counter()
        int_matmul(x, w, AccumulatorSpec(**spec_kw), counts=counts)
        first.append(time.perf_counter() - t0)
    print(f"first calls (compile{'' if args.cold_cache else ' or cache load'}): {sum(first):.2f} s in all, "
          f"largest {max(first):.2f} s\n")

    header = f"{'case':36s} {'shape':>18s} {'int_matmul':>11s} {'f32 mm':>9s} {'ratio':>7s} {'bar':>6s} {'ovf out':>8s}"
    print(header)
    print("-" * len(header))
    failures = 0
    for shape in shapes:
        m, k, n = shape
        a = torch.randn(m, k)
        b = torch.randn(k, n)
        for label, bar, make, spec_kw, counts in cases():
            bar = bars.get(bar, bar)
            x, w = make(shape)
            spec = AccumulatorSpec(**spec_kw)
            int_matmul(x, w, spec, counts=counts)  # warm: page faults, thread pools
            t_ours, t_float = [], []
            if args.interleave:
                for _ in range(args.repeats):
                    t_ours.append(best_of(lambda: int_matmul(x, w, spec, counts=counts), 1)[0])
                    t_float.append(best_of(lambda: torch.matmul(a, b), 1)[0])
            else:  # two rounds of back-to-back blocks each, so slow drift hits both sides
                for _ in range(2):
                    t_ours.append(best_of(lambda: int_matmul(x, w, spec, counts=counts), args.repeats)[0])
                    t_float.append(best_of(lambda: torch.matmul(a, b), args.repeats)[0])
            res = int_matmul(x, w, spec, counts=counts)
            ratio = min(t_float) / min(t_ours)
            ok = ratio >= bar
            failures += not ok
            frac = "-" if res.overflows is None else f"{res.overflow_fraction:.0%}"
            print(f"{label:36s} {str(shape):>18s} {min(t_ours) * 1e3:9.1f}ms {min(t_float) * 1e3:7.1f}ms "
                  f"{ratio:6.2f}x {bar:5.2f}x {frac:>8s}{'' if ok else '  BELOW BAR'}")

    # Against the loops people write, on the first shape and the overflowing 8-bit case.
    shape = shapes[0]
    x, w = realistic(shape, 8, 0.5)
    spec = AccumulatorSpec(16, "saturate")
    t_ours, _ = best_of(lambda: int_matmul(x, w, spec), args.repeats)
    xs, ws = x[:8, :64], w[:64, :8]
    t_py, _ = best_of(lambda: matmul_reference(xs, ws, spec), 1)
    per_mac_py = t_py / xs.size / ws.shape[1]
    macs = shape[0] * shape[1] * shape[2]
    k_steps = min(64, shape[1])
    t_loop, _ = best_of(lambda: per_k_torch_loop(x, w, 16, k_steps), 2)
    t_loop_full = t_loop * shape[1] / k_steps
    print(f"\nsat P=16 w8a8 {shape}: int_matmul {t_ours * 1e3:.1f} ms")
    print(f"  pure-Python loops (kernels.reference on 8x64x8, {per_mac_py * 1e9:.0f} ns/MAC, extrapolated to "
          f"{macs / 1e9:.2f} G MACs = {per_mac_py * macs:.0f} s): {per_mac_py * macs / t_ours:,.0f}x (bar 1000x)")
    print(f"  per-k vectorized torch loop (first {k_steps} of {shape[1]} k timed, {t_loop_full:.2f} s extrapolated):"
          f" {t_loop_full / t_ours:.0f}x (bar 30x)")
    failures += per_mac_py * macs / t_ours < 1000
    failures += t_loop_full / t_ours < 30
    print(f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{failures} measurement(s) below bar" if failures else "every measurement meets its bar")
    return 0


if __name__ == "__main__":
    sys.exit(main())
