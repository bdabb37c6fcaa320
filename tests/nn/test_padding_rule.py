"""One padding rule: the rows a StampLinear hands its quantizer are the rows the cost model prices.

For every registered sequence transform and every token count 1..300, the activation that
StampLinear.transform_input produces (what the fake and the integer paths quantize) has
exactly hw_models.padded_rows(...) rows, and its transform's padded_length agrees.

The dwt cases call hw_models.padded_rows with its filter_length argument (the level cap of
hw_models.effective_levels); they pass once the hw_models renovation is merged.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from stamp_sim import hw_models
from stamp_sim.hw_models.transform_ops import SEQ_CODES
from stamp_sim.config import get_preset
from stamp_sim.nn import StampLinear
from stamp_sim.transforms import sequence_transform_names

TOKENS = range(1, 301)
FEATURES = 4
# (case id, seq_transform, wavelet, filter_length or None for no wavelet)
CASES = [
    ("dwt-haar", "dwt", "haar", 2),
    ("dwt-db2", "dwt", "db2", 4),
    ("dwt2d", "dwt2d", "haar", None),
    ("dct", "dct", "haar", None),
    ("wht", "wht", "haar", None),
    ("identity", "identity", "haar", None),
    ("klt", "klt", "haar", None),
]


def test_every_registered_sequence_transform_has_a_case():
    assert {seq for _, seq, _, _ in CASES} == set(sequence_transform_names())


def _layer(seq_transform: str, wavelet: str = "haar", levels: int = 3, grid=None, sink: int = 0) -> StampLinear:
    cfg = get_preset("w4a4-stamp").replace(name=f"rows-{seq_transform}", seq_transform=seq_transform,
                                           wavelet=wavelet, seq_levels=levels, w_bits=None, sink_tokens=sink)
    return StampLinear(nn.Linear(FEATURES, 3, bias=False), cfg, grid=grid)


def _quantizer_rows(layer: StampLinear, tokens: int) -> int:
    x = torch.randn(1, tokens, FEATURES, generator=torch.Generator().manual_seed(tokens))
    z, seq = layer.transform_input(x)
    if seq is not None:
        assert seq.padded_length(tokens) == z.shape[-2]
    return int(z.shape[-2])


def _priced_rows(seq_transform: str, tokens, levels: int, filter_length: int | None, sink: int = 0) -> np.ndarray:
    code = SEQ_CODES[hw_models.SeqTransform(seq_transform)]
    extra = {} if filter_length is None else {"filter_length": filter_length}
    return hw_models.padded_rows(np.asarray(tokens), code, levels, prefix=sink, **extra)


def _calibrated_klt(tokens: int) -> StampLinear:
    layer = _layer("klt")
    layer.calibrating = True
    layer(torch.randn(2, tokens, FEATURES, generator=torch.Generator().manual_seed(0)))
    layer.finish_calibration()
    return layer


@pytest.mark.parametrize("sink", [0, 1, 3], ids=["no-sink", "sink1", "sink3"])
@pytest.mark.parametrize("case, seq_transform, wavelet, filter_length", CASES, ids=[c[0] for c in CASES])
def test_quantizer_rows_equal_the_priced_rows(case, seq_transform, wavelet, filter_length, sink):
    levels = 3
    if seq_transform == "dwt2d":
        # Square h x h grids and h x h + 1 (a ViT's CLS row ahead of its patch grid), at levels
        # the grid admits (DWT2D refuses deeper ones).
        tokens, rows, levels_of = [], [], []
        for side in range(2, 18):
            lv = min(levels, int(hw_models.effective_levels(side, levels)))
            layer = _layer("dwt2d", wavelet, lv, grid=(side, side), sink=sink)
            for t in (side * side, side * side + 1):
                tokens.append(t)
                rows.append(_quantizer_rows(layer, t))
                levels_of.append(lv)
        priced = _priced_rows("dwt2d", tokens, np.asarray(levels_of), filter_length, sink)
        assert rows == priced.tolist()
        return
    if seq_transform == "klt":
        rows = [_quantizer_rows(_calibrated_klt(t), t) for t in TOKENS]
    else:
        layer = _layer(seq_transform, wavelet, levels, sink=sink)
        rows = [_quantizer_rows(layer, t) for t in TOKENS]
    priced = _priced_rows(seq_transform, list(TOKENS), levels, filter_length, sink)
    mismatched = [(t, r, int(p)) for t, r, p in zip(TOKENS, rows, priced) if r != p]
    assert not mismatched, f"(tokens, layer rows, priced rows): {mismatched[:10]}"
