"""`identity`: no sequence transform (the plain per-token quantization baseline)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._base import SequenceTransform
from ._registry import SEQUENCE_TRANSFORMS

__all__ = ["Identity"]


@SEQUENCE_TRANSFORMS.register("identity")
@dataclass(frozen=True)
class Identity(SequenceTransform):
    """L = I. No padding. `approx_rows(tokens) == tokens`: with no frequency split the
    whole sequence is a single band (so "give the approximation band more bits" means
    every row, and a first-k rule must pick k itself)."""

    def padded_length(self, tokens: int) -> int:
        return tokens

    def approx_rows(self, tokens: int) -> int:
        return tokens

    def _forward_padded(self, t: torch.Tensor) -> torch.Tensor:
        # A copy, so that writing into the output never changes the caller's input.
        return t.clone()

    def _inverse_padded(self, t: torch.Tensor) -> torch.Tensor:
        return t.clone()
