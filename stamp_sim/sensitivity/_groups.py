"""Layer groups: the units that sensitivity scores and allocation assigns a config to.

Linear layers that read the same input are quantized together, because deployed kernels
fuse them into one GEMM and they share one activation quantizer: q/k/v (one "qkv" group)
and gate/up (one "gate_up" group) of a block. o and down are alone; any other linear layer
(fc1, fc2, a ViT's dense layers) is its own group. The workload's ``group`` column (traced:
layers fed the same tensor) decides; a workload without it falls back to module names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stamp_sim.models.workload import group_name, input_group, linear_kind

# Kinds of a fused set (sorted) -> the group's kind.
_FUSED_KINDS = {("k", "q", "v"): "qkv", ("gate", "up"): "gate_up"}

__all__ = ["LayerGroup", "layer_groups", "parse_blocks"]


@dataclass(frozen=True)
class LayerGroup:
    """Linear layers quantized and allocated together.

    name : "<parent module>.<member suffixes joined by +>", e.g.
        "model.layers.3.self_attn.q_proj+k_proj+v_proj".
    kind : "qkv", "gate_up", or the members' linear_kind (o, down, fc1, ...).
    block : transformer block index (-1 outside blocks).
    layers : module names of the members, in execution order.
    """

    name: str
    kind: str
    block: int
    layers: tuple[str, ...]


def layer_groups(work: pd.DataFrame, blocks: tuple[int, ...] | None = None,
                 max_groups: int | None = None) -> list[LayerGroup]:
    """Groups of the workload's linear layers (columns layer, block), in execution order.

    blocks : keep only groups of these transformer blocks (None: all).
    max_groups : keep at most this many groups, evenly spaced over the model (None: all);
        the others stay at the base config in every allocation.
    """
    members: dict[str, list[str]] = {}
    block_of: dict[str, int] = {}
    traced = work["group"] if "group" in work else _name_groups([str(n) for n in work["layer"]])
    for layer, block, key in zip(work["layer"], work["block"], traced):
        if layer not in members.setdefault(key, []):
            members[key].append(str(layer))
        block_of[key] = int(block)
    groups = [LayerGroup(key, _group_kind(names), block_of[key], tuple(names)) for key, names in members.items()]
    if blocks is not None:
        present = sorted({g.block for g in groups})
        missing = sorted(set(blocks) - set(present))
        if missing:
            raise ValueError(f"blocks={list(blocks)} names blocks {missing} the model lacks; "
                             f"allowed: {present[0]}..{present[-1]}")
        groups = [g for g in groups if g.block in set(blocks)]
    if max_groups is not None:
        if max_groups < 1:
            raise ValueError(f"max_groups={max_groups!r} is invalid; allowed: integers >= 1")
        if max_groups < len(groups):
            idx = np.unique(np.linspace(0, len(groups) - 1, max_groups).round().astype(int))
            groups = [groups[i] for i in idx]
    return groups


def _name_groups(layers: list[str]) -> list[str]:
    """Group names from module names alone (q/k/v, gate/up of one parent), for untraced workloads."""
    members: dict[tuple[str, str], list[str]] = {}
    for layer in layers:
        members.setdefault(input_group(layer), [])
        if layer not in members[input_group(layer)]:
            members[input_group(layer)].append(layer)
    return [group_name(members[input_group(layer)]) for layer in layers]


def _group_kind(names: list[str]) -> str:
    """"qkv" / "gate_up" for those fused sets, else the members' kinds joined by "+"."""
    kinds = sorted({linear_kind(n) for n in names})
    return _FUSED_KINDS.get(tuple(kinds), "+".join(kinds))


def parse_blocks(text: str) -> tuple[int, ...]:
    """"0-3,7,29" -> (0, 1, 2, 3, 7, 29); ValueError naming the bad part."""
    out: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        try:
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo or lo < 0:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                value = int(part)
                if value < 0:
                    raise ValueError
                out.append(value)
        except ValueError:
            raise ValueError(f"blocks={text!r}: part {part!r} is not a block index or range; "
                             "allowed: non-negative integers and ranges like 0-3, comma separated") from None
    return tuple(sorted(set(out)))
