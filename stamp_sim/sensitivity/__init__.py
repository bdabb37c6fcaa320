"""Per-layer KL / MSE / SQNR sensitivity and cost-budgeted mixed precision (ALGORITHMS.md section 3).

- ``_groups``: which linear layers are scored and allocated together (qkv, gate_up, o, down);
- ``_scoring``: quantize one group alone, forward only, against cached float outputs;
- ``_ranking``: scores oriented "higher = more sensitive", Kendall tau vs perplexity increase;
- ``_allocation``: hardware costs per group and the greedy budget curve, as MixedConfig;
- ``_study``: the whole ``stamp-sim sensitivity`` run (files and report).
"""

from stamp_sim.sensitivity._allocation import (
    BudgetAxis,
    Order,
    allocation_at,
    allocation_curve,
    budget_points,
    group_costs,
    to_mixed,
)
from stamp_sim.sensitivity._groups import LayerGroup, layer_groups, parse_blocks
from stamp_sim.sensitivity._ranking import METRICS, kendall_table, rank_scores, sensitivity_score
from stamp_sim.sensitivity._scoring import Reference, evaluate_config, reference, score_group, score_groups
from stamp_sim.sensitivity._study import ALLOCATION_METRICS, SensitivityConfig, run_sensitivity

__all__ = [
    "ALLOCATION_METRICS",
    "METRICS",
    "BudgetAxis",
    "LayerGroup",
    "Order",
    "Reference",
    "SensitivityConfig",
    "allocation_at",
    "allocation_curve",
    "budget_points",
    "evaluate_config",
    "group_costs",
    "kendall_table",
    "layer_groups",
    "parse_blocks",
    "rank_scores",
    "reference",
    "run_sensitivity",
    "score_group",
    "score_groups",
    "sensitivity_score",
    "to_mixed",
]
