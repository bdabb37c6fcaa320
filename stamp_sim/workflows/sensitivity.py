"""``stamp-sim sensitivity`` as a library call: score, rank, allocate, evaluate, report.

Orchestration only: the scoring, ranking and allocation live in ``stamp_sim.sensitivity``,
prices come from ``stamp_sim.pricing``, and each allocation is evaluated by the same
``config_eval.evaluate_config`` that ``stamp-sim run`` uses, so both report the same
perplexity and KL for the same config, windows and seed.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml
from tqdm.auto import tqdm

from stamp_sim import hw_models
from stamp_sim import provenance
from stamp_sim.config import ConfigError, PrecisionConfig, get_preset
from stamp_sim.config_eval import evaluate_config
from stamp_sim.evaluation import EvalData, float_reference, prepare_data
from stamp_sim.models import ModelKind, load_model, workload
from stamp_sim.preflight import sequence_problems
from stamp_sim.pricing import cost_summary
from stamp_sim.report import (
    figure_to_png_bytes,
    new_run_dir,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_report,
    write_text_atomic,
)
from stamp_sim.sensitivity import (
    BudgetAxis,
    Order,
    allocation_at,
    allocation_curve,
    budget_figure,
    budget_points,
    group_costs,
    kendall_table,
    layer_groups,
    score_groups,
    section_html,
    section_markdown,
    sensitivity_score,
    to_mixed,
)
from stamp_sim.workflows.executors import Executor, UnitsFailed
from stamp_sim.workflows.score_units import ScoreUnit, score_unit, stacked_reference

__all__ = ["ALLOCATION_METRICS", "SensitivityConfig", "run_sensitivity"]

ALLOCATION_METRICS = ("kl", "mse", "sqnr", "delta_ce", "oracle")
SENSITIVITY, ALLOCATION, KENDALL, CURVE, RUN_JSON = (
    "sensitivity.csv", "allocation.csv", "kendall.csv", "curve.csv", "run.json")


@dataclass(frozen=True)
class SensitivityConfig:
    """What ``stamp-sim sensitivity`` does.

    model : a causal LM of the registry (smollm2-135m, tiny-llama).
    profile : hardware profile (built-in name or YAML path) the budget is priced on.
    candidates : preset names a group may be lowered to; base : preset every group starts at
        (w8a8 by default: what an integer NPU runs when nothing is lowered; fp is allowed).
    axis : budget axis (energy mJ, latency ms, bytes MB; prefill at `tokens`).
    order : move order, "sensitivity" or "per-cost" (see _allocation).
    tokens : tokens per window; calib_windows : windows scored; windows : held-out windows
        for perplexity. budgets : budget points between the all-cheapest and all-base cost.
    blocks / max_groups : score only these blocks / at most this many groups (others stay at base).
    data / data_field : a .txt / .jsonl / .parquet text file instead of the Wikipedia sample.
    """

    model: str = "smollm2-135m"
    profile: str = "npu"
    candidates: tuple[str, ...] = ("w4a4", "w4a4-stamp", "w4a8")
    base: str = "w8a8"
    axis: BudgetAxis = BudgetAxis.ENERGY
    order: Order = Order.SENSITIVITY
    tokens: int = 256
    calib_windows: int = 2
    windows: int = 2
    budgets: int = 3
    seed: int = 0
    out: str = "reports"
    blocks: tuple[int, ...] | None = None
    max_groups: int | None = None
    data: str | None = None
    data_field: str = "text"

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        for key, enum_type in (("axis", BudgetAxis), ("order", Order)):
            try:
                set_(key, enum_type(getattr(self, key)))
            except ValueError:
                allowed = ", ".join(sorted(m.value for m in enum_type))
                raise ConfigError(f"SensitivityConfig.{key}={getattr(self, key)!r} is not allowed; "
                                  f"allowed: {allowed}") from None
        for key, low in (("tokens", 2), ("calib_windows", 1), ("windows", 1), ("budgets", 1)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"SensitivityConfig.{key}={value!r} is invalid; allowed: integers >= {low}")
        if self.max_groups is not None and (not isinstance(self.max_groups, int) or self.max_groups < 1):
            raise ConfigError(f"SensitivityConfig.max_groups={self.max_groups!r} is invalid; "
                              "allowed: None or integers >= 1")
        set_("candidates", tuple(self.candidates))
        if not self.candidates:
            raise ConfigError("SensitivityConfig.candidates is empty; allowed: one or more preset names")
        for name in (*self.candidates, self.base):
            get_preset(name)  # ConfigError listing the presets
        dup = sorted({c for c in self.candidates if self.candidates.count(c) > 1})
        if dup:
            raise ConfigError(f"SensitivityConfig.candidates repeats {dup}; allowed: distinct preset names")
        if self.base in self.candidates:
            raise ConfigError(f"SensitivityConfig.base={self.base!r} is also a candidate; "
                              "allowed: a base outside the candidates")
        if self.blocks is not None:
            set_("blocks", tuple(int(b) for b in self.blocks))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out.update(axis=self.axis.value, order=self.order.value, candidates=list(self.candidates),
                   blocks=None if self.blocks is None else list(self.blocks))
        return out


def _summary(configs: dict[str, str], groups: list, base: str) -> str:
    """'w4a4:12 w4a8:30 w8a8:78' (groups per config)."""
    counts: dict[str, int] = {}
    for g in groups:
        c = configs.get(g.name, base)
        counts[c] = counts.get(c, 0) + 1
    return " ".join(f"{c}:{n}" for c, n in sorted(counts.items()))


def _with_costs(sens: pd.DataFrame, per_group: pd.DataFrame, base: str, axis: BudgetAxis) -> pd.DataFrame:
    costs = per_group.set_index(["group", "config"])
    at = costs.loc[list(zip(sens["group"], sens["config"]))].reset_index(drop=True)
    base_at = costs.xs(base, level="config").loc[sens["group"]].reset_index(drop=True)
    out = pd.concat([sens.reset_index(drop=True), at], axis=1)
    out["cost"] = at[axis.column]
    out["base_cost"] = base_at[axis.column]
    out["saving"] = out["base_cost"] - out["cost"]
    return out


def _scores(cfg: SensitivityConfig, model, ref, groups, cands, progress: bool, executor) -> pd.DataFrame:
    """One row per (group, candidate), groups outer: scored here, or as units on `executor`."""
    desc = f"sensitivity {cfg.model}"
    if executor is None:
        bar = tqdm(total=len(groups) * len(cands), desc=desc, unit="score", disable=not progress, file=sys.stderr)
        try:
            return score_groups(model, ref, groups, cands, progress=bar)
        finally:
            bar.close()
    units = [ScoreUnit(cfg.model, cfg.tokens, cfg.windows, cfg.calib_windows, cfg.seed, g, c)
             for g in groups for c in cands]
    rows: dict[str, dict] = {}
    failures = executor.map(score_unit, units, lambda unit, row: rows.__setitem__(unit.label, row),
                            desc=desc, progress=progress)
    if failures:
        raise UnitsFailed(failures, len(units))
    return pd.DataFrame([rows[u.label] for u in units])


def run_sensitivity(cfg: SensitivityConfig, progress: bool = True, executor: Executor | None = None) -> Path:
    """Run the whole study; returns the new run directory (see the command's help for files).

    executor : None scores here; an Executor scores each (group, candidate) as a unit
    (``score_units.score_unit``). The allocations are evaluated here either way."""
    start = time.perf_counter()
    profile = hw_models.load_profile(cfg.profile)
    base = get_preset(cfg.base)
    cands = [get_preset(c) for c in cfg.candidates]
    loaded = load_model(cfg.model)
    if loaded.kind is not ModelKind.CAUSAL_LM:
        raise ValueError(f"model={cfg.model!r} is a {loaded.kind.value} model; allowed: causal language models "
                         "(sensitivity compares next-token distributions), e.g. smollm2-135m, tiny-llama")
    problems = sequence_problems(cfg.model, loaded, cfg.tokens, cfg.windows + cfg.calib_windows)
    if problems:
        raise ConfigError("\n".join(problems))
    data = prepare_data(loaded, cfg.tokens, cfg.windows, cfg.calib_windows, cfg.seed, cfg.data, cfg.data_field)
    work = workload(loaded, data.tokens)
    groups = layer_groups(work, cfg.blocks, cfg.max_groups)
    run_dir = new_run_dir(Path(cfg.out), prefix=f"{loaded.name}-sensitivity")
    meta = {"sensitivity": cfg.to_dict(), "hw": profile.name, "data": data.source, "model_notes": loaded.notes,
            "started": provenance.utc_now(), "git_revision": provenance.git_revision(),
            "versions": provenance.versions(), "exact_gemm": provenance.exact_gemm(),
            "load_average_start": list(os.getloadavg()), "torch_threads": torch.get_num_threads()}
    write_json_atomic(meta, run_dir / RUN_JSON)
    model = loaded.model
    t0 = time.perf_counter()
    ref = stacked_reference(model, data)
    t_ref = time.perf_counter() - t0
    sens = _scores(cfg, model, ref, groups, cands, progress, executor)
    t_score = time.perf_counter() - t0 - t_ref
    per_group, rest = group_costs(work, groups, [base, *cands], profile)
    sens = _with_costs(sens, per_group, base.name, cfg.axis)
    write_csv_atomic(sens, run_dir / SENSITIVITY)
    tau = kendall_table(sens)
    write_csv_atomic(tau, run_dir / KENDALL)

    t1 = time.perf_counter()
    alloc, curves, results = _allocate(cfg, model, data, work, groups, base, cands, sens, per_group, rest,
                                       profile, run_dir, progress)
    t_alloc = time.perf_counter() - t1
    write_csv_atomic(curves, run_dir / CURVE)
    write_csv_atomic(alloc, run_dir / ALLOCATION)

    wall = time.perf_counter() - start
    meta.update(finished=provenance.utc_now(),
                timings_s={"reference": t_ref, "scoring": t_score, "allocation": t_alloc, "total": wall},
                load_average_end=list(os.getloadavg()), groups=len(groups), float_ppl=ref.ppl_eval,
                unit_times=list(getattr(executor, "unit_times", [])))
    axis_label = f"{cfg.axis.value} on {profile.name} ({cfg.axis.unit}, prefill {data.tokens} tokens)"
    info = {"groups": len(groups), "candidates": len(cands), "calib_windows": cfg.calib_windows,
            "windows": cfg.windows, "tokens": data.tokens, "wall_s": wall, "scoring_s": t_score,
            "axis": cfg.axis.value, "hw": profile.name, "base": base.name, "candidate_names": cfg.candidates,
            "order": cfg.order.value, "axis_label": axis_label}
    fig = budget_figure(alloc, axis_label, ref.ppl_eval)
    png = figure_to_png_bytes(fig)
    write_bytes_atomic(png, run_dir / "figures" / "budget_vs_ppl.png")
    section = section_html(tau, alloc, fig, info)
    write_report(run_dir, results, None, None, meta, extra_sections=[("Sensitivity and budgeted allocation", section)])
    md = (run_dir / "report.md").read_text()
    write_text_atomic(md + section_markdown(tau, alloc, "figures/budget_vs_ppl.png", info), run_dir / "report.md")
    return run_dir


def _picks(cfg, groups, base: PrecisionConfig, sens, per_group, rest) -> tuple[list, pd.DataFrame]:
    """(metric, name, budget, {group: config}, cost) of every allocation to evaluate: the two
    ends (all base, all cheapest) and each ranking metric's allocation at each budget; and
    the curves."""
    col = cfg.axis.column
    base_cost = per_group[per_group["config"] == base.name].set_index("group")[col].to_dict()
    fixed = float(rest.loc[rest["config"] == base.name, col].sum())
    high = fixed + sum(base_cost.values())
    cheapest: dict[str, str] = {}
    for g in groups:
        costs = per_group[per_group["group"] == g.name].set_index("config")[col]
        best = costs.idxmin()
        if costs[best] < costs[base.name]:
            cheapest[g.name] = best
    low = fixed + sum(float(per_group[(per_group.group == g) & (per_group.config == c)][col].iloc[0])
                      for g, c in cheapest.items()) + sum(v for g, v in base_cost.items() if g not in cheapest)
    picks = [("base", base.name, high, {}, high), ("lowest", "lowest", low, cheapest, low)]
    curves = []
    budgets = budget_points(low, high, cfg.budgets) if high > low else []
    for metric in ALLOCATION_METRICS:
        moves = pd.DataFrame({"group": sens["group"], "config": sens["config"],
                              "score": sensitivity_score(sens, metric), "cost": sens["cost"]})
        curve = allocation_curve(moves, base_cost, fixed, base.name, cfg.order)
        curves.append(curve.assign(metric=metric))
        for budget in budgets:
            assignment, cost = allocation_at(curve, budget, base.name)
            picks.append((metric, f"{metric}-{cfg.axis.value}-{budget / high:.3f}", budget, assignment, cost))
    return picks, pd.concat(curves, ignore_index=True)


def _allocate(cfg, model, data: EvalData, work, groups, base: PrecisionConfig, cands, sens, per_group, rest,
              profile, run_dir: Path, progress: bool):
    """Curves per ranking metric, allocations at the budgets, evaluated and written as YAML."""
    picks, curves = _picks(cfg, groups, base, sens, per_group, rest)
    high = picks[0][2]
    presets = {c.name: c for c in [base, *cands]}
    reference_outputs = float_reference(model, data)
    evaluated: dict[frozenset, dict] = {}
    rows, results = [], []
    bar = tqdm(total=len(picks), desc="allocations", unit="eval", disable=not progress, file=sys.stderr)
    try:
        for metric, name, budget, assignment, cost in picks:
            mixed = to_mixed(name, base, {g: presets[c] for g, c in assignment.items()}, groups)
            key = frozenset(assignment.items())
            if key not in evaluated:
                evaluated[key] = evaluate_config(model, mixed, data, reference_outputs).accuracy
            acc = evaluated[key]
            rel = f"allocations/{name}.yaml"
            write_text_atomic(yaml.safe_dump(mixed.to_dict(), sort_keys=False), run_dir / rel)
            rows.append({"metric": metric, "config": name, "axis": cfg.axis.value, "unit": cfg.axis.unit,
                         "budget": budget, "budget_share": budget / high, "cost": cost, "cost_share": cost / high,
                         **acc, "lowered": len(assignment), "configs": _summary(assignment, groups, base.name),
                         "file": rel})
            priced = cost_summary(work, mixed, [profile])
            results.append(priced.assign(model=cfg.model, config=name, metric=metric, budget=budget, **acc))
            bar.update(1)
    finally:
        bar.close()
    res = pd.concat(results, ignore_index=True)
    lead = ["model", "config", "metric", "budget", "hw", "ppl", "kl", "top1"]
    return pd.DataFrame(rows), curves, res[lead + [c for c in res.columns if c not in lead]]
