"""What a run can know is wrong before its first forward pass, checked before any file is written.

``sequence_problems`` (token count against the model's positions, and a memory estimate)
runs before the evaluation data is built; ``config_problems`` (each config's layers on
the model's shapes, ``mixed:`` layer names) once the data and the workload are known.
Each returns one line per problem; the run raises them together as a ConfigError.
"""

from __future__ import annotations

import os

import pandas as pd
import torch

from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.models import LoadedModel, ModelKind

__all__ = ["available_memory_bytes", "calibration_note", "config_problems", "memory_estimate_bytes", "sequence_problems"]

_GIB = 1 << 30
# Share of the available memory a run may be estimated to need before it is refused: the
# estimate counts the big tensors only (float references, one forward's activations).
_MEMORY_SHARE = 0.8


def available_memory_bytes() -> int | None:
    """Memory available to a new allocation, bytes (Linux MemAvailable, else physical); None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def memory_estimate_bytes(loaded: LoadedModel, tokens: int, windows: int) -> int:
    """Lower estimate of a run's peak memory in bytes: the model, the float references of
    every evaluation window and one forward pass (activations and eager attention scores)."""
    cfg = loaded.model.config
    hidden = int(getattr(cfg, "hidden_size", 0) or 0)
    wide = int(getattr(cfg, "intermediate_size", 0) or 4 * hidden)
    heads = int(getattr(cfg, "num_attention_heads", 0) or 1)
    out = int(getattr(cfg, "vocab_size", 0) or hidden) if loaded.kind is ModelKind.CAUSAL_LM else hidden
    params = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    references = windows * tokens * out * 4
    forward = 4 * tokens * (out + 2 * wide + 4 * hidden) + 2 * heads * tokens * tokens * 4
    return params + references + forward


def sequence_problems(model: str, loaded: LoadedModel, tokens: int, windows: int) -> list[str]:
    """--tokens (per window) against the model's positions, and with --windows against this
    machine's memory."""
    if loaded.kind is ModelKind.VIT:  # a ViT sees its own input size; --tokens does not apply
        return []
    problems = []
    positions = getattr(loaded.model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and tokens > positions:
        problems.append(f"--tokens {tokens} is more than {model} has positions; allowed: 2..{positions}")
        return problems
    need, have = memory_estimate_bytes(loaded, tokens, windows), available_memory_bytes()
    if have is not None and need > _MEMORY_SHARE * have:
        problems.append(f"--tokens {tokens} with --windows {windows} needs about {need / _GIB:.1f} GiB on "
                        f"{model}, more than {_MEMORY_SHARE:.0%} of the {have / _GIB:.1f} GiB available; allowed: "
                        "fewer tokens or windows")
    return problems


def _layer_shapes(work: pd.DataFrame) -> dict[str, int]:
    """Linear layer name -> in-features (K), in execution order."""
    return {str(name): int(k) for name, k in zip(work["layer"], work["k"])}


# Fields a fake-quant forward pass cannot fail on: configs differing only in them share a dry run.
_NO_SHAPE_RULES = ("name", "description", "baseline", "weight_method", "gptq_damp", "gptq_act_order",
                   "gptq_sink_weight", "hadamard_seed", "w_clip", "a_clip", "smoothquant_alpha")


def _shape_key(cfg: PrecisionConfig) -> str:
    fields = {k: v for k, v in cfg.to_dict().items() if k not in _NO_SHAPE_RULES}
    if cfg.weight_l1 == "none":  # the fake path reads the accumulator only for the L1 bound
        fields.pop("accumulator")
    return repr(sorted(fields.items()))


def _dry_run(cfg: PrecisionConfig, k: int, rows: int, grid) -> str | None:
    """Run one layer of `cfg` with K inputs on `rows` rows; the ValueError's text, or None."""
    from stamp_sim.nn import StampLinear

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, rows, k, generator=gen)
    if cfg.weight_method != "rtn":
        # GPTQ / GPFQ weights come from calibration data the run gathers later; round to nearest
        # has the same shape rules (groups along K), which is all a dry run can check.
        cfg = cfg.replace(weight_method="rtn")
    try:
        layer = StampLinear(torch.nn.Linear(k, 1, bias=False), cfg, name="layer", grid=grid)
        with torch.no_grad():
            if layer.needs_calibration:
                layer.calibrating = True
                layer(x)
                layer.finish_calibration()
            layer(x)
    except ValueError as exc:
        return " ".join(str(exc).split())[:200]
    return None


def config_problems(configs, loaded: LoadedModel, work: pd.DataFrame, rows: int, grid) -> list[str]:
    """Each config (already adapted to the model kind) on the model's layer shapes: group
    sizes against K, sequence transforms against `rows` token rows, mixed layer names."""
    shapes = _layer_shapes(work)
    problems, seen = [], {}
    for cfg in configs:
        if isinstance(cfg, MixedConfig):
            unknown = [n for n, _ in cfg.layers if n not in shapes]
            if unknown:
                example = ", ".join(list(shapes)[:2])
                problems.append(f"config {cfg.name!r}: layers {unknown[:5]}{' ...' if len(unknown) > 5 else ''} "
                                f"are not linear layers of the model; allowed: its layer names, e.g. {example}")
        for name, k in shapes.items():
            one = cfg.config_for(name) if isinstance(cfg, MixedConfig) else cfg
            key = (_shape_key(one), k)
            if key not in seen:
                seen[key] = _dry_run(one, k, rows, grid)
                if seen[key] is not None:
                    problems.append(f"config {cfg.name!r} on {name} (K={k}, {rows} token rows): {seen[key]}")
    problems += _kv_problems(configs, loaded)
    return problems


def _kv_problems(configs, loaded: LoadedModel) -> list[str]:
    """kv_bits needs attention that runs through transformers' attention interface."""
    from stamp_sim.nn.kv_cache import attention_modules

    asking = [c.name for c in configs
              if any(one.kv_bits is not None for one in (c.configs() if isinstance(c, MixedConfig) else [c]))]
    if not asking or attention_modules(loaded.model):
        return []
    return [f"config {name!r} sets kv_bits, but {type(loaded.model).__name__} has no attention module transformers' "
            "attention interface runs (Llama, Mistral, Qwen2/3, Gemma, Phi-3 style); allowed: kv_bits None on this "
            "model" for name in asking]


def calibration_note(configs, work: pd.DataFrame, calib_tokens: int) -> str:
    """One line when a config calibrates weights (GPTQ, GPFQ, AXE) on fewer tokens than the
    widest layer it calibrates has in-features, else "".

    Why: a layer's Hessian sum x^T x over T tokens has rank at most T, so with T < in_features
    the damping term decides the solve in the missing directions and GPTQ can end worse than
    round to nearest (SmolLM2-135M per-channel W4: see benchmarks/gptq_defaults.py).
    """
    widest = int(work["k"].max()) if len(work) else 0
    names = [c.name for c in configs for p in (c.configs() if isinstance(c, MixedConfig) else [c])
             if p.w_bits is not None and p.weight_method != "rtn"]
    if not names or calib_tokens >= widest:
        return ""
    names = list(dict.fromkeys(names))
    return (f"note: {', '.join(names[:3])}{' and others' if len(names) > 3 else ''} calibrate weights on "
            f"{calib_tokens} tokens, fewer than the widest layer's {widest} in-features (its Hessian is rank "
            f"deficient, so GPTQ may do worse than round to nearest); give --calib-windows x --tokens >= {widest}")
