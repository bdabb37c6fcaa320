"""One (group, candidate) scoring of ``stamp-sim sensitivity``: the unit of work.

A unit names the model, the windows and the (group, candidate) pair; the process that
runs it loads the model and computes the float reference (logits and block outputs on
the stacked calibration + evaluation windows) once and keeps it. The reference is
rebuilt per process rather than scattered: it holds the full-vocabulary logits and every
block's outputs, hundreds of MB for SmolLM2, while one forward pass rebuilds it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import torch

from stamp_sim.config import PrecisionConfig
from stamp_sim.evaluation import prepare_data
from stamp_sim.models import load_model
from stamp_sim.sensitivity import LayerGroup, Reference, reference, score_group

__all__ = ["ScoreUnit", "score_context", "score_row", "score_unit", "stacked_reference"]

_contexts: dict[tuple, tuple] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ScoreUnit:
    """Score `group` alone at `config` on `model`'s windows (chosen by tokens, windows, seed)."""

    model: str
    tokens: int
    windows: int
    calib_windows: int
    seed: int
    group: LayerGroup
    config: PrecisionConfig

    @property
    def label(self) -> str:
        """'group/config'."""
        return f"{self.group.name}/{self.config.name}"


def stacked_reference(model, data) -> Reference:
    """sensitivity.reference over the calibration and evaluation windows of `data`."""
    cat = lambda batches: torch.cat([b["input_ids"] for b in batches])  # noqa: E731
    return reference(model, cat(data.calibration), cat(data.evaluation))


def score_context(unit: ScoreUnit) -> tuple[Any, Reference]:
    """(model, float reference) for the unit's model and windows, built once per process."""
    key = (unit.model, unit.tokens, unit.windows, unit.calib_windows, unit.seed)
    with _lock:
        if key not in _contexts:
            _contexts.clear()  # one model's reference at a time: it is the large part
            loaded = load_model(unit.model)
            data = prepare_data(loaded, unit.tokens, unit.windows, unit.calib_windows, unit.seed)
            _contexts[key] = (loaded.model, stacked_reference(loaded.model, data))
        return _contexts[key]


def score_row(model, ref: Reference, group: LayerGroup, config: PrecisionConfig) -> dict:
    """One sensitivity.csv row: group, kind, block, layers, config, then score_group's fields."""
    return {"group": group.name, "kind": group.kind, "block": group.block, "layers": " ".join(group.layers),
            "config": config.name, **score_group(model, ref, group, config)}


def score_unit(unit: ScoreUnit) -> dict:
    """Score one unit in this process (what an executor sends to a worker)."""
    model, ref = score_context(unit)
    return score_row(model, ref, unit.group, unit.config)
