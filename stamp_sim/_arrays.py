"""Small helpers shared by the toolkit: numpy <-> torch at the edge, input checks."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_tensor", "like_input", "check_finite"]


def as_tensor(x) -> tuple[torch.Tensor, bool]:
    """(tensor, was_numpy): numpy arrays become CPU tensors; tensors pass through."""
    if isinstance(x, torch.Tensor):
        return x, False
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), True
    raise ValueError(f"expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def like_input(t: torch.Tensor, was_numpy: bool):
    """Return `t` in the caller's array type."""
    return t.detach().cpu().numpy() if was_numpy else t


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise ValueError when `x` holds NaN or Inf (quantizer scales would be meaningless)."""
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        bad = "NaN" if bool(torch.isnan(x).any()) else "Inf"
        raise ValueError(f"{name} contains {bad}; allowed: finite values only")
