"""The workload: one row per linear layer with its GEMM shape, traced from the model.

A linear layer on a sequence of ``tokens`` rows is a GEMM (tokens x k) @ (k x n); the
column is named ``tokens`` here, at its source, as hw_models.price and results.csv name it.
Shapes are traced by running the architecture once on the meta device (no
weights, no arithmetic: about 0.2 s for SmolLM2) with forward hooks on every
``torch.nn.Linear`` (GPT-2's ``Conv1D`` counted as one), so rows come in execution order
and ``tokens`` is what each layer really sees (a CLS-only head would get tokens = 1).
Attention's own QK^T / PV products are not linear layers and are not rows.

``group`` comes from the structure: linear layers whose input is the same tensor (q/k/v
after one norm, gate/up) share one group, whatever the modules are called.
"""

from __future__ import annotations

import math
import re

from .conv1d import linearize_conv1d
from .registry import LoadedModel, ModelKind, model_spec

__all__ = ["WORKLOAD_COLUMNS", "block_index", "group_name", "input_group", "linear_kind", "workload"]

WORKLOAD_COLUMNS = ("layer", "kind", "block", "tokens", "k", "n", "group")

# Module-name suffix -> kind; first match wins, so BERT's attention output
# ("attention.output.dense") precedes its MLP output ("output.dense").
_KIND_SUFFIXES = (
    ("q_proj", "q"),
    ("k_proj", "k"),
    ("v_proj", "v"),
    ("o_proj", "o"),
    ("attention.self.query", "q"),
    ("attention.self.key", "k"),
    ("attention.self.value", "v"),
    ("attention.attention.query", "q"),
    ("attention.attention.key", "k"),
    ("attention.attention.value", "v"),
    ("attention.output.dense", "o"),
    ("gate_proj", "gate"),
    ("up_proj", "up"),
    ("down_proj", "down"),
    ("intermediate.dense", "fc1"),
    ("output.dense", "fc2"),
    ("fc1", "fc1"),
    ("fc2", "fc2"),
    ("lm_head", "lm_head"),
)
_BLOCK = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks)\.(\d+)\.")


# kind -> the fused group of layers that read the same input (one GEMM on deployed kernels).
_FUSED = {"q": "qkv", "k": "qkv", "v": "qkv", "gate": "gate_up", "up": "gate_up"}


def input_group(name: str) -> tuple[str, str]:
    """(parent module, group kind): linear layers with the same key read the same input.

    q/k/v of one attention block share a key ("qkv"), and so do gate/up of one MLP
    ("gate_up"); any other layer is alone, keyed by its own name and kind.
    """
    kind = linear_kind(name)
    fused = _FUSED.get(kind)
    return (name.rpartition(".")[0], fused) if fused is not None else (name, kind)


def linear_kind(name: str) -> str:
    """Kind of a linear layer from its module name.

    One of q, k, v, o (attention), gate, up, down (gated MLP), fc1, fc2
    (plain MLP), lm_head, or "linear" for anything else.
    """
    for suffix, kind in _KIND_SUFFIXES:
        if name == suffix or name.endswith("." + suffix):
            return kind
    return "linear"


def block_index(name: str) -> int:
    """Transformer block index in a module name ("model.layers.3.mlp.up_proj" -> 3), -1 outside blocks."""
    match = _BLOCK.search(name)
    return int(match.group(1)) if match else -1


def workload(model_or_name, tokens: int | None = None, *, include_lm_head: bool = False):
    """GEMM shapes of every linear layer for one input sequence.

    Parameters
    ----------
    model_or_name : str, LoadedModel or transformers PreTrainedModel
        A registry name needs no weights (SmolLM2's config comes from the
        conversion cache or, once, from the GGUF metadata).
    tokens : int or None
        Text models: sequence length, required. ViT: total tokens 1 + g*g
        (CLS + a g x g patch grid), or None for the model's input size
        (224 px -> 257 for DINOv2-small).
    include_lm_head : bool
        The output projection to the vocabulary is left out by default: it is
        usually kept in high precision and is not quantized by STaMP.

    Returns
    -------
    pandas.DataFrame with columns :data:`WORKLOAD_COLUMNS`, one row per call in
    execution order: layer (module name), kind (see :func:`linear_kind`),
    block (transformer block index, -1 outside blocks), tokens (GEMM rows: tokens
    the layer sees), k (in-features), n (out-features); all ints; group (the layers
    reading the same input tensor, see :func:`group_name`).
    """
    if isinstance(model_or_name, str):
        spec = model_spec(model_or_name)
        if spec.shapes is not None:  # a DiT card: its rows are declared, not traced
            return spec.shapes(tokens)
    skeleton, main_input, image_size = _skeleton(model_or_name)
    inputs = _inputs(skeleton, main_input, image_size, tokens)
    return _trace(skeleton, inputs, include_lm_head)


