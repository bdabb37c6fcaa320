"""``stamp-sim run`` on a model without weights (a config.json, a folder without weights, a
card): every config priced on every profile, accuracy columns left empty, and the report
says why. Orchestration only, like ``run.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from stamp_sim import provenance
from stamp_sim.config import RunConfig
from stamp_sim.config_eval import adapt_config
from stamp_sim.models import ModelKind, ModelSpec, workload
from stamp_sim.pricing import cost_summary
from stamp_sim.report import append_rows_atomic, new_run_dir, write_json_atomic, write_report
from stamp_sim.results import config_fields, ordered
from stamp_sim.schema import RESULTS_COLUMNS

__all__ = ["cost_only_note", "run_cost_only"]

ACCURACY = ("ppl", "kl", "top1", "out_sqnr_db", "cosine", "sqnr_db")


def cost_only_note(spec: ModelSpec) -> str:
    """The report's sentence saying why the accuracy columns are empty."""
    return (f"cost only: {spec.cost_only}, so nothing could be evaluated; the accuracy columns "
            f"({', '.join(ACCURACY)}) are empty and only the cost columns are measured")


def run_cost_only(run: RunConfig, spec: ModelSpec, profiles: list, notes: tuple[str, ...]) -> Path:
    """Price every config of `run` on `profiles` for `spec`'s workload; returns the run directory."""
    from stamp_sim.workflows.run import RESULTS, RUN_JSON
    from stamp_sim.workflows.units import baseline_config

    if run.data is not None:
        raise ValueError(f"--data {run.data}: {spec.name} is cost only ({spec.cost_only}); "
                         "allowed: --data with a model that has weights")
    tokens = None if spec.kind is ModelKind.DIT else run.tokens
    work = workload(run.model, tokens)
    run_dir = new_run_dir(Path(run.out), prefix=spec.name)
    meta = {"model": run.model, "tokens": int(work.tokens.max()), "profiles": list(run.profiles),
            "configs": [c.name for c in run.configs], "git_revision": provenance.git_revision(),
            "versions": provenance.versions(), "started": provenance.utc_now(),
            "notes": [cost_only_note(spec), spec.notes, *notes], "model_source": spec.source,
            "run": run.to_dict(), "data": "none (cost only)"}
    write_json_atomic(meta, run_dir / RUN_JSON)
    run_fields = {"model": run.model, "tokens": int(work.tokens.max()), "windows": 0}
    for cfg0 in run.configs:
        cfg = adapt_config(cfg0, spec.kind)
        fields = config_fields(cfg, work, baseline_config(cfg, run))
        avg = cfg.average_activation_bits(int(work.tokens.max())) if hasattr(cfg, "average_activation_bits") \
            else math.nan
        row = {**run_fields, **fields, "avg_a_bits": avg, **{k: math.nan for k in ACCURACY}}
        costs = cost_summary(work, cfg, profiles, model=run.model)
        rows = ordered(pd.DataFrame([{**row, **c} for c in costs.to_dict("records")]), RESULTS_COLUMNS)
        append_rows_atomic(rows, run_dir / RESULTS, key=["config", "hw"])
    meta["finished"] = provenance.utc_now()
    write_report(run_dir, pd.read_csv(run_dir / RESULTS), None, None, meta)
    return run_dir

