"""The shared wrapper of every sequence transform: check and convert once, then call the core.

A sequence transform is an orthonormal matrix L (n x n, n = padded_length(tokens))
applied along the token axis (-2) of an activation X of shape (..., tokens, features):
forward(X) = L @ pad(X), inverse(Y) = crop(L^T @ Y). Subclasses supply the padded
length, the padding layout and the core on padded working tensors.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from ._array import Array, from_work, pad_axis, to_work
from ._checks import check_finite, check_int

__all__ = ["SequenceTransform"]


class SequenceTransform:
    """Base of the registered sequence transforms (one level of inheritance, no settings).

    Public methods
    --------------
    forward(x) : (..., tokens, features) -> (..., padded_length(tokens), features)
    inverse(y, tokens=None) : the exact inverse; crops back to `tokens` rows
        (None: keep every row, or the grid size for `dwt2d`).
    padded_length(tokens) : rows after transforming; the cost model counts these.
    approx_rows(tokens) : rows in the lowest-frequency band at the top of the output.
    matrix(tokens) : L as a float64 numpy array (padded x padded).
    pad(x) : x zero-padded to the layout L acts on.
    """

    name: ClassVar[str]

    # -- what subclasses provide -------------------------------------------------
    def padded_length(self, tokens: int) -> int:
        raise NotImplementedError

    def approx_rows(self, tokens: int) -> int:
        raise NotImplementedError

    def _forward_padded(self, t: torch.Tensor) -> torch.Tensor:
        """L @ t for a working tensor whose token axis already has padded length."""
        raise NotImplementedError

    def _inverse_padded(self, t: torch.Tensor) -> torch.Tensor:
        """L^T @ t, same shapes."""
        raise NotImplementedError

    def _pad(self, t: torch.Tensor, tokens: int) -> torch.Tensor:
        """Zero rows appended at the end of the token axis (dwt2d pads its grid instead)."""
        return pad_axis(t, -2, self.padded_length(tokens))

    def _crop(self, t: torch.Tensor, tokens: int) -> torch.Tensor:
        return t[..., :tokens, :]

    def _default_tokens(self, rows: int) -> int:
        """Tokens to crop back to when inverse() is not told: none cropped."""
        return rows

    # -- public wrapper ------------------------------------------------------------
    def forward(self, x: Array) -> Array:
        """Transform the token axis: (..., tokens, features) -> (..., padded, features).

        Output type, dtype and device follow `x`. Raises ValueError on NaN/Inf.
        """
        t, origin = to_work(x, "x")
        check_finite("x", t)
        y = self._forward_padded(self._pad(t, t.shape[-2]))
        return from_work(y, origin)

    def inverse(self, y: Array, tokens: int | None = None) -> Array:
        """Undo forward: (..., padded, features) -> (..., tokens, features).

        tokens : the original token count to crop back to; None keeps all rows
            (for `dwt2d`, None means the grid's h * w).
        """
        t, origin = to_work(y, "y")
        rows = t.shape[-2]
        if tokens is None:
            tokens = self._default_tokens(rows)
        check_int("tokens", tokens, 1)
        expected = self.padded_length(tokens)
        if rows != expected:
            raise ValueError(
                f"y has {rows} rows on the token axis (-2); allowed: {expected} "
                f"(= padded_length({tokens}) for {self!r})"
            )
        return from_work(self._crop(self._inverse_padded(t), tokens), origin)

    def pad(self, x: Array) -> Array:
        """x zero-padded to the token layout that `matrix` acts on (no transform)."""
        t, origin = to_work(x, "x")
        return from_work(self._pad(t, t.shape[-2]), origin)

    def matrix(self, tokens: int) -> np.ndarray:
        """L as a (padded x padded) float64 array: forward(x) == L @ pad(x)."""
        n = self.padded_length(check_int("tokens", tokens, 1))
        return self._forward_padded(torch.eye(n, dtype=torch.float64)).numpy()
