"""Where units of work run: in this process (``LocalExecutor``) or on a Dask cluster (``DaskExecutor``).

Both take a module-level function and a list of picklable units and call ``on_result``
in this process as each unit finishes, so the caller writes every finished unit's rows
(atomically) before the next result arrives: a unit lost with a killed worker is rerun
by Dask, and the ones already written stay written. A unit that raises is returned as a
``UnitFailure`` (its error, one line) while the others finish.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tqdm.auto import tqdm

__all__ = ["ClusterError", "DaskExecutor", "Executor", "LocalExecutor", "UnitFailure", "UnitsFailed",
           "make_executor", "projected_wall_s", "timed_call"]

EXECUTORS = ("dask", "local")


class ClusterError(ConnectionError):
    """The Dask scheduler cannot be reached, or a cluster cannot be started."""


@dataclass(frozen=True)
class UnitFailure:
    """unit : the unit's label. error : 'ExceptionType: first line of its message'."""

    unit: str
    error: str


class UnitsFailed(RuntimeError):
    """Some units failed (the others finished and were written)."""

    def __init__(self, failures: Sequence[UnitFailure], total: int) -> None:
        self.failures, self.total = tuple(failures), total
        super().__init__(f"{len(self.failures)} of {total} units failed: "
                         + "; ".join(f"{f.unit}: {f.error}" for f in self.failures))


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _label(unit) -> str:
    return getattr(unit, "label", None) or str(unit)


