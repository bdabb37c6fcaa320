"""One (model, config) evaluation of ``stamp-sim run`` / ``stamp-sim sweep``: the unit of work.

A unit names its model and data (``ConfigUnit``: the run's options and one config), never
carries them: the process that runs it (this one, or a Dask worker) loads the model,
draws the windows and computes the float reference once and keeps them
(``run_context``), so a worker pays for a model once however many units it runs.

The float reference (the float model's outputs on every evaluation window) is computed
once per process rather than scattered from the client: for SmolLM2 at 512 tokens x 4
windows it is 4 x 512 x 49152 float32 logits, about 400 MB, which costs more to send
than the few seconds of forward passes that rebuild it where it is needed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from stamp_sim import hw_models
from stamp_sim.config import MixedConfig, PrecisionConfig, RunConfig, get_preset
from stamp_sim.config_eval import adapt_config, evaluate_config
from stamp_sim.evaluation import EvalData, float_reference, prepare_data
from stamp_sim.models import LoadedModel, kv_cache_shape, load_model, workload
from stamp_sim.pricing import cost_summary
from stamp_sim.progress import QUIET, Stages
from stamp_sim.results import config_fields, layer_rows, result_rows

__all__ = ["ConfigUnit", "RunContext", "UnitRows", "baseline_config", "build_context", "config_rows", "evaluate_unit",
           "run_context",
           "unit_seed"]

_CACHE_SIZE = 2  # contexts kept per process: a sweep's worker may alternate between two models
_contexts: dict[tuple, RunContext] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class RunContext:
    """What every config of one (model, tokens, windows, seed) shares.

    model : the float model on the run's device (restored after each config).
    work : the workload's GEMM shapes. reference : float_reference(model, data).
    profiles : the loaded hardware profiles the rows are priced on.
    """

    loaded: LoadedModel
    model: Any
    data: EvalData
    work: pd.DataFrame
    reference: list
    profiles: tuple


@dataclass(frozen=True)
class ConfigUnit:
    """One config of a run: what a worker needs to evaluate it, by name and value only."""

    run: RunConfig
    config: PrecisionConfig | MixedConfig

    @property
    def label(self) -> str:
        """'model/tokens/config', unique within a sweep."""
        return f"{self.run.model}/{self.run.tokens}/{self.config.name}"


@dataclass(frozen=True)
class UnitRows:
    """A finished unit: its layers.csv rows, its results.csv rows (one per profile) and,
    for calibrated weights, what run.json records about them (else None)."""

    config: str
    layers: pd.DataFrame
    results: pd.DataFrame
    weights: dict | None
    setup_s: float = 0.0  # seconds this unit spent building its process's RunContext (first unit only)


def unit_seed(seed: int, *parts: object) -> int:
    """A seed for one unit from the run's seed and the unit's names (int in [0, 2**63)).

    Derived from values only, so a unit draws the same random numbers whichever process
    runs it and whatever ran there before it.
    """
    text = "\x1f".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def _key(run: RunConfig) -> tuple:
    return (run.model, run.tokens, run.windows, run.calib_windows, run.seed, run.device, tuple(run.profiles),
            run.data, run.data_field)


def build_context(run: RunConfig, progress=None) -> RunContext:
    """Load `run`'s model, draw its windows, compute the float reference and load the profiles.

    progress : a tqdm bar the float reference advances per window.
    """
    loaded = load_model(run.model)
    model = loaded.model.to(run.device)
    data = prepare_data(loaded, run.tokens, run.windows, run.calib_windows, run.seed, run.data, run.data_field)
    return RunContext(loaded, model, data, workload(loaded, data.tokens),
                      float_reference(model, data, run.device, progress=progress),
                      tuple(hw_models.load_profile(p) for p in run.profiles))


def run_context(run: RunConfig) -> tuple[RunContext, float]:
    """This process's RunContext for `run`'s model and data, built on first use and kept, and
    the seconds this call spent building it (0 when it was kept)."""
    key = _key(run)
    with _lock:
        if key in _contexts:
            return _contexts[key], 0.0
        while len(_contexts) >= _CACHE_SIZE:
            _contexts.pop(next(iter(_contexts)))
        start = time.perf_counter()
        _contexts[key] = build_context(run)
        return _contexts[key], time.perf_counter() - start


def baseline_config(cfg, run: RunConfig) -> PrecisionConfig | None:
    """The config `cfg` declares as its baseline: the run's config of that name, else the preset."""
    name = getattr(cfg, "baseline", None)
    if name is None:
        return None
    return next((c for c in run.configs if c.name == name), None) or get_preset(name)


def config_rows(run: RunConfig, cfg0: PrecisionConfig | MixedConfig, ctx: RunContext, progress=None,
                stages: Stages = QUIET, label: str = "") -> UnitRows:
    """Evaluate one config of `run` on `ctx`'s model and price it on every profile.

    stages / label : where each step reports, as "<label> <config>: <step>" (silent by default).
    """
    cfg = adapt_config(cfg0, ctx.loaded.kind)
    label = f"{label} {cfg.name}".strip()
    torch.manual_seed(unit_seed(run.seed, run.model, run.tokens, cfg.name))
    ev = evaluate_config(ctx.model, cfg, ctx.data, ctx.reference, run.device, run.int_layers, progress=progress,
                         stages=stages, label=label)
    weights = None
    if ev.weights_key:
        weights = {"windows": len(ctx.data.calibration), "tokens": ctx.data.tokens, "seed": run.seed,
                   "cache_key": ev.weights_key, "note": "calibration windows only, disjoint from evaluation"}
    with stages.stage(f"{label}: pricing on {', '.join(p.name for p in ctx.profiles)}"):
        ldf = layer_rows(run.model, cfg.name, ev.layers)
        run_fields = {"model": run.model, "tokens": ctx.data.tokens, "windows": run.windows}
        rows = result_rows(run_fields, config_fields(cfg, ctx.work, baseline_config(cfg, run)), cfg, ev, ldf,
                           cost_summary(ctx.work, cfg, list(ctx.profiles), kv_cache_shape(ctx.loaded),
                                        model=run.model))
    return UnitRows(cfg.name, ldf, rows, weights)


def evaluate_unit(unit: ConfigUnit) -> UnitRows:
    """Run one unit in this process (what an executor sends to a worker)."""
    ctx, setup_s = run_context(unit.run)
    return dataclasses.replace(config_rows(unit.run, unit.config, ctx), setup_s=setup_s)
