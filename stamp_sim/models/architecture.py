"""A decoder's ModelGeometry as the cost model's inputs: ``hw_models.DecoderShape`` (the
ops beyond the linear layers, per block) and the linear GEMM rows ``hw_models.price`` prices.

MoE routing is priced as even: a step of `tokens` tokens sends tokens x top_k rows through
an expert GEMM, spread over min(experts, tokens x top_k) experts (decode: top_k experts of
one row each; prefill of many tokens: every expert), each of which reads its weights once.
Experts 0, 1, ... stand for whichever experts the router picks.
"""

from __future__ import annotations

import pandas as pd

from stamp_sim import hw_models

from .errors import ModelInputError
from .geometry import BlockKind, Gemm, GemmKind, MlpKind, ModelGeometry
from .geometry_hf import geometry
from .workload import WORKLOAD_COLUMNS, group_name

__all__ = ["GEMM_ROW_COLUMNS", "decoder_shape", "decoder_shape_of", "expert_layer", "gemm_rows"]

#: The workload's columns and ``expert``: the expert an MoE row stands for, -1 for a dense GEMM.
GEMM_ROW_COLUMNS = (*WORKLOAD_COLUMNS, "expert")

# (gated?, the config's activation name) -> hw_models.decoder's ACTIVATIONS key.
_ACTIVATION_FAMILIES = {"silu": "silu", "swish": "silu", "gelu": "gelu", "relu": "relu"}


def _activation_op(kind: MlpKind, name: str) -> str:
    family = next((v for k, v in _ACTIVATION_FAMILIES.items() if name.lower().startswith(k)), None)
    if family is None:
        raise ModelInputError(f"MLP activation {name!r} is not priced; allowed: "
                              f"{', '.join(sorted(_ACTIVATION_FAMILIES))} (and their variants, e.g. gelu_new)")
    return f"{family}_gated" if kind is MlpKind.GATED and family != "relu" else family


def decoder_shape_of(geo: ModelGeometry) -> hw_models.DecoderShape:
    """The DecoderShape of a decoder's geometry: one BlockShape per layer (its sliding
    window, its MLP activation width, an MoE's router width and top_k). ModelInputError for
    a block kind the cost model does not price yet (recurrent) or attention blocks whose
    heads differ between layers."""
    unpriced = sorted({b.kind.value for b in geo.blocks if b.kind is BlockKind.RECURRENT})
    if unpriced:
        raise ModelInputError(f"model {geo.name}: {', '.join(unpriced)} blocks are not priced yet; allowed: "
                              "attention, mlp, moe_mlp, embedding, lm_head")
    attention = [b.attention for b in geo.blocks_of(BlockKind.ATTENTION)]
    mlps = [b.mlp for b in geo.blocks_of(BlockKind.MLP, BlockKind.MOE_MLP)]
    if not attention or len(attention) != len(mlps):
        raise ModelInputError(f"model {geo.name}: {len(attention)} attention and {len(mlps)} MLP blocks; allowed: "
                              "one of each per layer")
    first = attention[0]
    shapes = {(a.heads, a.kv_heads, a.head_dim, a.rotary, a.rotary_fraction, a.qk_norm) for a in attention}
    ops = {_activation_op(m.kind, m.activation) for m in mlps}
    if len(shapes) > 1 or len(ops) > 1:
        raise ModelInputError(f"model {geo.name}: attention heads or MLP activations differ between layers; "
                              "allowed: one attention shape and one activation for every layer")
    blocks = tuple(hw_models.BlockShape(window=a.window, mlp_width=m.activation_width if m.experts else None,
                                        experts=m.experts, top_k=m.top_k) for a, m in zip(attention, mlps))
    dense = next((m for m in mlps if not m.experts), mlps[0])
    sandwich = any(b.norms > 1 for b in geo.blocks_of(BlockKind.ATTENTION))
    return hw_models.DecoderShape(
        layers=len(attention), hidden=geo.hidden, heads=first.heads, kv_heads=first.kv_heads,
        head_dim=first.head_dim, intermediate=dense.intermediate, vocab=geo.vocab,
        gated_mlp=dense.kind is MlpKind.GATED, rotary=first.rotary, tied_embeddings=geo.tied_embeddings,
        activation=ops.pop(), qk_norm=first.qk_norm, sandwich_norms=sandwich, rotary_fraction=first.rotary_fraction,
        blocks=() if all(b == hw_models.BlockShape() for b in blocks) else blocks)


def expert_layer(gemm: Gemm, expert: int) -> str:
    """The row name of `gemm` for one expert: "<experts module>.<expert>.<part>"."""
    parent, _, leaf = gemm.name.rpartition(".")
    return f"{parent}.{expert}.{leaf}"


def _expert_rows(tokens: int, gemm: Gemm) -> list[tuple[int, int]]:
    """(expert, rows) of an expert GEMM for `tokens` tokens under even routing."""
    routed = tokens * gemm.rows_per_token
    touched = min(gemm.experts, routed)
    each, extra = divmod(routed, touched)
    return [(e, each + (1 if e < extra else 0)) for e in range(touched)]


def gemm_rows(geo: ModelGeometry, tokens: int, include_lm_head: bool = True) -> pd.DataFrame:
    """The linear GEMMs of one forward of `tokens` tokens, one row per GEMM (per expert
    touched for an MoE expert GEMM) in execution order: GEMM_ROW_COLUMNS, as
    ``models.workload`` returns them (layer, kind, block, tokens = GEMM rows, k, n, group)
    plus ``expert``. An MoE block runs its router, then each expert touched, then its
    shared expert."""
    rows: list[tuple] = []
    for block in geo.blocks:
        if block.kind is BlockKind.LM_HEAD and not include_lm_head:
            continue
        fused: dict[str, list[Gemm]] = {}
        for g in block.gemms:
            if g.fused is not None:
                fused.setdefault(g.fused, []).append(g)

        def row(g: Gemm, expert: int = -1, count: int = tokens) -> tuple:
            names = [x.name for x in fused.get(g.fused, [g])]
            if expert >= 0:
                names = [expert_layer(x, expert) for x in fused.get(g.fused, [g])]
            name = expert_layer(g, expert) if expert >= 0 else g.name
            return name, g.kind.value, block.layer, count, g.k, g.n, group_name(names), expert

        experts = [g for g in block.gemms if g.experts > 1]
        if not experts:
            rows += [row(g) for g in block.gemms]
            continue
        rows += [row(g) for g in block.gemms if g.kind is GemmKind.ROUTER]
        rows += [row(g, e, m) for e, m in _expert_rows(tokens, experts[0]) for g in experts]
        rows += [row(g) for g in block.gemms if g.experts == 1 and g.kind is not GemmKind.ROUTER]
    frame = pd.DataFrame(rows, columns=list(GEMM_ROW_COLUMNS))
    return frame.astype({"block": "int64", "tokens": "int64", "k": "int64", "n": "int64", "expert": "int64"})


def decoder_shape(model) -> hw_models.DecoderShape:
    """The DecoderShape of a causal LM (anything ``geometry_hf.geometry`` takes: a name, card,
    folder, config.json, GGUF, loaded model or geometry); ModelInputError for a model that
    is not a decoder or whose family has no geometry."""
    return decoder_shape_of(geometry(model))
