"""The main job's wall time and peak memory, cold and warm, against a float-only run.

    PYTHONPATH=. python -m benchmarks.main_job [--hw npu] [--model smollm2-135m] [--keep-cache DIR]

Runs README command 1's job (``stamp-sim run --hw npu``: every preset on SmolLM2-135M, the
default windows) three times in this process, each with ``--profile-stages``'s recorder:

1. cold: an empty cache (the model converted from its GGUF, the text tokenized, every GPTQ
   weight computed) and an empty Numba cache (the kernels compiled, as on a fresh clone),
2. warm: the same cache again (what a second run of the README command costs),
3. float only: the ``fp`` config alone on the warm cache, the baseline of the ratios.

Prints each run's stage table, then wall time, peak resident memory and the ratios to the
float-only run, with the goals (cold <= 10 min, warm <= 4 min, peak <= 4 GB on 2 quiet cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Before Numba is imported: a fresh clone has no compiled kernels, so the cold run compiles them.
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="stamp-sim-numba-"))

from stamp_sim.config import PRESETS, RunConfig  # noqa: E402
from stamp_sim.progress import Stages  # noqa: E402
from stamp_sim.stage_profile import profile_text  # noqa: E402
from stamp_sim.workflows.run import run_experiment  # noqa: E402

GOALS = {"cold": 600.0, "warm": 240.0}
PEAK_GOAL_MB = 4096.0


def _timed(run: RunConfig) -> tuple[float, float, str]:
    """(wall seconds, peak MB, stage table text) of one run_experiment."""
    stages = Stages(enabled=False, profile=True)
    start = time.perf_counter()
    run_experiment(run, stages=stages)
    wall = time.perf_counter() - start
    return wall, stages.peak_overall_mb, profile_text(stages.records, wall, stages.peak_overall_mb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default="npu")
    ap.add_argument("--model", default=RunConfig().model)
    ap.add_argument("--keep-cache", default=None, help="cache folder to use (default: a new temporary one)")
    args = ap.parse_args()
    cache = Path(args.keep_cache or tempfile.mkdtemp(prefix="stamp-sim-cache-"))
    os.environ["STAMP_SIM_CACHE"] = str(cache)
    out = tempfile.mkdtemp(prefix="stamp-sim-main-job-")
    import torch

    print(f"CPU: {platform.processor() or platform.machine()}, torch capability "
          f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads; cache {cache}")
    full = RunConfig(model=args.model, profiles=(args.hw,), out=out)
    runs = {"cold": full, "warm": full, "float only": RunConfig(model=args.model, profiles=(args.hw,), out=out,
                                                                configs=(PRESETS["fp"],))}
    measured = {}
    for name, run in runs.items():
        wall, peak, text = _timed(run)
        measured[name] = (wall, peak)
        print(f"\n== {name}: {len(run.configs)} config(s)\n{text}", flush=True)
    base = measured["float only"][0]
    print("\nrun          wall (s)  peak (MB)  x float-only run  goal")
    for name, (wall, peak) in measured.items():
        goal = GOALS.get(name)
        verdict = "" if goal is None else f"<= {goal:.0f} s: {'met' if wall <= goal else 'NOT met'}"
        print(f"{name:12} {wall:8.1f}  {peak:9.0f}  {wall / base:16.1f}  {verdict}")
    peak = max(p for _, p in measured.values())
    print(f"peak <= {PEAK_GOAL_MB:.0f} MB: {'met' if peak <= PEAK_GOAL_MB else 'NOT met'} ({peak:.0f} MB)")


if __name__ == "__main__":
    main()
