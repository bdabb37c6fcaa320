"""The default run and sensitivity on SmolLM2: 2 local Dask workers against the local executor.

    PYTHONPATH=. python -m benchmarks.dask_executor [--workers 2] [--tokens 512] [--windows 4]
        [--configs fp,w8a8,...] [--max-groups N] [--budgets 3] [--candidates w4a4,w4a4-stamp,w4a8]
        [--skip-run] [--skip-sensitivity]

Each study runs twice with the same options and seed: in this process (the local
executor) and on a LocalCluster of `--workers` processes, one thread each. Prints the
wall-clock ratio (local / dask: above 1 means the cluster was faster), the peak RSS of
the local process and of each worker process and of this client, and whether the
numeric files are byte-identical. Each run starts from an empty weight cache (the
converted model and the token ids are shared), so neither reads the GPTQ weights the
other computed. On a machine shared with other work the ratios are noisy: say so.
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
from stamp_sim.workflows.executors import DaskExecutor  # noqa: E402
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
             "--budgets", str(args.budgets)] + (["--configs", args.configs] if args.configs else [])
    return extra + (["--max-groups", str(args.max_groups)] if args.max_groups else [])


def _study(job: str, args, out: Path, executor=None) -> Path:
    if job == "run":
        configs = tuple(get_preset(c) for c in args.configs.split(",")) if args.configs else tuple(PRESETS.values())
        run = RunConfig(model=args.model, configs=configs, tokens=args.tokens, windows=args.windows, out=str(out))
        return run_experiment(run, progress=False, executor=executor)
    cfg = SensitivityConfig(model=args.model, candidates=tuple(args.candidates.split(",")),
                            max_groups=args.max_groups, budgets=args.budgets, out=str(out))
    return run_sensitivity(cfg, progress=False, executor=executor)


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
    with DaskExecutor(workers=args.workers) as ex:
        start = time.perf_counter()
        remote = _study(job, args, work / f"{job}-dask", executor=ex)
        t_dask = time.perf_counter() - start
        workers = ex.client.run(_peak_rss_mb)
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
    parser.add_argument("--tokens", type=int, default=512, help="run only (sensitivity keeps its default 256)")
    parser.add_argument("--windows", type=int, default=4, help="run only")
    parser.add_argument("--configs", default=None, help="run: comma-separated presets (default: every preset)")
    parser.add_argument("--candidates", default="w4a4,w4a4-stamp,w4a8")
    parser.add_argument("--max-groups", type=int, default=None, help="sensitivity: score at most this many groups")
    parser.add_argument("--budgets", type=int, default=3,
                        help="sensitivity: budget points (each allocation is evaluated in the client either way)")
    parser.add_argument("--skip-run", action="store_true")
    parser.add_argument("--skip-sensitivity", action="store_true")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # the local executor's run, in its own process for its own peak RSS
        _study(args.child, args, Path(args.out))
        print(_peak_rss_mb())
        return
    shared = cache_dir()
    work = Path(tempfile.mkdtemp(prefix="stamp-dask-bench-"))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; files in {work}")
    try:
        for job in ("run", "sensitivity"):
            if not getattr(args, f"skip_{job}"):
                _compare(job, args, work, shared)
    finally:
        print(f"load average {os.getloadavg()[0]:.1f} at end")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
