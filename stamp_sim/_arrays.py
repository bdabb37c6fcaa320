"""Small helpers shared by the toolkit: numpy <-> torch at the edge, input checks."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_tensor", "check_finite"]


def as_tensor(x) -> tuple[torch.Tensor, bool]:
    """(tensor, was_numpy): numpy arrays become CPU tensors; tensors pass through."""
    if isinstance(x, torch.Tensor):
        return x, False
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), True
    raise ValueError(f"expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def check_finite(param: str, t: torch.Tensor) -> None:
    """Raise ValueError if `t` holds NaN or Inf (scales and transforms would be meaningless)."""
    # Fast path: a sum is finite only if every term is (NaN/Inf propagate), and it reads
    # the data once without a mask; only a non-finite sum (real NaN/Inf, or overflow of
    # huge finite values) pays for the exact elementwise check.
    if not t.is_floating_point() or t.numel() == 0 or bool(torch.isfinite(t.sum())):
        return
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(
            f"{param} holds {bad} NaN/Inf value(s) (shape {tuple(t.shape)}); "
            "allowed: finite values only"
        )
