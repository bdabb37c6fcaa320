"""Fake-quant and integer STaMP linear layers, and model-level wrapping."""

from stamp_sim.config import PRESETS, PrecisionConfig, get_preset, load_configs
from stamp_sim.nn.linear import LayerStats, StampLinear
from stamp_sim.nn.model import calibration, layer_stats, quantize_model, restore_model, stamp_layers
from stamp_sim.nn.weight_calibration import calibrate_weights

__all__ = [
    "PRESETS",
    "LayerStats",
    "PrecisionConfig",
    "StampLinear",
    "calibrate_weights",
    "calibration",
    "get_preset",
    "layer_stats",
    "load_configs",
    "quantize_model",
    "restore_model",
    "stamp_layers",
]
