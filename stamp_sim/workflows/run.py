"""``stamp-sim run`` as a library call: evaluate every config, price it, write the report.

For each config: evaluate it (``config_eval``: accuracy, layer statistics, the integer
check), price the workload on every profile (``pricing``), and append its finished rows
to results.csv / layers.csv atomically, so an interrupted sweep keeps them and
``--resume`` skips them. The report is written last.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from stamp_sim import hw_models
from stamp_sim import provenance
from stamp_sim.config import ConfigError, PrecisionConfig, RunConfig
from stamp_sim.config_eval import adapt_config
from stamp_sim.evaluation import float_reference, prepare_data
from stamp_sim.models import LoadedModel, load_model, model_spec, workload
from stamp_sim.preflight import calibration_note, config_problems, sequence_problems
from stamp_sim.progress import Stages
from stamp_sim.report import (append_rows_atomic, new_run_dir, read_table, write_csv_atomic, write_json_atomic,
                              write_report)
from stamp_sim.token_energy import token_energy
from stamp_sim.workflows.executors import Executor, UnitsFailed
from stamp_sim.workflows.units import ConfigUnit, RunContext, UnitRows, config_rows, evaluate_unit

__all__ = ["LAYERS", "RESULTS", "RUN_JSON", "TOKEN_ENERGY", "high_rows_note", "is_finished", "load_run",
           "resume_conflicts",
           "run_experiment"]

RESULTS, LAYERS, TOKEN_ENERGY, RUN_JSON = "results.csv", "layers.csv", "token_energy.csv", "run.json"

NOTES = (
    "latency_ms: MAC-array time and vector-unit time (transforms, quantization) add up with no "
    "overlap, so transform overheads are upper bounds; latency = max(compute, DRAM). "
    "latency_overlap_ms (the summary's overlapped column) is the optimistic end: the vector unit pipelined with "
    "the MAC array, max(MAC, vector, DRAM) per layer.",
    "energy and latency cover the linear layers only (attention products, norms and lm_head "
    "are not in these columns; stamp-sim cost --model prices a decoder's whole forward).",
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
        "exact_gemm": provenance.exact_gemm(run.device), "started": provenance.utc_now(), "notes": [loaded.notes, *NOTES],
        "model_source": loaded.source, "run": run.to_dict(),
    }


def high_rows_note(configs, tokens: int) -> str:
    """What a fixed count of high-precision rows costs at this length, e.g. "w4a4-stamp: 64 of
    128 rows at 8 bits, 6.00 average activation bits"; "" when no config keeps high rows."""
    groups: dict[tuple, list[str]] = {}
    for cfg in configs:
        if isinstance(cfg, PrecisionConfig) and cfg.a_bits is not None and cfg.high_rows > 0:
            key = (cfg.high_row_count(tokens), cfg.a_high_bits, cfg.a_bits, cfg.average_activation_bits(tokens))
            groups.setdefault(key, []).append(cfg.name)
    parts = [f"{', '.join(names)}: " + (f"all {tokens} rows at {hi} bits" if k == tokens else
                                        f"{k} of {tokens} rows at {hi} bits, the rest at {lo}")
             + f", so {avg:.2f} average activation bits" for (k, hi, lo, avg), names in groups.items()]
    return ("High-precision rows are a fixed count, so short inputs spend more bits: " + "; ".join(parts)
            + " (the STaMP paper's 64 of 4096 tokens average 4.06).") if parts else ""


def _open_run_dir(run: RunConfig, loaded: LoadedModel, run_dir: Path | None) -> tuple[Path, dict, set]:
    """(run directory, run.json's contents, configs already finished); a new directory when None.

    run.json is written at once with status "running"."""
    meta = _meta(run, loaded)
    if run_dir is None:
        run_dir = new_run_dir(Path(run.out), prefix=loaded.name)  # a path's file-safe name
    run_dir = Path(run_dir)
    if (run_dir / RUN_JSON).exists():  # resuming: keep when the run began
        meta["started"] = load_run(run_dir)[1].get("started", meta["started"])
        meta["resumed"] = provenance.utc_now()
    meta["status"] = "running"
    write_json_atomic(meta, run_dir / RUN_JSON)
    done = set(read_table(run_dir / RESULTS).config) if (run_dir / RESULTS).exists() else set()
    return run_dir, meta, done


def is_finished(run_dir: Path | str) -> bool:
    """True when run_dir's run.json says the run finished (status "finished"; a run.json from
    before statuses: every config in results.csv and report.html written)."""
    run, meta = load_run(run_dir)
    status = meta.get("status")
    if status is not None:
        return status == "finished"
    path = Path(run_dir)
    if not (path / RESULTS).exists() or not (path / "report.html").exists():
        return False
    return {c.name for c in run.configs} <= set(read_table(path / RESULTS).config)


def _check_edges(run: RunConfig, loaded: LoadedModel, data, work) -> None:
    problems = config_problems([adapt_config(c, loaded.kind) for c in run.configs], loaded, work, data.tokens,
                               data.grid)
    if problems:
        raise ConfigError("\n".join(problems))


def _finish(run_dir: Path, run: RunConfig, meta: dict) -> None:
    results = read_table(run_dir / RESULTS)
    layers = read_table(run_dir / LAYERS) if (run_dir / LAYERS).exists() else pd.DataFrame()
    token_path = run_dir / TOKEN_ENERGY
    tokens = read_table(token_path) if token_path.exists() and token_path.stat().st_size > 1 else None
    order = {c.name: i for i, c in enumerate(run.configs)}
    results = results.sort_values(by="config", key=lambda s: s.map(order), kind="stable")
    if len(layers):  # units may finish in any order; the files list them in the run's
        layers = layers.sort_values(by="config", key=lambda s: s.map(order), kind="stable")
    meta["finished"] = provenance.utc_now()
    meta["status"] = "finished"
    write_report(run_dir, results, layers, tokens, meta)


