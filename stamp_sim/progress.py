"""One named line per stage of a long job on stderr: a bar where the stage counts like steps.

A bar's ETA is only honest when its steps cost about the same, so each stage gets its own
bar (the windows of one config, the layer groups of one calibration) and a stage without
equal steps (loading a model, the integer check, writing the report) prints its name when
it starts and, on the same line, its wall time when it ends.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

from tqdm.auto import tqdm

from stamp_sim.stage_profile import PeakMemory, StageRecord

__all__ = ["Stages", "QUIET"]


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


class Stages:
    """Stage reporter. enabled False prints nothing (``--no-progress``, tests).

    >>> import io
    >>> out = io.StringIO()
    >>> with Stages(file=out, clock=iter([0.0, 2.5]).__next__).stage("writing the report"):
    ...     pass
    >>> print(out.getvalue().strip())
    writing the report ... 2.5 s
    """

    def __init__(self, enabled: bool = True, file=None, clock=time.monotonic, profile: bool = False) -> None:
        self.enabled = enabled
        self.file = file if file is not None else sys.stderr
        self._clock = clock
        #: with ``profile``: every finished stage's wall time and peak memory, in order
        #: (``stamp-sim run --profile-stages``); recorded whether or not lines are printed
        self.records: list[StageRecord] | None = [] if profile else None
        self._memory = PeakMemory() if profile else None

    @property
    def peak_overall_mb(self) -> float:
        """The process's peak resident memory over the profiled stages (MB); NaN unprofiled."""
        return self._memory.overall() if self._memory is not None else float("nan")

    def add(self, name: str, seconds: float, peak_mb: float = float("nan")) -> None:
        """Record a part of a stage timed by its own code (e.g. the GPTQ solve inside weight
        calibration), when profiling. seconds : wall time; peak_mb : MB, NaN when unknown."""
        if self.records is not None:
            self.records.append(StageRecord(name, seconds, peak_mb))

    def say(self, line: str) -> None:
        """Print one line (a note before a slow stage), unless disabled."""
        if self.enabled:
            print(line, file=self.file, flush=True)

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None, unit: str = "step") -> Iterator:
        """A stage: yields a bar to ``update(1)`` per step when ``total`` is given (steps of
        similar cost), else a no-op; start and end lines otherwise. Times in seconds."""
        if self.records is None:
            with self._shown(name, total, unit) as bar:
                yield bar
            return
        self._memory.reset()
        start = time.perf_counter()
        with self._shown(name, total, unit) as bar:
            yield bar
        self.records.append(StageRecord(name, time.perf_counter() - start, self._memory.peak_mb()))

    @contextlib.contextmanager
    def _shown(self, name: str, total: int | None, unit: str) -> Iterator:
        if not self.enabled:
            yield _NoBar()
            return
        if total is not None:
            with tqdm(total=total, desc=name, unit=f" {unit}", file=self.file, leave=True,
                      bar_format="{desc}: {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}]") as bar:
                yield bar
            return
        print(f"{name} ...", end="", file=self.file, flush=True)
        start = self._clock()
        try:
            yield _NoBar()
        except BaseException:
            print(" failed", file=self.file, flush=True)
            raise
        print(f" {self._clock() - start:.1f} s", file=self.file, flush=True)


#: A reporter that prints nothing.
QUIET = Stages(enabled=False)
