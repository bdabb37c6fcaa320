"""Dask against the local executor on SmolLM2: the same units, the same numbers, and how it scales.

    PYTHONPATH=. python -m benchmarks.dask_executor [--workers 2] [--tokens 256] [--windows 2]
        [--configs w8a8,w4a4,...] [--blocks 0-3] [--candidates w4a4,w4a4-stamp,w4a8]
        [--skip-run] [--skip-sensitivity] [--skip-scaling]

run: the issue-30 sweep (8 configs, 2 windows of 256 tokens) in this process's child (the
local executor, every CPU for one unit) and on a LocalCluster of `--workers` processes (each
held to its share of the CPUs by stamp_sim/workflows/threads.py). Prints the wall-clock ratio
(local / dask: above 1 means the cluster was faster), peak RSS, and whether the numeric files
are byte-identical. scaling: the same units on 1 and on 2 one-thread workers
(STAMP_SIM_UNIT_THREADS=1): efficiency = throughput(2) / (2 x throughput(1)), then the
per-unit table from run.json and the sweep's projected time on 8 and 64 workers (the LPT
schedule of the measured unit times plus the measured per-worker set-up). sensitivity:
SmolLM2 blocks 0-3, local against `--workers` workers. Each run starts from an empty weight
cache (the converted model and token ids are shared). On a shared machine the ratios are noisy.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stamp_sim.config import PRESETS, RunConfig, get_preset  # noqa: E402
from stamp_sim.models.cache import cache_dir  # noqa: E402
from stamp_sim.workflows.executors import DaskExecutor, projected_wall_s  # noqa: E402
from stamp_sim.workflows.run import run_experiment  # noqa: E402
from stamp_sim.workflows.sensitivity import SensitivityConfig, run_sensitivity  # noqa: E402


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _fresh_cache(shared: Path, root: Path) -> Path:
    """A cache folder with the converted models and token ids linked in, and no weights/."""
    root.mkdir(parents=True)
    for entry in shared.iterdir():
        if entry.name != "weights":
            (root / entry.name).symlink_to(entry)
    return root


def _child_peak(job: str, args: argparse.Namespace, out: Path) -> tuple[float, float]:
    """(wall s, peak RSS MB) of `job` run with the local executor in a fresh process."""
    import subprocess

    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "benchmarks.dask_executor", "--child", job, "--out", str(out),
                           "--model", args.model, *_study_args(args)], check=True, env=os.environ.copy(),
                          stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    return wall, float(done.stdout.split()[-1])


def _study_args(args) -> list[str]:
    extra = ["--tokens", str(args.tokens), "--windows", str(args.windows), "--candidates", args.candidates,
             "--budgets", str(args.budgets), "--configs", args.configs, "--blocks", args.blocks]
    return extra + (["--max-groups", str(args.max_groups)] if args.max_groups else [])


ISSUE_CONFIGS = ("w8a8,w4a4,w4a4-stamp,w4a8,w4a4-hadamard,w4a4-first64,w4a4-hadamard-stamp,"
                 "w4a4-stamp-acc16")


def _study(job: str, args, out: Path, executor=None) -> Path:
    if job == "run":
        configs = tuple(get_preset(c) for c in args.configs.split(",")) if args.configs else tuple(PRESETS.values())
        run = RunConfig(model=args.model, configs=configs, tokens=args.tokens, windows=args.windows, out=str(out))
        return run_experiment(run, progress=False, executor=executor)
    first, _, last = args.blocks.partition("-")
    blocks = tuple(range(int(first), int(last or first) + 1))
    cfg = SensitivityConfig(model=args.model, candidates=tuple(args.candidates.split(",")), blocks=blocks,
                            max_groups=args.max_groups, budgets=args.budgets, out=str(out))
    return run_sensitivity(cfg, progress=False, executor=executor)


def _dask_run(job: str, args, out: Path, workers: int) -> tuple[float, Path, dict]:
    """(wall s, run directory, worker peak RSS MB) of `job` on a fresh LocalCluster."""
    with DaskExecutor(workers=workers, echo=lambda line: None) as ex:
        start = time.perf_counter()
        remote = _study(job, args, out, executor=ex)
        wall = time.perf_counter() - start
        return wall, remote, ex.client.run(_peak_rss_mb)


def _unit_times(run_dir: Path) -> list[dict]:
    import json

    return json.loads((run_dir / "run.json").read_text()).get("unit_times", [])


def _scaling(args, work: Path, shared: Path) -> None:
    """1 against 2 one-thread workers on the same units; the per-unit table; projections."""
    os.environ["STAMP_SIM_UNIT_THREADS"] = "1"
    try:
        walls, tables = {}, {}
        for n in (1, 2):
            os.environ["STAMP_SIM_CACHE"] = str(_fresh_cache(shared, work / f"cache-scaling-{n}"))
            walls[n], remote, _ = _dask_run("run", args, work / f"scaling-{n}", n)
            tables[n] = _unit_times(remote)
    finally:
        os.environ.pop("STAMP_SIM_UNIT_THREADS", None)
    efficiency = walls[1] / (2 * walls[2])
    print(f"scaling: 1 one-thread worker {walls[1]:.1f} s, 2 one-thread workers {walls[2]:.1f} s, "
          f"efficiency throughput(2) / (2 x throughput(1)) = {efficiency:.2f}")
    print("scaling: per-unit times on 2 workers (unit, worker, seconds, of which set-up):")
    for row in tables[2]:
        print(f"  {row['unit']:40s} {row['worker']:24s} {row['seconds']:8.1f} {row['setup_s']:8.1f}")
    units = [r["seconds"] - r["setup_s"] for r in tables[1]]
    setup = max((r["setup_s"] for r in tables[1]), default=0.0)
    print(f"scaling: per-worker set-up {setup:.1f} s (model load, windows, float reference); "
          f"units {sum(units):.1f} s in all, longest {max(units):.1f} s")
    for n in (1, 2, 8, 64):
        print(f"scaling: projected wall on {n:2d} one-thread workers {projected_wall_s(units, n, setup):8.1f} s"
              + (f" (measured {walls[n]:.1f} s)" if n in walls else ""))


def _same_numbers(job: str, a: Path, b: Path) -> str:
    files = ["results.csv", "layers.csv"] if job == "run" else ["sensitivity.csv", "allocation.csv"]
    verdicts = []
    for name in files:
        x, y = pd.read_csv(a / name), pd.read_csv(b / name)
        x, y = (t.drop(columns=[c for c in ("seconds",) if c in t]) for t in (x, y))
        same = x.equals(y) if job != "run" else (a / name).read_bytes() == (b / name).read_bytes()
        differ = [c for c in x.columns if not x[c].equals(y[c])] if x.shape == y.shape else ["shape"]
        verdicts.append(f"{name} identical" if same else f"{name} DIFFERENT in {differ}")
    return ", ".join(verdicts)


def _compare(job: str, args, work: Path, shared: Path) -> None:
    os.environ["STAMP_SIM_CACHE"] = str(_fresh_cache(shared, work / f"cache-{job}-local"))
    t_local, rss_local = _child_peak(job, args, work / f"{job}-local")
    os.environ["STAMP_SIM_CACHE"] = str(_fresh_cache(shared, work / f"cache-{job}-dask"))
    t_dask, remote, workers = _dask_run(job, args, work / f"{job}-dask", args.workers)
    (local,) = (work / f"{job}-local").iterdir()
    print(f"{job}: local {t_local:.1f} s, dask ({args.workers} workers) {t_dask:.1f} s, "
          f"ratio local/dask {t_local / t_dask:.2f}")
    print(f"{job}: peak RSS local process {rss_local:.0f} MB; dask workers "
          + ", ".join(f"{v:.0f} MB" for v in workers.values()) + f"; client {_peak_rss_mb():.0f} MB")
    print(f"{job}: {_same_numbers(job, local, remote)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=256, help="run only (sensitivity keeps its default 256)")
    parser.add_argument("--windows", type=int, default=2, help="run only")
    parser.add_argument("--configs", default=ISSUE_CONFIGS, help="run: comma-separated presets ('' for every one)")
    parser.add_argument("--blocks", default="0-3", help="sensitivity: the blocks scored")
    parser.add_argument("--candidates", default="w4a4,w4a4-stamp,w4a8")
    parser.add_argument("--max-groups", type=int, default=None, help="sensitivity: score at most this many groups")
    parser.add_argument("--budgets", type=int, default=3,
                        help="sensitivity: budget points (each allocation is evaluated in the client either way)")
    parser.add_argument("--skip-run", action="store_true")
    parser.add_argument("--skip-sensitivity", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # the local executor's run, in its own process for its own peak RSS
        _study(args.child, args, Path(args.out))
        print(_peak_rss_mb())
        return
    shared = cache_dir()
    work = Path(tempfile.mkdtemp(prefix="stamp-dask-bench-"))
    import torch

    print(f"{os.cpu_count()} CPUs ({torch.backends.cpu.get_cpu_capability()}), load average "
          f"{os.getloadavg()[0]:.1f} at start; files in {work}")
    try:
        for job in ("run", "sensitivity"):
            if not getattr(args, f"skip_{job}"):
                _compare(job, args, work, shared)
        if not args.skip_scaling:
            _scaling(args, work, shared)
    finally:
        print(f"load average {os.getloadavg()[0]:.1f} at end")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
