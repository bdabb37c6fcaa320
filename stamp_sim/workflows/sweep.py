"""``stamp-sim sweep`` as a library call: every (model, tokens, config) of a plan, one table, one report.

Each (model, tokens, config) is a unit (``units.evaluate_unit``) run by an executor; this
process appends each finished unit's rows to results.csv / layers.csv atomically as it
arrives, so a killed worker or an interrupted sweep keeps every finished unit and
``resume`` skips them. A unit that fails is recorded with its error while the others
finish; the report covers the finished units and lists the failed ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import hw_models
from stamp_sim import provenance
from stamp_sim.config import ConfigError
from stamp_sim.models import model_spec
from stamp_sim.report import append_rows_atomic, new_run_dir, write_json_atomic, write_report
from stamp_sim.workflows.executors import Executor, UnitFailure
from stamp_sim.workflows.sweep_plan import SweepPlan, plan_from_dict
from stamp_sim.workflows.units import ConfigUnit, UnitRows, evaluate_unit

__all__ = ["SweepOutcome", "load_sweep", "run_sweep", "sweep_units"]

RESULTS, LAYERS, RUN_JSON = "results.csv", "layers.csv", "run.json"
UNIT_KEY = ["model", "tokens", "config"]


@dataclass(frozen=True)
class SweepOutcome:
    """run_dir : the sweep's directory. done : units finished (this call and before).
    failures : units that failed in this call, with their errors."""

    run_dir: Path
    done: int
    failures: tuple[UnitFailure, ...]


def load_sweep(run_dir: Path | str) -> SweepPlan:
    """The plan recorded in a sweep directory's run.json; ConfigError naming the file otherwise."""
    path = Path(run_dir) / RUN_JSON
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot be read as a sweep's run.json ({exc})") from None
    if not isinstance(meta, dict) or "sweep" not in meta:
        raise ConfigError(f"{path}: has no 'sweep' plan; not a stamp-sim sweep directory")
    return plan_from_dict(meta["sweep"], str(path))


def _finished(run_dir: Path) -> set[tuple[str, str, str]]:
    if not (run_dir / RESULTS).exists():
        return set()
    done = pd.read_csv(run_dir / RESULTS, usecols=UNIT_KEY).astype(str)
    return set(map(tuple, done.to_numpy().tolist()))


def sweep_units(plan: SweepPlan, done: set | frozenset = frozenset()) -> list[ConfigUnit]:
    """Every (model, tokens, config) unit of `plan` not in `done` ((model, tokens, config) as str)."""
    return [ConfigUnit(run, c) for run in plan.runs() for c in run.configs
            if (run.model, str(run.tokens), c.name) not in done]


def _write_unit(run_dir: Path, meta: dict, unit: ConfigUnit, rows: UnitRows) -> None:
    if rows.weights is not None:
        meta.setdefault("weight_calibration", {})[unit.label] = rows.weights
    # layers.csv has no tokens column of its own; a plan may run one model at two lengths
    layers = rows.layers.assign(tokens=unit.run.tokens)
    append_rows_atomic(layers, run_dir / LAYERS, key=["model", "tokens", "config", "layer"])
    append_rows_atomic(rows.results, run_dir / RESULTS, key=[*UNIT_KEY, "hw"])


def _ordered(frame: pd.DataFrame, plan: SweepPlan) -> pd.DataFrame:
    """Rows in the plan's order: models, then tokens, then configs."""
    rank = {(m, t, c.name): i for i, (m, t, c) in enumerate(
        (m, t, c) for m in plan.models for t in plan.tokens for c in plan.configs)}
    keys = [rank.get((m, int(t), c), len(rank)) for m, t, c in frame[UNIT_KEY].itertuples(index=False)]
    return frame.assign(_rank=keys).sort_values("_rank", kind="stable").drop(columns="_rank")


def _report(run_dir: Path, plan: SweepPlan, meta: dict) -> None:
    results = _ordered(pd.read_csv(run_dir / RESULTS), plan)
    layers = _ordered(pd.read_csv(run_dir / LAYERS), plan) if (run_dir / LAYERS).exists() else None
    meta["finished"] = provenance.utc_now()
    cols = [c for c in ("model", "tokens", "config", "hw", "ppl", "kl", "out_sqnr_db", "energy_mj", "latency_ms",
                        "weight_mb") if c in results]
    table = results[cols].to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")
    failed = "".join(f"<li>{f['unit']}: {f['error']}</li>" for f in meta.get("failed", []))
    section = table + (f"<p>Failed units (not in the table):</p><ul>{failed}</ul>" if failed else "")
    write_report(run_dir, results, layers, None, meta, extra_sections=[("Sweep: every model, config and profile",
                                                                        section)])


def run_sweep(plan: SweepPlan, executor: Executor, run_dir: Path | None = None,
              progress: bool = True) -> SweepOutcome:
    """Run (or, given an existing `run_dir`, resume) every unit of `plan` on `executor`.

    Models and profiles are checked before a directory is made. The report is written
    over the finished units, failed ones listed in it and in run.json's "failed"."""
    for model in plan.models:
        model_spec(model)
    for profile in plan.profiles:
        hw_models.load_profile(profile)
    if run_dir is None:
        run_dir = new_run_dir(Path(plan.out), prefix="sweep")
        meta = {"sweep": plan.to_dict(), "started": provenance.utc_now(), "git_revision": provenance.git_revision(),
                "versions": provenance.versions()}
    else:
        run_dir = Path(run_dir)
        meta = json.loads((run_dir / RUN_JSON).read_text())
        meta["resumed"] = provenance.utc_now()
    meta.pop("failed", None)
    write_json_atomic(meta, run_dir / RUN_JSON)
    todo = sweep_units(plan, _finished(run_dir))
    failures = executor.map(evaluate_unit, todo, lambda unit, rows: _write_unit(run_dir, meta, unit, rows),
                            desc="sweep", progress=progress)
    meta["failed"] = [{"unit": f.unit, "error": f.error} for f in failures]
    write_json_atomic(meta, run_dir / RUN_JSON)
    if (run_dir / RESULTS).exists():
        _report(run_dir, plan, meta)
    return SweepOutcome(run_dir, len(_finished(run_dir)), tuple(failures))