def _prepare(run: RunConfig, stages: Stages):
    """Profiles, model, data and workload, every input checked: nothing is written yet."""
    profiles = [hw_models.load_profile(p) for p in run.profiles]
    stages.say(f"stamp-sim run: {len(run.configs)} config(s) on {run.model}, {run.windows} window(s) of "
               f"{run.tokens} tokens, priced on {', '.join(p.name for p in profiles)}")
    first = model_spec(run.model).first_load()
    with stages.stage(f"loading model {run.model}" + (f" ({first})" if first else "")):
        loaded = load_model(run.model)
    problems = sequence_problems(run.model, loaded, run.tokens, run.windows)
    if problems:
        raise ConfigError("\n".join(problems))
    with stages.stage(f"preparing data ({run.windows} evaluation + {run.calib_windows} calibration windows "
                      f"of {run.tokens} tokens)"):
        data = prepare_data(loaded, run.tokens, run.windows, run.calib_windows, run.seed, run.data, run.data_field)
    work = workload(loaded, data.tokens)
    _check_edges(run, loaded, data, work)
    note = calibration_note(run.configs, work, len(data.calibration or data.evaluation[:1]) * data.tokens)
    if note:
        stages.say(note)
    return profiles, loaded, data, work


def _write_unit(run_dir: Path, meta: dict, rows: UnitRows) -> None:
    """Append one finished config's rows atomically (and note its calibrated weights)."""
    if rows.weights is not None:
        meta.setdefault("weight_calibration", {})[rows.config] = rows.weights
    append_rows_atomic(rows.layers, run_dir / LAYERS, key=["config", "layer"])
    append_rows_atomic(rows.results, run_dir / RESULTS, key=["config", "hw"])


def run_experiment(run: RunConfig, run_dir: Path | None = None, progress: bool = True,
                   stages: Stages | None = None, executor: Executor | None = None) -> Path:
    """Run (or, given an existing `run_dir`, resume) a sweep; returns the run directory.

    Every input is checked before a directory is created. Finished configs (rows already
    in run_dir/results.csv) are skipped; each newly finished config is appended atomically
    before the next one starts. run.json's status says running, failed (with the error)
    or finished; resuming a finished run changes no file. Each stage reports on `stages`
    (default: stderr when `progress`, else nothing). executor : None evaluates here, one
    config after another; an Executor runs each config as a unit (``units.evaluate_unit``)
    and UnitsFailed is raised after the others finished when any failed (no report then).
    """
    stages = stages if stages is not None else Stages(enabled=progress)
    if run_dir is not None and is_finished(run_dir):
        return Path(run_dir)
    spec = model_spec(run.model)
    if not spec.loadable:
        from stamp_sim.workflows.cost_only import run_cost_only

        return run_cost_only(run, spec, [hw_models.load_profile(p) for p in run.profiles], NOTES)
    profiles, loaded, data, work = _prepare(run, stages)
    run_dir, meta, done = _open_run_dir(run, loaded, run_dir)
    stages.say(f"run directory: {run_dir}")
    if done:
        stages.say(f"resuming: {len(done)} config(s) already finished are kept ({', '.join(sorted(done))})")
    meta["data"] = data.source
    meta.update(priced_layers=len(work), high_rows=high_rows_note(run.configs, data.tokens))
    try:
        _evaluate_all(run, run_dir, meta, done, (profiles, loaded, data, work), stages, executor)
        with stages.stage("writing the report (figures, report.md, report.html)"):
            _finish(run_dir, run, meta)
    except BaseException as exc:
        meta["status"] = "failed"
        meta["error"] = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
        write_json_atomic(meta, run_dir / RUN_JSON)
        raise
    return run_dir


def _evaluate_all(run: RunConfig, run_dir: Path, meta: dict, done: set, prepared, stages: Stages,
                  executor: Executor | None) -> None:
    profiles, loaded, data, work = prepared
    todo = [c for c in run.configs if c.name not in done]
    if executor is not None:
        _token_energy(run, run_dir, loaded, data, work, stages)
        failures = executor.map(evaluate_unit, [ConfigUnit(run, c) for c in todo],
                                lambda unit, rows: _write_unit(run_dir, meta, rows), desc=run.model,
                                progress=stages.enabled)
        # per unit (unit, worker, seconds, setup_s): where a slow cluster spends its time
        meta["unit_times"] = meta.get("unit_times", []) + list(executor.unit_times)
        if failures:
            raise UnitsFailed(failures, len(todo))
        return
    model = loaded.model.to(run.device)
    with stages.stage("float reference", total=len(data.evaluation), unit="window") as bar:
        reference = float_reference(model, data, run.device, progress=bar)
    _token_energy(run, run_dir, loaded, data, work, stages)
    ctx = RunContext(loaded, model, data, work, reference, tuple(profiles))
    for k, cfg in enumerate(todo, start=1):
        _write_unit(run_dir, meta, config_rows(run, cfg, ctx, stages=stages, label=f"config {k} of {len(todo)}"))


def _token_energy(run: RunConfig, run_dir: Path, loaded, data, work, stages: Stages) -> None:
    if not (run_dir / TOKEN_ENERGY).exists():
        with stages.stage("token energy before and after the DWT (one layer)"):
            write_csv_atomic(token_energy(loaded, data, list(work.layer), run.device), run_dir / TOKEN_ENERGY)
