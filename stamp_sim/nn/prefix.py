"""A sequence transform that leaves the first rows (e.g. a ViT's CLS token) untransformed."""

from __future__ import annotations

import torch

__all__ = ["PrefixedTransform"]


class PrefixedTransform:
    """Rows [0, prefix) pass through; the rest go through `inner` (e.g. dwt2d over the patch grid).

    The prefix rows come first in the output, so first-k allocation keeps them at high bits,
    as it does the approximation band that follows them. Orthonormal when `inner` is.
    """

    def __init__(self, inner, prefix: int = 1) -> None:
        self.inner = inner
        self.prefix = prefix

    def padded_length(self, tokens: int) -> int:
        return self.prefix + self.inner.padded_length(tokens - self.prefix)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.prefix
        return torch.cat([x[..., :p, :], self.inner.forward(x[..., p:, :])], dim=-2)

    def inverse(self, y: torch.Tensor, tokens: int | None = None) -> torch.Tensor:
        p = self.prefix
        rest = None if tokens is None else tokens - p
        return torch.cat([y[..., :p, :], self.inner.inverse(y[..., p:, :], tokens=rest)], dim=-2)
