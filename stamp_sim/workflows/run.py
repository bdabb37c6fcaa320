"""``stamp-sim run`` as a library call: evaluate every config, price it, write the report.

For each config: evaluate it (``config_eval``: accuracy, layer statistics, the integer
check), price the workload on every profile (``pricing``), and append its finished rows
to results.csv / layers.csv atomically, so an interrupted sweep keeps them and
``--resume`` skips them. The report is written last.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

import hw_models
from stamp_sim import provenance
from stamp_sim.config import ConfigError, RunConfig
from stamp_sim.evaluation import prepare_data
from stamp_sim.models import LoadedModel, load_model, workload
from stamp_sim.report import append_rows_atomic, new_run_dir, write_csv_atomic, write_json_atomic, write_report
from stamp_sim.token_energy import token_energy
from stamp_sim.workflows.executors import Executor, UnitsFailed
from stamp_sim.workflows.units import ConfigUnit, UnitRows, build_context, config_rows, evaluate_unit

__all__ = ["LAYERS", "RESULTS", "RUN_JSON", "TOKEN_ENERGY", "load_run", "resume_conflicts", "run_experiment"]

RESULTS, LAYERS, TOKEN_ENERGY, RUN_JSON = "results.csv", "layers.csv", "token_energy.csv", "run.json"

NOTES = (
    "latency_ms: MAC-array time and vector-unit time (transforms, quantization) add up with no "
    "overlap, so transform overheads are upper bounds; latency = max(compute, DRAM). "
    "latency_overlap_ms (results.csv) is the optimistic end: the vector unit pipelined with "
    "the MAC array, max(MAC, vector, DRAM) per layer.",
    "energy and latency cover the linear layers only (attention products, norms and lm_head "
    "are not in the workload).",
)


def load_run(run_dir: Path | str) -> tuple[RunConfig, dict]:
    """(RunConfig, the whole run.json) of a run directory; ConfigError naming the file otherwise."""
    path = Path(run_dir) / RUN_JSON
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no {RUN_JSON}; not a stamp-sim run directory")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("run"), dict):
        raise ConfigError(f"{path}: has no 'run' mapping of options; not a stamp-sim run directory")
    return RunConfig.from_dict(meta["run"], source=str(path)), meta


def resume_conflicts(saved: RunConfig, given: dict) -> list[tuple[str, object, object]]:
    """(field, run.json's value, given value) for every given RunConfig field that differs.

    given : field -> value the user asked for (configs as a tuple of configs). Configs are
    compared by their full definitions, profiles as the list given."""
    conflicts = []
    for key, value in given.items():
        have = getattr(saved, key)
        if key == "configs":
            same = [c.to_dict() for c in have] == [c.to_dict() for c in value]
            have, value = [c.name for c in have], [c.name for c in value]
        else:
            same = (list(have) == list(value)) if isinstance(have, tuple) else have == value
        if not same:
            conflicts.append((key, have, value))
    return conflicts


def _meta(run: RunConfig, loaded: LoadedModel) -> dict:
    return {
        "model": run.model, "tokens": run.tokens, "windows": run.windows, "calib_windows": run.calib_windows,
        "seed": run.seed, "profiles": list(run.profiles), "configs": [c.name for c in run.configs],
        "device": run.device, "git_revision": provenance.git_revision(), "versions": provenance.versions(),
        "started": provenance.utc_now(), "notes": [loaded.notes, *NOTES],
        "model_source": loaded.source, "run": run.to_dict(),
    }


def _open_run_dir(run: RunConfig, loaded: LoadedModel, run_dir: Path | None) -> tuple[Path, dict, set]:
    """(run directory, run.json's contents, configs already finished); a new directory when None."""
    meta = _meta(run, loaded)
    if run_dir is None:
        run_dir = new_run_dir(Path(run.out), prefix=run.model)
    run_dir = Path(run_dir)
    if (run_dir / RUN_JSON).exists():  # resuming: keep when the run began
        meta["started"] = load_run(run_dir)[1].get("started", meta["started"])
        meta["resumed"] = provenance.utc_now()
    else:
        write_json_atomic(meta, run_dir / RUN_JSON)
    done = set(pd.read_csv(run_dir / RESULTS).config.astype(str)) if (run_dir / RESULTS).exists() else set()
    return run_dir, meta, done


def _finish(run_dir: Path, run: RunConfig, meta: dict) -> None:
    results = pd.read_csv(run_dir / RESULTS)
    layers = pd.read_csv(run_dir / LAYERS) if (run_dir / LAYERS).exists() else pd.DataFrame()
    token_path = run_dir / TOKEN_ENERGY
    tokens = pd.read_csv(token_path) if token_path.exists() and token_path.stat().st_size > 1 else None
    order = {c.name: i for i, c in enumerate(run.configs)}
    results = results.sort_values(by="config", key=lambda s: s.map(order), kind="stable")
    if len(layers):  # units may finish in any order; the files list them in the run's
        layers = layers.sort_values(by="config", key=lambda s: s.map(order), kind="stable")
    meta["finished"] = provenance.utc_now()
    write_report(run_dir, results, layers, tokens, meta)


def _write_unit(run_dir: Path, meta: dict, rows: UnitRows) -> None:
    """Append one finished config's rows atomically (and note its calibrated weights)."""
    if rows.weights is not None:
        meta.setdefault("weight_calibration", {})[rows.config] = rows.weights
    append_rows_atomic(rows.layers, run_dir / LAYERS, key=["config", "layer"])
    append_rows_atomic(rows.results, run_dir / RESULTS, key=["config", "hw"])


def run_experiment(run: RunConfig, run_dir: Path | None = None, progress: bool = True,
                   executor: Executor | None = None) -> Path:
    """Run (or, given an existing `run_dir`, resume) a sweep; returns the run directory.

    Finished configs (rows already in run_dir/results.csv) are skipped; each newly finished
    config is appended atomically as it finishes. executor : None evaluates here, one config
    after another; an Executor runs each config as a unit (``units.evaluate_unit``) and
    UnitsFailed is raised after the others finished when any failed (no report then).
    """
    profiles = [hw_models.load_profile(p) for p in run.profiles]  # fail fast on a bad profile
    loaded = load_model(run.model)
    run_dir, meta, done = _open_run_dir(run, loaded, run_dir)
    todo = [c for c in run.configs if c.name not in done]
    if executor is not None:
        data = prepare_data(loaded, run.tokens, run.windows, run.calib_windows, run.seed)
        meta["data"] = data.source
        if not (run_dir / TOKEN_ENERGY).exists():
            work = workload(loaded, data.tokens)
            write_csv_atomic(token_energy(loaded, data, list(work.layer), run.device), run_dir / TOKEN_ENERGY)
        failures = executor.map(evaluate_unit, [ConfigUnit(run, c) for c in todo],
                                lambda unit, rows: _write_unit(run_dir, meta, rows), desc=run.model, progress=progress)
        if failures:
            raise UnitsFailed(failures, len(todo))
        _finish(run_dir, run, meta)
        return run_dir
    bar = tqdm(total=run.windows * (len(todo) + 1), desc=f"{run.model}", unit="window",
               disable=not progress, file=sys.stderr)
    try:
        ctx = build_context(run, progress=bar)
        bar.total = len(ctx.data.evaluation) * (len(todo) + 1)
        meta["data"] = ctx.data.source
        if not (run_dir / TOKEN_ENERGY).exists():
            write_csv_atomic(token_energy(loaded, ctx.data, list(ctx.work.layer), run.device), run_dir / TOKEN_ENERGY)
        for cfg in todo:
            bar.set_postfix_str(cfg.name)
            _write_unit(run_dir, meta, config_rows(run, cfg, ctx, progress=bar))
    finally:
        bar.close()
    _finish(run_dir, run, meta)
    return run_dir
