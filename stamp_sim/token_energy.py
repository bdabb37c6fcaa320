"""Energy per token row of one layer's input, before and after a 3-level Haar DWT.

The picture behind STaMP: a sequence transform moves a layer's activation energy into
its first rows, which then get the high bits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from stamp_sim.evaluation import EvalData, model_outputs
from stamp_sim.models import LoadedModel
from stamp_sim.quant import row_energy
from stamp_sim.transforms import sequence_transform

__all__ = ["HIGH_ROWS", "token_energy"]

#: Rows shaded as high precision in the figure (the presets' first 64).
HIGH_ROWS = 64


def _middle_layer(layer_names: list[str]) -> str:
    target = [n for n in layer_names if n.endswith(("q_proj", "query", "qkv"))] or layer_names
    return target[len(target) // 2]


def token_energy(loaded: LoadedModel, data: EvalData, layer_names: list[str], device: str) -> pd.DataFrame:
    """Rows model, layer, row, energy_before, energy_after (sum of squares per row), k.

    The layer is the middle query projection (or the middle layer); its input on the
    first evaluation window is transformed by a 3-level Haar DWT (the 2D DWT over the
    patch grid for a ViT, its CLS row kept apart). Empty when there are no layers.
    """
    if not layer_names:
        return pd.DataFrame()
    name = _middle_layer(layer_names)
    module = loaded.model.get_submodule(name)
    captured = {}
    handle = module.register_forward_pre_hook(lambda m, a: captured.setdefault("x", a[0].detach()))
    try:
        model_outputs(loaded.model, data.evaluation[0], data.kind, device)
    finally:
        handle.remove()
    x = captured["x"].double().cpu()
    if data.grid is not None:
        L = sequence_transform("dwt2d", grid=data.grid, levels=3)
        after = torch.cat([x[..., :1, :], L.forward(x[..., 1:, :])], dim=-2)
    else:
        after = sequence_transform("dwt", levels=3).forward(x)
    e0 = row_energy(x).sum(0).numpy()
    e1 = row_energy(after).sum(0).numpy()
    rows = max(len(e0), len(e1))
    return pd.DataFrame({
        "model": loaded.name, "layer": name, "row": np.arange(rows),
        "energy_before": np.pad(e0, (0, rows - len(e0)), constant_values=np.nan),
        "energy_after": np.pad(e1, (0, rows - len(e1)), constant_values=np.nan), "k": HIGH_ROWS,
    })
