"""quantize_model: swap a model's torch.nn.Linear modules for StampLinear, and back."""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Iterable, Iterator

import pandas as pd
from torch import nn

from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.nn.kv_cache import install_kv_quantization, remove_kv_quantization
from stamp_sim.nn.linear import StampLinear

__all__ = ["calibration", "layer_stats", "quantize_model", "restore_model", "stamp_layers"]

DEFAULT_EXCLUDE = ("lm_head", "*.lm_head")


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _set_child(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def quantize_model(
    model: nn.Module,
    config: PrecisionConfig | MixedConfig,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] = DEFAULT_EXCLUDE,
    grid: tuple[int, int] | None = None,
) -> dict[str, StampLinear]:
    """Replace matching ``nn.Linear`` modules of `model` (in place) with StampLinear.

    include / exclude : fnmatch patterns over module names (e.g. "*.mlp.*"); include=None
        means every linear layer; ``lm_head`` (and the model's ``get_output_embeddings()``)
        is excluded unless ``exclude`` is empty.
    config : one PrecisionConfig for every layer, or a MixedConfig (per-layer configs).
    grid : (h, w) token grid for ``dwt2d``.
    The original Linear modules (and their weights) are kept unmodified inside the wrappers;
    ``restore_model`` puts them back. Returns {name: StampLinear}. A config with kv_bits
    also quantizes the K / V cache of the model's attention (stamp_sim.nn.kv_cache).
    """
    restore_model(model)
    include = list(include) if include is not None else None
    exclude = list(exclude)
    # The output projection, whatever a family calls it (GPT-NeoX: embed_out), stays float like
    # lm_head; the workload leaves out the same module, so priced and quantized layers agree.
    head = model.get_output_embeddings() if exclude and hasattr(model, "get_output_embeddings") else None
    chosen = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
        and (include is None or _matches(name, include))
        and not _matches(name, exclude)
        and module is not head
    ]
    if include is not None and not chosen:
        raise ValueError(f"include={include!r} matches no torch.nn.Linear module of the model")
    wrapped = {}
    for name in chosen:
        cfg = config.config_for(name) if isinstance(config, MixedConfig) else config
        layer = StampLinear(model.get_submodule(name), cfg, name=name, grid=grid)
        _set_child(model, name, layer)
        wrapped[name] = layer
    _quantize_head(model, config, head, wrapped)
    install_kv_quantization(model, config)
    return wrapped


def _quantize_head(model: nn.Module, config: PrecisionConfig | MixedConfig, head, wrapped: dict) -> None:
    """The output projection at the config's lm_head_bits: weight-only, per channel, round to
    nearest (a tied embedding keeps its float table: StampLinear never modifies weights)."""
    cfg = config.default if isinstance(config, MixedConfig) else config
    if cfg.lm_head_bits is None or not isinstance(head, nn.Linear):
        return
    name = next(n for n, m in model.named_modules() if m is head)
    head_cfg = PrecisionConfig(name=f"{cfg.name}:lm_head", description="output projection", w_bits=cfg.lm_head_bits)
    layer = StampLinear(head, head_cfg, name=name)
    _set_child(model, name, layer)
    wrapped[name] = layer


def restore_model(model: nn.Module) -> None:
    """Undo quantize_model: put every wrapped ``nn.Linear`` back in place, float K / V cache."""
    remove_kv_quantization(model)
    for name, module in list(model.named_modules()):
        if isinstance(module, StampLinear):
            _set_child(model, name, module.linear)


def stamp_layers(model: nn.Module) -> dict[str, StampLinear]:
    """{name: StampLinear} currently in the model."""
    return {n: m for n, m in model.named_modules() if isinstance(m, StampLinear)}


@contextlib.contextmanager
def calibration(model: nn.Module) -> Iterator[None]:
    """Within this block forward passes run in float and gather calibration statistics
    (SmoothQuant channel ranges, KLT token autocorrelation); on exit the transforms are fit."""
    layers = [m for m in stamp_layers(model).values() if m.needs_calibration]
    for m in layers:
        m.calibrating = True
    try:
        yield
    finally:
        for m in layers:
            m.calibrating = False
    for m in layers:
        m.finish_calibration()


def layer_stats(model: nn.Module) -> pd.DataFrame:
    """One row per StampLinear: activation SQNR (dB), energy concentration, avg bits, overflows."""
    rows = []
    for name, m in stamp_layers(model).items():
        s = m.stats
        rows.append(
            {
                "layer": name,
                "in_features": m.linear.in_features,
                "out_features": m.linear.out_features,
                "calls": s.calls,
                "act_sqnr_db": s.sqnr_db if s.calls else float("nan"),
                "energy_concentration": s.energy_concentration if s.calls else float("nan"),
                "avg_a_bits": s.avg_bits if s.calls else float("nan"),
                "int_path": m.mode == "int",
                "overflows": s.overflows,
                "overflowed_outputs": s.overflowed_outputs,
                "overflow_rate": s.overflow_rate if s.outputs else float("nan"),
                "outputs": s.outputs,
            }
        )
    return pd.DataFrame(rows)
