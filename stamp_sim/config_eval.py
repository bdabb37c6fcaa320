"""One config on one model: quantize, calibrate, measure accuracy, check the integer path, restore.

The single path by which ``stamp-sim run`` and ``stamp-sim sensitivity`` evaluate a
whole-model config, so both report the same accuracy for the same config and windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.evaluation import EvalData, accuracy, run_calibration
from stamp_sim.integer_check import IntegerCheck, integer_check
from stamp_sim.models import ModelKind
from stamp_sim.nn import calibration, layer_stats, quantize_model, restore_model

__all__ = ["ConfigEvaluation", "adapt_config", "evaluate_config"]


@dataclass(frozen=True)
class ConfigEvaluation:
    """accuracy : stamp_sim.metrics results (ppl, kl, top1; or out_sqnr_db, cosine).
    layers : nn.layer_stats' table (one row per quantized layer). check : the integer check."""

    accuracy: dict
    layers: pd.DataFrame
    check: IntegerCheck


def adapt_config(cfg: PrecisionConfig | MixedConfig, kind: ModelKind) -> PrecisionConfig | MixedConfig:
    """On a ViT, a 1D DWT config becomes the 2D DWT over the patch grid (CLS row kept apart)."""
    if isinstance(cfg, MixedConfig):
        return MixedConfig(cfg.name, adapt_config(cfg.default, kind),
                           tuple((n, adapt_config(c, kind)) for n, c in cfg.layers))
    if kind is ModelKind.VIT and cfg.seq_transform == "dwt":
        return cfg.replace(seq_transform="dwt2d")
    return cfg


@torch.no_grad()
def evaluate_config(model, cfg: PrecisionConfig | MixedConfig, data: EvalData, reference: list[torch.Tensor],
                    device: str = "cpu", int_layers: int | None = 0, progress=None) -> ConfigEvaluation:
    """Evaluate `cfg` on `model` (restored to float afterwards, whatever happens).

    reference : evaluation.float_reference(model, data). int_layers : layers the integer
    check runs (None: every supported layer; 0: none). progress : a bar updated per window.
    """
    layers = quantize_model(model, cfg, grid=data.grid)
    try:
        for layer in layers.values():
            layer.record_stats = True
        if any(layer.needs_calibration for layer in layers.values()):
            with calibration(model):
                run_calibration(model, data, device)
        acc = accuracy(model, data, reference, device, progress=progress)
        stats = layer_stats(model)
        for layer in layers.values():
            layer.record_stats = False
        check = integer_check(model, layers, data, device, int_layers)
    finally:
        restore_model(model)
    return ConfigEvaluation(acc, stats, check)
