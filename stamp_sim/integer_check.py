"""The agreement check: the integer path with an exact accumulator against the fake-quant path.

Each checked layer's input on the first evaluation window is captured, then run through
kernels.int_matmul with an exact accumulator; its largest error against the fake-quant
path, relative to that path's largest output, is reported (float rounding only, about
1e-7: see stamp_sim.nn.integer). The layer's own statistics are left untouched. The
accumulator's effect on accuracy and the overflow counts come from the evaluation itself
(config_eval), not from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from stamp_sim.evaluation import EvalData, model_outputs
from stamp_sim.nn import LayerStats
from stamp_sim.nn.integer import EXACT, integer_forward, supports_integer

__all__ = ["IntegerCheck", "checked_layers", "integer_check", "sample_layers"]


@dataclass(frozen=True)
class IntegerCheck:
    """int_max_rel_err : largest |exact integer - fake-quant| / max |fake-quant| over the
    checked layers (NaN: none checked); layers : how many were checked."""

    int_max_rel_err: float = math.nan
    layers: int = 0

    def fields(self) -> dict:
        """int_max_rel_err, int_layers (results.csv)."""
        return {"int_max_rel_err": self.int_max_rel_err, "int_layers": self.layers}


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


def checked_layers(layers: dict, count: int | None) -> list[str]:
    """The layers integer_check checks: up to `count` (None: all) integer-capable ones, evenly spaced."""
    return sample_layers([n for n, m in layers.items() if supports_integer(m.config)], count)


@torch.no_grad()
def integer_check(model, layers: dict, data: EvalData, device: str, count: int | None,
                  progress=None) -> IntegerCheck:
    """Check up to `count` (None: all) integer-capable layers of `layers` ({name: StampLinear})
    on the first evaluation window's inputs. progress : a bar updated once per layer checked."""
    names = checked_layers(layers, count)
    if not names:
        return IntegerCheck()
    inputs = _capture_inputs(model, layers, names, data, device)
    worst = 0.0
    for name in names:
        layer, x = layers[name], inputs[name].double()
        if x.dim() == 2:  # OPT flattens (batch, tokens) before its MLP; the layers' forward does the same
            x = x.unsqueeze(0)
        fake = layer.fake_forward(x)
        exact = integer_forward(layer, x, accumulator=EXACT, stats=LayerStats())
        scale = float(fake.abs().max()) or 1.0
        worst = max(worst, float((exact - fake).abs().max()) / scale)
        if progress is not None:
            progress.update(1)
    return IntegerCheck(worst, len(names))
