"""Wall time and peak memory of each stage of a long job (``stamp-sim run --profile-stages``).

Peak memory per stage is the process's peak resident set size (VmHWM) *during* that stage:
on Linux the peak can be reset (``/proc/self/clear_refs``, value 5, Linux >= 4.0), so each
stage starts from its own current size. Where the reset is refused (another OS, a locked
down container) the figure is the process's peak so far, and ``PeakMemory.per_stage`` says
so. The process peak over the whole job is tracked beside the per-stage peaks, since each
reset forgets the earlier maximum.
"""

from __future__ import annotations

import math
import re
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["PeakMemory", "StageRecord", "is_part", "part_name", "profile_text", "stage_table", "split_label"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mb(field: str) -> float:
    """A /proc/self/status size field (VmHWM, VmRSS) in MB; NaN where there is none."""
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return math.nan
    return int(match.group(1)) / 1024 if match else math.nan


def _ru_maxrss_mb() -> float:
    # ru_maxrss is kB on Linux, bytes on macOS
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


class PeakMemory:
    """Peak resident memory (MB) since the last ``reset``, and over the whole process."""

    def __init__(self) -> None:
        # the reset in _can_reset also starts the overall peak here, not at the process's start
        self.per_stage = self._can_reset()
        self.overall_mb = 0.0

    @staticmethod
    def _can_reset() -> bool:
        try:
            _CLEAR_REFS.write_text("5")
        except OSError:
            return False
        return not math.isnan(_status_mb("VmHWM"))

    def reset(self) -> None:
        """Start a new stage: fold the peak so far into the overall peak, then reset it."""
        self.overall_mb = max(self.overall_mb, self.peak_mb())
        if self.per_stage:
            try:
                _CLEAR_REFS.write_text("5")
            except OSError:
                self.per_stage = False

    def peak_mb(self) -> float:
        """Peak resident memory since the last reset (per_stage) or since the process began (MB)."""
        peak = _status_mb("VmHWM") if self.per_stage else math.nan
        return _ru_maxrss_mb() if math.isnan(peak) else peak

    def overall(self) -> float:
        """The process's peak resident memory over everything measured so far (MB)."""
        return max(self.overall_mb, self.peak_mb())


@dataclass(frozen=True)
class StageRecord:
    """One finished stage: its full name, wall time (seconds) and peak resident memory (MB)."""

    name: str
    seconds: float
    peak_mb: float


_PART = re.compile(r" \[([^\]]+)\]$")


def part_name(stage: str, part: str) -> str:
    """The name of a part of a stage timed inside it: "calibrating weights [solve]"."""
    return f"{stage} [{part}]"


def is_part(name: str) -> bool:
    """Whether a stage name is a part of another stage (its time is inside that stage's)."""
    return _PART.search(name) is not None


_LABEL = re.compile(r"^config (\d+) of \d+ (\S+): (.*)$")


def split_label(name: str) -> tuple[str, str]:
    """(config, step) of a stage name: "config 3 of 9 w4a4: evaluating" -> ("w4a4", "evaluating");
    a stage of the whole run (loading, report) -> ("", name)."""
    match = _LABEL.match(name)
    if match is None:
        return "", name
    step = re.sub(r"(, \d+ layers on the integer kernels| \(from the cache\))$", "", match.group(3))
    return match.group(2), step


def stage_table(records: list[StageRecord]) -> pd.DataFrame:
    """Records as a table: config ("" for run-wide stages), stage, seconds, peak_mb, in order."""
    rows = []
    for rec in records:
        config, step = split_label(rec.name)
        rows.append({"config": config, "stage": step, "seconds": rec.seconds, "peak_mb": rec.peak_mb})
    return pd.DataFrame(rows, columns=["config", "stage", "seconds", "peak_mb"])


_ORDER = ("calibrating activations", "calibrating weights", "evaluating", "integer check", "pricing")


def _step_order(step: str) -> tuple:
    # the order a config's stages run in; a part ("x / y") right after its stage
    base = _PART.sub("", step)
    rank = next((i for i, s in enumerate(_ORDER) if base.startswith(s)), len(_ORDER))
    return rank, is_part(step), step


def _seconds(value: float) -> str:
    return "" if value != value else f"{value:.1f}"


def profile_text(records: list[StageRecord], total_s: float, overall_peak_mb: float) -> str:
    """The stage profile as text: run-wide stages, then one row per config with its stages'
    seconds as columns and its peak memory (MB), then the total wall time and peak."""
    from stamp_sim.report.tables import text_table

    table = stage_table(records)
    lines = []
    run_wide = table[table.config == ""]
    per_config = table[table.config != ""]
    if len(run_wide):
        lines.append(text_table(["run stage", "seconds", "peak MB"],
                                [[r.stage, _seconds(r.seconds), f"{r.peak_mb:.0f}"] for r in run_wide.itertuples()]))
    if len(per_config):
        steps = sorted(dict.fromkeys(per_config.stage), key=_step_order)
        rows = []
        for config, part in per_config.groupby("config", sort=False):
            secs = part.groupby("stage").seconds.sum()
            whole = part[~part.stage.map(is_part)]
            rows.append([config] + [_seconds(secs.get(s, float("nan"))) for s in steps]
                        + [_seconds(whole.seconds.sum()), f"{whole.peak_mb.max():.0f}"])
        sums = per_config.groupby("stage").seconds.sum()
        whole = per_config[~per_config.stage.map(is_part)]
        rows.append(["all configs"] + [_seconds(sums[s]) for s in steps]
                    + [_seconds(whole.seconds.sum()), f"{whole.peak_mb.max():.0f}"])
        heads = [_PART.sub(lambda m: f": {m.group(1)}", s).replace("calibrating weights: ", "weights: ") for s in steps]
        lines.append(text_table(["config (seconds)"] + heads + ["config total", "peak MB"], rows))
    timed = table[~table.stage.map(is_part)].seconds.sum()
    lines.append(f"wall time {total_s:.1f} s ({total_s - timed:.1f} s outside the stages above); "
                 f"peak resident memory {overall_peak_mb:.0f} MB")
    return "\n\n".join(lines)
