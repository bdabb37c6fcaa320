"""How many (layer, precision, profile, phase) rows hw_models prices per second.

    python benchmarks/cost_model.py [--layers 10000] [--repeats 5]

Prices random GEMM shapes for 9 precisions (the toolkit's presets, written as plain
LayerPrecision fields) on every built-in profile, prefill and decode, in one `price`
call, DataFrame construction included; reports the best of `repeats` runs. For
contrast: SCALE-Sim needed 3,599 s and 16.8 GB for one 4096x1152x1152 GEMM on a 32x32
weight-stationary array (docs/COST_MODEL.md); here its cycle count is one formula.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stamp_sim import hw_models  # noqa: E402
from stamp_sim.hw_models import LayerPrecision  # noqa: E402

GOAL = 1_000_000  # rows per second on 2 cores (issue 4)


def precisions() -> dict[str, LayerPrecision]:
    stamp = LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=64, seq_transform="dwt", seq_levels=3)
    return {
        "fp": LayerPrecision(),
        "w8a8": LayerPrecision(w_bits=8, a_bits=8),
        "w4a8": LayerPrecision(w_bits=4, a_bits=8),
        "w4a4": LayerPrecision(w_bits=4, a_bits=4),
        "w4a4-first64": stamp.replace(seq_transform="identity"),
        "w4a4-stamp": stamp,
        "w4a4-hadamard": stamp.replace(seq_transform="identity", feature_transform="hadamard"),
        "w4a4-hadamard-stamp": stamp.replace(feature_transform="hadamard"),
        "w4a4-stamp-acc16": stamp.replace(acc_bits=16, acc_tile=64, acc_outer_bits=32),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12_000, help="random GEMM shapes in the workload")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; the best is reported")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    workload = pd.DataFrame(
        {
            "tokens": rng.integers(1, 8193, args.layers),
            "k": rng.integers(64, 8193, args.layers),
            "n": rng.integers(64, 8193, args.layers),
        }
    )
    profiles = [hw_models.load_profile(name) for name in hw_models.builtin_names()]
    precs = precisions()
    hw_models.price(workload.head(10), precs, profiles, ["prefill", "decode"])  # warm caches

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        frame = hw_models.price(workload, precs, profiles, ["prefill", "decode"])
        times.append(time.perf_counter() - start)
    rows = len(frame)
    best = min(times)
    rate = rows / best
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    print(f"rows per call: {rows:,} ({args.layers:,} layers x {len(precs)} precisions x {len(profiles)} profiles x 2 phases)")
    print(f"best of {args.repeats}: {best:.3f} s  (median {sorted(times)[len(times) // 2]:.3f} s)")
    print(f"layer-configs priced per second: {rate:,.0f}  (goal {GOAL:,}: {'met' if rate >= GOAL else 'NOT met'})")
    start = time.perf_counter()
    cycles = hw_models.gemm_cycles(4096, 1152, 1152, 32, 32, "ws")
    print(
        f"SCALE-Sim's 4096x1152x1152 GEMM on 32x32 ws: {int(cycles):,} cycles in "
        f"{(time.perf_counter() - start) * 1e6:.0f} us here (SCALE-Sim: 3,599 s, 16.8 GB)"
    )


if __name__ == "__main__":
    main()
