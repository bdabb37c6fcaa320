"""The integer check of a quantized model: overflow counts and integer-vs-fake-quant agreement.

Each checked layer's input on the first evaluation window is captured, then run
through kernels.int_matmul twice: with the config's accumulator (the overflow counts)
and with an exact one (its largest error against the fake-quant path, relative to
that path's largest output). The layer's own statistics are left untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from stamp_sim.evaluation import EvalData, model_outputs
from stamp_sim.nn import LayerStats
from stamp_sim.nn.integer import EXACT, integer_forward, supports_integer

__all__ = ["IntegerCheck", "integer_check", "sample_layers"]


@dataclass(frozen=True)
class IntegerCheck:
    """What the check found: the results.csv fields and per-layer overflow counts.

    overflow_rate : share (0..1) of checked outputs that overflowed at least once (NaN: none checked).
    int_max_rel_err : largest |exact integer - fake-quant| / max |fake-quant| over the layers.
    layers : {layer: LayerStats} of the checked layers (overflows, overflowed_outputs, outputs).
    """

    overflow_rate: float = math.nan
    int_max_rel_err: float = math.nan
    layers: dict = field(default_factory=dict)

    def fields(self) -> dict:
        """overflow_rate, int_max_rel_err, int_layers (results.csv)."""
        return {"overflow_rate": self.overflow_rate, "int_max_rel_err": self.int_max_rel_err,
                "int_layers": len(self.layers)}

    def layer_columns(self, names) -> pd.DataFrame:
        """overflows, overflow_rate, outputs for each of `names` (NaN where not checked)."""
        stats = [self.layers.get(n) for n in names]
        return pd.DataFrame({
            "overflows": [s.overflows if s else np.nan for s in stats],
            "overflow_rate": [s.overflowed_outputs / s.outputs if s and s.outputs else np.nan for s in stats],
            "outputs": [s.outputs if s else np.nan for s in stats],
        })


def sample_layers(names: list[str], count: int | None) -> list[str]:
    """`count` evenly spaced names (all of them when count is None)."""
    if count is None:
        return list(names)
    if count <= 0 or not names:
        return []
    idx = np.unique(np.linspace(0, len(names) - 1, min(count, len(names))).round().astype(int))
    return [names[i] for i in idx]


def _capture_inputs(model, layers: dict, names: list[str], data: EvalData, device: str) -> dict:
    captured: dict[str, torch.Tensor] = {}
    hooks = [layers[n].register_forward_pre_hook(lambda m, a, n=n: captured.setdefault(n, a[0].detach()))
             for n in names]
    try:
        model_outputs(model, data.evaluation[0], data.kind, device)
    finally:
        for h in hooks:
            h.remove()
    return {n: captured[n].cpu() for n in names}


@torch.no_grad()
def integer_check(model, layers: dict, data: EvalData, device: str, count: int | None) -> IntegerCheck:
    """Run up to `count` (None: all) integer-capable layers of `layers` ({name: StampLinear})
    through the integer kernels on the first evaluation window's inputs."""
    names = sample_layers([n for n, m in layers.items() if supports_integer(m.config)], count)
    if not names:
        return IntegerCheck()
    inputs = _capture_inputs(model, layers, names, data, device)
    per_layer, worst = {}, 0.0
    for name in names:
        layer, x = layers[name], inputs[name]
        per_layer[name] = LayerStats()
        integer_forward(layer, x, stats=per_layer[name])
        fake = layer.fake_forward(x.double())
        exact = integer_forward(layer, x.double(), accumulator=EXACT, stats=LayerStats())
        scale = float(fake.abs().max()) or 1.0
        worst = max(worst, float((exact - fake).abs().max()) / scale)
    outputs = sum(s.outputs for s in per_layer.values())
    overflowed = sum(s.overflowed_outputs for s in per_layer.values())
    return IntegerCheck(overflowed / outputs if outputs else math.nan, worst, per_layer)
