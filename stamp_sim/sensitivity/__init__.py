"""Per-layer KL / MSE / SQNR sensitivity and cost-budgeted mixed precision (docs/METHODS.md section 4).

- ``_groups``: which linear layers are scored and allocated together (qkv, gate_up, o, down);
- ``_scoring``: quantize one group alone, forward only, against cached float outputs;
- ``_ranking``: scores oriented "higher = more sensitive", Kendall tau vs perplexity increase;
- ``_allocation``: hardware costs per group and the greedy budget curve, as MixedConfig;
- ``_report``: the report's sensitivity section (figure, tables).

The whole ``stamp-sim sensitivity`` run is ``stamp_sim.workflows.sensitivity``.
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
from stamp_sim.sensitivity._ranking import METRICS, kendall_table, sensitivity_score
from stamp_sim.sensitivity._report import budget_figure, ppl_pivot, section_html, section_markdown, tau_pivot
from stamp_sim.sensitivity._scoring import Reference, reference, score_group, score_groups

__all__ = [
    "METRICS",
    "BudgetAxis",
    "LayerGroup",
    "Order",
    "Reference",
    "allocation_at",
    "allocation_curve",
    "budget_figure",
    "budget_points",
    "group_costs",
    "kendall_table",
    "layer_groups",
    "parse_blocks",
    "ppl_pivot",
    "reference",
    "score_group",
    "score_groups",
    "section_html",
    "section_markdown",
    "sensitivity_score",
    "tau_pivot",
    "to_mixed",
]
