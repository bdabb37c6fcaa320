"""Budgeted allocation: which group runs at which config, under a hardware-cost budget.

Costs come from the hardware cost model (hw_models via stamp_sim.pricing), prefill at the
run's sequence length, on one axis: energy (mJ), latency (ms) or bytes (MB of weight and
activation operands). Latency is a sum over layers because layers run one after another.

Greedy curve (the KL-lens paper's prefix curve, generalised to several candidates per
group): every group starts at the base config; the (group, candidate) moves that cost
less than the base are sorted by sensitivity, least sensitive first ("sensitivity"
order), or by sensitivity per unit of cost saved ("per-cost" order); walking the list,
a move is applied when it makes its group cheaper than it is now. Each applied move is
one point of the curve, so cost never rises along it, and the last point has every group
at its cheapest candidate. At a budget the allocation is the first point at or under it:
the fewest, least sensitive lowerings that meet the budget.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np
import pandas as pd

from stamp_sim import hw_models
from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.pricing import price_workload
from stamp_sim.schema import convert
from stamp_sim.sensitivity._groups import LayerGroup

__all__ = ["BudgetAxis", "Order", "allocation_at", "allocation_curve", "budget_points", "group_costs",
           "to_mixed"]


class BudgetAxis(str, enum.Enum):
    """The hardware cost a budget limits."""

    ENERGY = "energy"  # prefill energy, mJ
    LATENCY = "latency"  # prefill latency, ms
    BYTES = "bytes"  # weight + activation operand bytes, MB

    @property
    def column(self) -> str:
        return {"energy": "energy_mj", "latency": "latency_ms", "bytes": "bytes_mb"}[self.value]

    @property
    def unit(self) -> str:
        return {"energy": "mJ", "latency": "ms", "bytes": "MB"}[self.value]


class Order(str, enum.Enum):
    """How moves are sorted (see the module docstring)."""

    SENSITIVITY = "sensitivity"
    PER_COST = "per-cost"


COST_COLUMNS = ("energy_mj", "latency_ms", "bytes_mb")


def group_costs(work: pd.DataFrame, groups: Sequence[LayerGroup], configs: Sequence[PrecisionConfig],
                profile: hw_models.HardwareProfile) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prefill cost of every group at every config, and of the layers outside every group.

    work : workload (layer, tokens, k, n). Returns (per-group table: group, config,
    energy_mj, latency_ms, bytes_mb; per-config table of the ungrouped layers: config
    and the same three columns, zero when every layer is in a group).
    """
    priced = price_workload(work, configs, [profile], ["prefill"])
    table = pd.DataFrame({
        "layer": priced["layer"].astype(str), "config": priced["config"].astype(str),
        "energy_mj": convert(priced["energy_pj"], "pJ", "mJ"), "latency_ms": convert(priced["latency_s"], "s", "ms"),
        "bytes_mb": convert(priced["weight_bytes"] + priced["act_bytes"], "bytes", "MB"),
    })
    owner = {layer: g.name for g in groups for layer in g.layers}
    table["group"] = table["layer"].map(owner)
    per_group = table.dropna(subset=["group"]).groupby(["group", "config"], sort=False)[list(COST_COLUMNS)].sum()
    rest = (table[table["group"].isna()].groupby("config", sort=False)[list(COST_COLUMNS)].sum()
            .reindex([c.name for c in configs], fill_value=0.0))
    return per_group.reset_index(), rest.rename_axis("config").reset_index()


def _linear_sensitivity(scores: np.ndarray) -> np.ndarray:
    # per-cost order divides by the saving, so scores must be >= 0 with 0 = harmless;
    # signed scores (delta CE, -SQNR in dB) are shifted so the least sensitive is 0.
    finite = scores[np.isfinite(scores)]
    low = finite.min() if len(finite) else 0.0
    return np.where(np.isfinite(scores), scores - min(low, 0.0), np.where(scores > 0, np.inf, 0.0))


def allocation_curve(moves: pd.DataFrame, base_cost: dict[str, float], fixed_cost: float, base: str,
                     order: Order | str = Order.SENSITIVITY) -> pd.DataFrame:
    """The greedy curve from every group at `base` down to every group at its cheapest.

    moves : one row per (group, config) with columns group, config, score (higher = more
        sensitive) and cost (on the budget axis).
    base_cost : group -> its cost at the base config. fixed_cost : cost of layers outside
        every group (at base). Returns one row per curve point: step (0 = all base),
        group and config changed (empty at step 0), cost (total, budget-axis units),
        lowered (groups not at base).
    """
    order = Order(order)
    missing = sorted(set(moves["group"]) - set(base_cost))
    if missing:
        raise ValueError(f"moves name groups without a base cost: {missing[:3]}")
    saving = moves["group"].map(base_cost).to_numpy(float) - moves["cost"].to_numpy(float)
    scores = moves["score"].to_numpy(float)
    useful = saving > 0
    key = scores if order is Order.SENSITIVITY else _linear_sensitivity(scores) / np.where(useful, saving, 1.0)
    cand = moves.assign(_key=key, _score=scores)[useful]
    # stable: ties keep the table's order (groups in execution order)
    cand = cand.sort_values(["_key", "_score"], kind="stable")
    current = dict(base_cost)
    state = {g: base for g in base_cost}
    total = fixed_cost + sum(current.values())
    rows = [{"step": 0, "group": "", "config": "", "cost": total, "lowered": 0}]
    for group, config, cost in zip(cand["group"], cand["config"], cand["cost"]):
        if cost < current[group]:
            total += cost - current[group]
            current[group] = float(cost)
            state[group] = config
            rows.append({"step": len(rows), "group": group, "config": config, "cost": total,
                         "lowered": sum(v != base for v in state.values())})
    return pd.DataFrame(rows)


def allocation_at(curve: pd.DataFrame, budget: float, base: str) -> tuple[dict[str, str], float]:
    """({group: config} of groups lowered, cost) at the first curve point with cost <= budget.

    ValueError when even the last point (everything at its cheapest) costs more.
    """
    ok = np.flatnonzero(curve["cost"].to_numpy(float) <= budget)
    if len(ok) == 0:
        raise ValueError(f"budget={budget:.6g} is below the cheapest allocation ({curve['cost'].min():.6g})")
    stop = int(ok[0])
    state: dict[str, str] = {}
    for group, config in zip(curve["group"][1 : stop + 1], curve["config"][1 : stop + 1]):
        state[group] = config
    return {g: c for g, c in state.items() if c != base}, float(curve["cost"].iloc[stop])


def budget_points(low: float, high: float, count: int) -> list[float]:
    """`count` budgets evenly spaced strictly between the all-cheapest and all-base costs."""
    if count < 1:
        raise ValueError(f"budgets={count!r} is invalid; allowed: integers >= 1")
    return [low + (high - low) * i / (count + 1) for i in range(1, count + 1)]


def to_mixed(name: str, base: PrecisionConfig, assignment: dict[str, PrecisionConfig],
             groups: Sequence[LayerGroup]) -> MixedConfig:
    """The MixedConfig of an allocation: every member layer of an assigned group at its
    group's config, everything else at `base`."""
    members = {g.name: g.layers for g in groups}
    layers = tuple((layer, cfg) for group, cfg in assignment.items() for layer in members[group])
    return MixedConfig(name, base, layers)
