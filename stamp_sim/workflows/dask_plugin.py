"""The Dask worker plugin that holds each worker's thread pools to one unit's share (threads.py).

Apart from threads.py so that only a Dask run imports distributed.
"""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin

from stamp_sim.workflows.threads import limit_threads, restore_malloc, unit_threads

__all__ = ["UnitThreads"]


class UnitThreads(WorkerPlugin):
    """On every worker that joins (now or later), limit torch, Numba and OpenMP to the unit's
    threads, and undo the nanny's fixed malloc trim threshold (threads.restore_malloc).
    threads : per unit; None means ``unit_threads(task threads of that worker)``."""

    name = "stamp-sim-unit-threads"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def setup(self, worker) -> None:
        state = getattr(worker, "state", worker)
        threads = self.threads or unit_threads(getattr(state, "nthreads", 1))
        worker.stamp_sim_threads = {**limit_threads(threads), "malloc_restored": restore_malloc()}
