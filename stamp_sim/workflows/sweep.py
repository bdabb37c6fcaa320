"""``stamp-sim sweep`` as a library call: every (model, tokens, config) of a plan, one table, one report.

Each (model, tokens, config) is a unit (``units.evaluate_unit``) run by an executor; this
process appends each finished unit's rows to results.csv / layers.csv atomically as it
arrives, so a killed worker or an interrupted sweep keeps every finished unit and
``resume`` skips them. A unit that fails is recorded with its error while the others
finish; the report covers the finished units and lists the failed ones.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stamp_sim import hw_models
from stamp_sim import provenance
from stamp_sim.config import ConfigError
from stamp_sim.models import model_spec
from stamp_sim.report import (
    append_rows_atomic,
    new_run_dir,
    write_csv_atomic,
    write_json_atomic,
    write_report,
    write_text_atomic,
)
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


def _md_table(frame: pd.DataFrame) -> str:
    cells = frame.astype(object).where(frame.notna(), "")
    text = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(text(v) for v in row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def _report(run_dir: Path, plan: SweepPlan, meta: dict) -> None:
    """One report per (model, tokens) in its own folder (the run report, figures and all),
    and the sweep's report.md / report.html: every unit's row, the failures, the links."""
    results = _ordered(pd.read_csv(run_dir / RESULTS), plan)
    layers = _ordered(pd.read_csv(run_dir / LAYERS), plan) if (run_dir / LAYERS).exists() else None
    write_csv_atomic(results, run_dir / RESULTS)  # units finish in any order; the file lists them in the plan's
    if layers is not None:
        write_csv_atomic(layers, run_dir / LAYERS)
    meta["finished"] = provenance.utc_now()
    links = []
    for (model, tokens), rows in results.groupby(["model", "tokens"], sort=False):
        sub = re.sub(r"[^\w.-]+", "_", f"{model}-{tokens}")  # a model may be named by a path
        (run_dir / sub).mkdir(exist_ok=True)
        sub_layers = None if layers is None else layers[(layers.model == model) & (layers.tokens == tokens)]
        write_report(run_dir / sub, rows, sub_layers, None, {"model": model, "tokens": int(tokens),
                     "profiles": list(plan.profiles), "sweep": str(run_dir), "started": meta["started"]})
        links.append((f"{model}, {tokens} tokens", f"{sub}/report.html"))
    cols = [c for c in ("model", "tokens", "config", "hw", "ppl", "kl", "out_sqnr_db", "energy_mj", "latency_ms",
                        "weight_mb") if c in results and results[c].notna().any()]
    what = (f"{len(plan.models)} models x {len(plan.configs)} configs x {len(plan.profiles)} profiles"
            f" x {len(plan.tokens)} token lengths; {len(results)} rows")
    failed = [f"{f['unit']}: {f['error']}" for f in meta.get("failed", [])]
    md = [f"# stamp-sim sweep\n\n{what}.\n", _md_table(results[cols]), ""]
    md += ["## Failed units (not in the table)\n", *[f"- {f}" for f in failed], ""] if failed else []
    md += ["## Reports per model\n", *[f"- [{name}]({href})" for name, href in links], ""]
    write_text_atomic("\n".join(md), run_dir / "report.md")
    fails = "".join(f"<li>{html.escape(f)}</li>" for f in failed)
    body = (f"<h1>stamp-sim sweep</h1><p>{html.escape(what)}.</p>"
            + results[cols].to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")
            + (f"<h2>Failed units (not in the table)</h2><ul>{fails}</ul>" if fails else "")
            + "<h2>Reports per model</h2><ul>"
            + "".join(f'<li><a href="{html.escape(h)}">{html.escape(n)}</a></li>' for n, h in links) + "</ul>")
    write_text_atomic(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>stamp-sim sweep</title></head>"
                      f"<body>{body}</body></html>\n", run_dir / "report.html")


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
                "versions": provenance.versions(), "exact_gemm": provenance.exact_gemm()}
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
    meta["unit_times"] = meta.get("unit_times", []) + list(executor.unit_times)
    if (run_dir / RESULTS).exists():
        _report(run_dir, plan, meta)
    write_json_atomic(meta, run_dir / RUN_JSON)
    return SweepOutcome(run_dir, len(_finished(run_dir)), tuple(failures))