def group_name(names: list[str]) -> str:
    """One group's name: the layer itself, or "<common parent>.<suffixes joined by +>"
    ("model.layers.3.self_attn.q_proj+k_proj+v_proj")."""
    if len(names) == 1:
        return names[0]
    parts = [n.split(".") for n in names]
    common = 0
    while all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    return ".".join(parts[0][:common] + ["+".join(".".join(p[common:]) for p in parts)])


def _inputs(skeleton, main_input: str, image_size: int | None, tokens) -> dict:
    import torch

    if main_input == "pixel_values":
        patch = int(skeleton.config.patch_size)
        if tokens is None:
            if image_size is None:
                raise ValueError("tokens must be given for a ViT passed as a bare model (1 + g*g for a g x g grid)")
            side = image_size
        else:
            grid = math.isqrt(max(int(tokens) - 1, 0))
            if tokens < 2 or grid * grid != tokens - 1:
                raise ValueError(f"tokens={tokens} for a ViT must be 1 + g*g (CLS + a g x g patch grid), e.g. 257")
            side = grid * patch
        inputs = {"pixel_values": torch.zeros(1, skeleton.config.num_channels, side, side, device="meta")}
    else:
        if tokens is None or int(tokens) < 1:
            raise ValueError(f"tokens must be a positive sequence length for a text model, got {tokens!r}")
        inputs = {"input_ids": torch.zeros(1, int(tokens), dtype=torch.long, device="meta")}
    return inputs


def _trace(skeleton, inputs: dict, include_lm_head: bool):
    import pandas as pd
    import torch

    skip = skeleton.get_output_embeddings() if not include_lm_head and hasattr(skeleton, "get_output_embeddings") else None
    rows: list[tuple] = []
    # Every input tensor is kept alive for the trace, so id() names one tensor only.
    seen: list = []
    reader: dict[int, list[str]] = {}

    def hook(name):
        def record(module, args):
            x = args[0]
            seen.append(x)
            members = reader.setdefault(id(x), [])
            if name not in members:
                members.append(name)
            rows.append((name, linear_kind(name), block_index(name), x.numel() // x.shape[-1], module.in_features,
                         module.out_features, id(x)))

        return record

    handles = [
        m.register_forward_pre_hook(hook(n))
        for n, m in skeleton.named_modules()
        if isinstance(m, torch.nn.Linear) and m is not skip
    ]
    try:
        with torch.no_grad():
            skeleton(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    rows = [r[:6] + (group_name(reader[r[6]]),) for r in rows]
    frame = pd.DataFrame(rows, columns=list(WORKLOAD_COLUMNS))
    return frame.astype({"block": "int64", "tokens": "int64", "k": "int64", "n": "int64"})


def _skeleton(model_or_name):
    """(meta-device model, its main input name, ViT image side or None)."""
    import torch

    if isinstance(model_or_name, str):
        spec = model_spec(model_or_name)
        return spec.skeleton(), _main_input(spec.kind), spec.image_size
    if isinstance(model_or_name, LoadedModel):
        record = model_or_name
        return _skeleton_of(record.model), _main_input(record.kind), record.image_size
    if isinstance(model_or_name, torch.nn.Module):
        model = model_or_name
        return _skeleton_of(model), getattr(model, "main_input_name", "input_ids"), None
    raise TypeError(f"model_or_name must be a model name, a LoadedModel or a torch module, got {type(model_or_name).__name__}")


def _skeleton_of(model):
    import torch

    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(f"{type(model).__name__} has no .config; workload() needs a transformers model or a registry name")
    # Rebuilding from the config (rather than tracing the model itself) costs
    # no arithmetic and ignores any wrappers put around its linear layers.
    with torch.device("meta"):
        skeleton = type(model)(config)
    if getattr(model, "pooler", "absent") is None:
        skeleton.pooler = None
    return linearize_conv1d(skeleton)[0]


def _main_input(kind: ModelKind) -> str:
    return "pixel_values" if kind is ModelKind.VIT else "input_ids"
