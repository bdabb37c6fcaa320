"""One config on one model: quantize, calibrate, measure accuracy, check the integer path, restore.

The single path by which ``stamp-sim run`` and ``stamp-sim sensitivity`` evaluate a
whole-model config, so both report the same accuracy for the same config and windows.

Which path each layer runs: every layer whose accumulator can overflow for some input in
range (``nn.integer.can_overflow``: max|x| times the L1 norm of its integer weights over a
K-tile, against the register) runs through the bit-exact integer kernels, so perplexity,
KL and top-1 carry wraparound and saturation, and the overflow counts come from the same
passes over every evaluation window. A layer whose accumulator provably holds every
partial sum runs the fake-quant path: it computes the same numbers up to float rounding
(tests/nn/test_integer_accuracy.py) and is much faster.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import pandas as pd
import torch

from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.evaluation import EvalData, accuracy, model_outputs, run_calibration
from stamp_sim.integer_check import IntegerCheck, checked_layers, integer_check
from stamp_sim.models import ModelKind
from stamp_sim.nn import calibration, layer_stats, quantize_model, restore_model
from stamp_sim.nn.integer import can_overflow, integer_refusal
from stamp_sim.nn.kv_cache import kv_stats, reset_kv_stats
from stamp_sim.nn.weight_calibration import calibrate_weights, calibration_steps, weights_key, weights_path
from stamp_sim.progress import QUIET, Stages
from stamp_sim.stage_profile import part_name

__all__ = ["ConfigEvaluation", "adapt_config", "choose_paths", "evaluate_config"]


@dataclass(frozen=True)
class ConfigEvaluation:
    """accuracy : stamp_sim.metrics results (ppl, kl, top1; or out_sqnr_db, cosine).
    layers : nn.layer_stats' table (one row per quantized layer). check : the agreement check.
    kv : avg_kv_bits and kv_sqnr_db measured by the K / V cache quantizers ({} for a float cache)."""

    accuracy: dict
    layers: pd.DataFrame
    check: IntegerCheck
    weights_key: str = ""  # the calibrated weights' cache key ("" when every layer rounds to nearest)
    kv: dict = dataclasses.field(default_factory=dict)

    @property
    def overflow_fields(self) -> dict:
        """overflow_rate (share of integer GEMM outputs over every evaluation window that
        overflowed at least once; NaN without integer GEMMs) and int_path_layers."""
        outputs = int(self.layers["outputs"].sum()) if len(self.layers) else 0
        overflowed = int(self.layers["overflowed_outputs"].sum()) if len(self.layers) else 0
        return {"overflow_rate": overflowed / outputs if outputs else math.nan,
                "int_path_layers": int(self.layers["int_path"].sum()) if len(self.layers) else 0}


def adapt_config(cfg: PrecisionConfig | MixedConfig, kind: ModelKind) -> PrecisionConfig | MixedConfig:
    """On a ViT or a DiT, a 1D DWT config becomes the 2D DWT over the token grid (a ViT's CLS row kept apart)."""
    if isinstance(cfg, MixedConfig):
        return MixedConfig(cfg.name, adapt_config(cfg.default, kind),
                           tuple((n, adapt_config(c, kind)) for n, c in cfg.layers))
    if kind in (ModelKind.VIT, ModelKind.DIT) and cfg.seq_transform == "dwt":
        return cfg.replace(seq_transform="dwt2d")
    return cfg


def choose_paths(layers: dict) -> int:
    """Put every layer whose accumulator can overflow on the integer path (mode "int"), the
    others on the fake-quant path; returns how many run integer. ValueError when a layer
    can overflow but its config has no integer path (the effect could not be simulated)."""
    count = 0
    for name, layer in layers.items():
        layer.mode = "int" if can_overflow(layer) else "fake"
        if layer.mode == "int":
            reason = integer_refusal(layer.config)
            if reason is not None:
                raise ValueError(f"config {layer.config.name!r}: layer {name}'s accumulator "
                                 f"({layer.config.accumulator.describe()}) can overflow, but {reason}; allowed: "
                                 "an exact or wide enough accumulator, or a config the integer path runs")
            count += 1
    return count


@torch.no_grad()
def evaluate_config(model, cfg: PrecisionConfig | MixedConfig, data: EvalData, reference: list[torch.Tensor],
                    device: str = "cpu", int_layers: int | None = 0, progress=None,
                    stages: Stages = QUIET, label: str = "") -> ConfigEvaluation:
    """Evaluate `cfg` on `model` (restored to float afterwards, whatever happens).

    reference : evaluation.float_reference(model, data). int_layers : layers the integer
    check runs (None: every supported layer; 0: none). progress : a bar updated per window.
    stages : where each step (calibration, evaluation, integer check) reports, each line
    prefixed by `label` (e.g. "config 3 of 9 w4a4"); silent by default.
    """
    prefix = f"{label}: " if label else ""
    layers = quantize_model(model, cfg, grid=data.grid)
    try:
        for layer in layers.values():
            layer.record_stats = True
        if any(layer.needs_calibration for layer in layers.values()):
            with stages.stage(f"{prefix}calibrating activations (KLT / SmoothQuant)"), calibration(model):
                run_calibration(model, data, device)
        steps = calibration_steps(layers)
        batches = data.calibration or data.evaluation[:1]
        key = weights_key(model, layers, batches) if steps else ""
        cached = bool(key) and weights_path(key).is_file()
        spent: dict = {}
        stage = (stages.stage(f"{prefix}calibrating weights (from the cache)") if cached else
                 stages.stage(f"{prefix}calibrating weights", total=steps, unit="layer group") if steps else _nothing())
        with stage as bar:
            weights = calibrate_weights(model, layers, batches,
                                        lambda batch: model_outputs(model, batch, data.kind, device),
                                        progress=None if cached else bar, timings=spent, key=key or None)
        if spent:  # the parts of calibration, for --profile-stages (forwards and solve 0 on a cache hit)
            for part in ("forwards", "solve", "cache"):
                stages.add(part_name(f"{prefix}calibrating weights", part), spent[part])
        int_path = choose_paths(layers)
        reset_kv_stats(model)  # calibration passes do not count
        what = f", {int_path} layers on the integer kernels" if int_path else ""
        with stages.stage(f"{prefix}evaluating{what}", total=len(data.evaluation), unit="window") as bar:
            acc = accuracy(model, data, reference, device, progress=_Both(bar, progress))
        stats = layer_stats(model)
        kv = _kv_summary(kv_stats(model))
        for layer in layers.values():
            layer.record_stats = False
        checked = len(checked_layers(layers, int_layers)) if int_layers != 0 else 0
        with stages.stage(f"{prefix}integer check", total=checked, unit="layer") if checked else _nothing() as bar:
            check = integer_check(model, layers, data, device, int_layers, progress=bar)
    finally:
        restore_model(model)
    return ConfigEvaluation(acc, stats, check, weights, kv)


class _Both:
    """Updates two progress bars (the stage's and a caller's), either of which may be None."""

    def __init__(self, *bars) -> None:
        self.bars = [b for b in bars if b is not None]

    def update(self, n: int = 1) -> None:
        for bar in self.bars:
            bar.update(n)


def _nothing():
    return QUIET.stage("")


def _kv_summary(stats: dict) -> dict:
    if not stats:
        return {}
    rows = sum(s.rows for s in stats.values())
    sqnr = [s.sqnr_db for s in stats.values() if s.rows and math.isfinite(s.sqnr_db)]
    return {"avg_kv_bits": sum(s.bits_sum for s in stats.values()) / rows if rows else math.nan,
            "kv_sqnr_db": sum(sqnr) / len(sqnr) if sqnr else math.nan}
