"""`klt`: Karhunen-Loeve transform along tokens, calibrated on activations."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ._array import Array, to_work
from ._base import SequenceTransform
from ._checks import NotFittedError, check_finite, check_int
from ._registry import SEQUENCE_TRANSFORMS

__all__ = ["KLT"]


@SEQUENCE_TRANSFORMS.register("klt")
@dataclass(eq=False)
class KLT(SequenceTransform):
    """Eigenbasis of the token autocorrelation, rows by decreasing energy (optimal compaction).

    `fit(X)` with X of shape (..., n, d) computes, in float64,

        S = (1 / (B d)) sum_b X_b X_b^T        (n x n; B = number of (n, d) slices)

    and L's rows are S's eigenvectors sorted by decreasing eigenvalue; each row's
    sign is fixed so that its largest-magnitude entry is positive (reproducible).
    `eigenvalues[i]` = E||l_i X||^2 / d on the calibration data (activation units
    squared, per feature). Cost: O(n^2 d) to apply, O(n^2 B d + n^3) to fit.

    Like scikit-learn, `fit` stores the basis and returns self, so the object is
    mutable; using it before `fit` raises NotFittedError (a ValueError). Inputs with
    fewer than n tokens are zero-padded at the end to n; more than n is an error.
    `approx_rows` is 1 (the top eigenvector).
    """

    basis: torch.Tensor | None = field(default=None, init=False, repr=False)
    eigenvalues: torch.Tensor | None = field(default=None, init=False, repr=False)

    def fit(self, calibration_activations: Array) -> "KLT":
        """Fit on (..., n, d) activations (numpy or torch); returns self."""
        t, _ = to_work(calibration_activations, "calibration_activations")
        check_finite("calibration_activations", t)
        x = t.detach().to(device="cpu", dtype=torch.float64)
        x = x.reshape(-1, *x.shape[-2:])
        s = torch.einsum("bid,bjd->ij", x, x) / (x.shape[0] * x.shape[-1])
        values, vectors = torch.linalg.eigh(s)  # ascending
        rows = vectors.T.flip(0)
        values = values.flip(0).clamp_min(0.0)  # round-off can make null energies slightly < 0
        peak = rows.abs().argmax(dim=1, keepdim=True)
        rows = rows * torch.sign(rows.gather(1, peak))
        self.basis, self.eigenvalues = rows, values
        return self

    def _fitted(self) -> torch.Tensor:
        if self.basis is None:
            raise NotFittedError(
                "klt is not fitted; call .fit(calibration_activations) with (..., tokens, "
                "features) activations before forward/inverse/matrix/padded_length"
            )
        return self.basis

    def padded_length(self, tokens: int) -> int:
        n = self._fitted().shape[0]
        check_int("tokens", tokens, 1)
        if tokens > n:
            raise ValueError(
                f"tokens={tokens} is more than klt was fitted on; allowed: [1, {n}] "
                "(shorter inputs are zero-padded to the fitted length)"
            )
        return n

    def approx_rows(self, tokens: int) -> int:
        self.padded_length(tokens)
        return 1

    def _forward_padded(self, t: torch.Tensor) -> torch.Tensor:
        return self._fitted().to(device=t.device, dtype=t.dtype) @ t

    def _inverse_padded(self, t: torch.Tensor) -> torch.Tensor:
        return self._fitted().to(device=t.device, dtype=t.dtype).T @ t

    def matrix(self, tokens: int) -> np.ndarray:
        self.padded_length(tokens)
        return self._fitted().numpy().copy()
