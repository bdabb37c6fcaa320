"""How many CPU threads one unit of work may use, and the settings that hold every library to it.

A unit's compute runs in three thread pools that Dask's ``threads_per_worker`` does not reach:
torch's intra-op (and inter-op) threads, Numba's parallel threads, and the OpenMP runtime under
both, whose default wait policy spins on idle cores. Two one-thread Dask workers on two cores
therefore ran four to five busy threads and took 2.8x as long as one local process. Every
worker process (a LocalCluster started here, or a ``dask worker`` started by hand) gets the
``UnitThreads`` plugin (dask_plugin.py); the variables it sets are also given to a LocalCluster's processes
at start, before any library reads them.

Threads per unit: ``STAMP_SIM_UNIT_THREADS`` when set, else the CPUs this process may use
divided by the worker's task threads (a LocalCluster here divides the machine's CPUs among
its workers). Several ``dask worker`` processes on one host should set the variable.
"""

from __future__ import annotations

import os
import sys

__all__ = ["ENV_VAR", "available_cpus", "limit_threads", "restore_malloc", "thread_environment", "unit_threads"]

ENV_VAR = "STAMP_SIM_UNIT_THREADS"


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def unit_threads(share: int = 1) -> int:
    """Threads for one unit when `share` units run side by side on this host; the environment
    variable wins. A bad value raises ValueError naming it."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{ENV_VAR}={raw!r} is invalid; allowed: an integer >= 1")
        return int(raw)
    return max(1, available_cpus() // max(1, share))


def thread_environment(threads: int) -> dict[str, str]:
    """Variables that OpenMP, MKL, OpenBLAS and Numba read once, when first loaded: idle threads
    sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE), and each pool is `threads` wide."""
    n = str(threads)
    return {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
            "NUMBA_NUM_THREADS": n, ENV_VAR: n}


def limit_threads(threads: int) -> dict[str, int]:
    """Hold this process's pools to `threads`: the environment for libraries not yet loaded,
    then torch's and Numba's own setters. Returns what each pool now has."""
    for key, value in thread_environment(threads).items():
        # ENV_VAR stays the user's: this process's share must not become every later one's
        if key != ENV_VAR and (key != "NUMBA_NUM_THREADS" or "numba" not in sys.modules):
            os.environ[key] = value
    import numba
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)  # units use no inter-op parallelism
    except RuntimeError:
        pass  # only settable before torch's first parallel work: this process already ran some
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads(),
            "numba": numba.get_num_threads()}


# glibc's mallopt parameters, and the ceiling its own dynamic mmap threshold grows to on 64 bits
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 << 20


def restore_malloc() -> bool:
    """Undo a fixed MALLOC_TRIM_THRESHOLD_ (Dask's nanny sets 65536 in every worker it spawns):
    a fixed threshold turns off glibc's dynamic mmap threshold, so every temporary above 128
    KiB is a fresh mmap that page-faults, which made a unit 2.3x slower. Puts the thresholds
    where the dynamic policy would grow them. Returns whether anything was changed."""
    if not os.environ.get("MALLOC_TRIM_THRESHOLD_") or not sys.platform.startswith("linux"):
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD_MAX))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False