def _where() -> str:
    """This process as the per-unit table names it: a Dask worker's address, else 'local'."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def timed_call(fn: Callable, unit):
    """(fn(unit), timing): seconds, the process that ran it, and the part of it spent building
    that process's shared context (a value's ``setup_s``; the first unit on each worker pays it)."""
    start = time.perf_counter()
    value = fn(unit)
    seconds = time.perf_counter() - start
    return value, {"unit": _label(unit), "worker": _where(), "seconds": round(seconds, 3),
                   "setup_s": round(float(getattr(value, "setup_s", 0.0)), 3)}


class Executor(Protocol):
    """Runs units; see the module docstring. ``unit_times``: one dict per unit the last ``map``
    finished (unit, worker, seconds, setup_s), in the order they finished, for run.json."""

    unit_times: list[dict]

    def map(self, fn: Callable, units: Sequence, on_result: Callable, desc: str = "units",
            progress: bool = True) -> list[UnitFailure]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """One unit after another in this process (the models stay this process's).

    fail_fast : re-raise a unit's error at once instead of going on with the others.
    """

    def __init__(self, fail_fast: bool = False) -> None:
        from stamp_sim.workflows.threads import limit_threads, unit_threads

        self.fail_fast = fail_fast
        self.unit_times: list[dict] = []
        self.threads = limit_threads(unit_threads())  # one unit at a time: it may use every CPU

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release."""

    def map(self, fn: Callable, units: Sequence, on_result: Callable, desc: str = "units",
            progress: bool = True) -> list[UnitFailure]:
        """fn(unit) for each unit in order; on_result(unit, value) after each; the failures."""
        self.unit_times = []
        failures = []
        with tqdm(total=len(units), desc=desc, unit="unit", disable=not progress, file=sys.stderr) as bar:
            for unit in units:
                try:
                    value, timing = timed_call(fn, unit)
                except Exception as exc:
                    if self.fail_fast:
                        raise
                    failures.append(UnitFailure(_label(unit), _describe(exc)))
                else:
                    self.unit_times.append(timing)
                    on_result(unit, value)
                bar.update(1)
        return failures


def _bokeh_installed() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


class DaskExecutor:
    """Units as Dask tasks: on the scheduler at `scheduler`, else on a LocalCluster of
    `workers` processes with one thread each, started here and closed by ``close``.

    retries : times Dask reruns a unit that raised (a unit whose worker died is rerun
        by the scheduler on another worker in any case). timeout_s : seconds to wait for
        the scheduler before ClusterError. echo : where the dashboard line goes.
    """

    def __init__(self, scheduler: str | None = None, workers: int = 2, retries: int = 1,
                 timeout_s: float = 10.0, echo: Callable[[str], None] | None = None) -> None:
        if scheduler is None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers={workers!r} is invalid; allowed: integers >= 1")
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ValueError("--executor dask needs dask.distributed: pip install 'stamp-sim[cluster]'") from None
        from stamp_sim.workflows.dask_plugin import UnitThreads
        from stamp_sim.workflows.threads import thread_environment, unit_threads

        self.retries = retries
        self.cluster = None
        self.unit_times: list[dict] = []
        echo = echo or (lambda line: print(line, file=sys.stderr))
        threads = None  # an external cluster's workers decide from their own CPUs (threads.py)
        if scheduler is None:
            threads = unit_threads(share=workers)
            # env reaches each worker process before torch, Numba or OpenMP load (the plugin
            # below then sets what can still be set, for external workers too)
            # and no fixed malloc trim threshold, which the nanny would set (threads.restore_malloc)
            import dask

            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=":0",  # any free port: clusters may share a host
                                            silence_logs=logging.ERROR, env=thread_environment(threads))
            scheduler = self.cluster.scheduler_address
        try:
            self.client = Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self._close_cluster()
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within {timeout_s:g} s "
                               f"({_describe(exc)}); start one with `dask scheduler` or drop --scheduler") from None
        self.client.register_plugin(UnitThreads(threads))
        echo(self._dashboard_line(scheduler))

    def _dashboard_line(self, scheduler: str) -> str:
        # The scheduler's HTTP server runs without bokeh, but its /status pages need it.
        served = "dashboard" in self.client.scheduler_info().get("services", {})
        if served and self.client.run_on_scheduler(_bokeh_installed):
            return f"dask: scheduler {scheduler}, dashboard {self.client.dashboard_link}"
        why = "the scheduler serves none" if not served else "bokeh is not installed on the scheduler"
        return f"dask: scheduler {scheduler}, dashboard off ({why}; pip install bokeh for one)"

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def close(self) -> None:
        """Disconnect; a LocalCluster started here is shut down."""
        self.client.close()
        self._close_cluster()

    def worker_threads(self) -> dict[str, dict]:
        """{worker address: the thread pools' sizes the plugin set there}."""
        return self.client.run(_threads_here)

    def worker_pids(self) -> dict[str, int]:
        """{worker address: process id} of the workers now connected."""
        import os

        return self.client.run(os.getpid)

    def map(self, fn: Callable, units: Sequence, on_result: Callable, desc: str = "units",
            progress: bool = True) -> list[UnitFailure]:
        """Submit every unit; on_result(unit, value) here as each finishes; the failures."""
        from distributed import as_completed

        self.unit_times = []
        tag = uuid.uuid4().hex[:8]
        futures = {self.client.submit(timed_call, fn, unit, key=f"{desc}-{i}-{tag}", retries=self.retries,
                                      pure=False): unit
                   for i, unit in enumerate(units)}
        failures = []
        with tqdm(total=len(units), desc=desc, unit="unit", disable=not progress, file=sys.stderr) as bar:
            for future in as_completed(futures, loop=self.client.loop):
                unit = futures.pop(future)
                if future.status == "error":
                    failures.append(UnitFailure(_label(unit), _describe(future.exception())))
                else:
                    value, timing = future.result()
                    self.unit_times.append(timing)
                    on_result(unit, value)
                future.release()
                bar.update(1)
        return failures


def projected_wall_s(unit_seconds: Sequence[float], workers: int, setup_s: float = 0.0) -> float:
    """Seconds a sweep of independent units would take on `workers` one-unit workers: the
    longest-processing-time schedule (longest unit first, to the least-loaded worker) of the
    measured unit times, plus each worker's set-up (model load, windows, float reference)."""
    if workers < 1:
        raise ValueError(f"workers={workers!r} is invalid; allowed: integers >= 1")
    loads = [0.0] * workers
    for seconds in sorted(unit_seconds, reverse=True):
        loads[loads.index(min(loads))] += seconds
    return max(loads) + setup_s


def _threads_here() -> dict:
    import numba
    import torch

    return {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads(),
            "numba": numba.get_num_threads(), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_")}


def make_executor(name: str, scheduler: str | None = None, workers: int = 2, fail_fast: bool = False,
                  echo: Callable[[str], None] | None = None) -> LocalExecutor | DaskExecutor:
    """The executor named `name` ("local" or "dask"); ValueError naming the value otherwise."""
    if name == "local":
        if scheduler is not None:
            raise ValueError("--scheduler is for --executor dask; allowed with local: none")
        return LocalExecutor(fail_fast=fail_fast)
    if name == "dask":
        return DaskExecutor(scheduler, workers, echo=echo)
    raise ValueError(f"executor={name!r} is not allowed; allowed: {', '.join(EXECUTORS)}")
