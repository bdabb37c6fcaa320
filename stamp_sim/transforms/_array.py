"""Convert numpy arrays and torch tensors to one working form and back.

Every transform core runs on torch tensors so that one implementation serves
numpy inputs (wrapped without a copy where possible) and tensors on any device.
Cores compute in float64 when the input is float64 and in float32 otherwise
(float16/bfloat16 are upcast because rounding at every butterfly stage would
otherwise dominate the quantization error being studied); the result is cast
back to the input's dtype, type and device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Origin", "to_work", "from_work", "pad_axis"]

Array = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class Origin:
    """Where an input came from, so that the output can go back there."""

    is_numpy: bool
    dtype: torch.dtype
    device: torch.device


def to_work(x: Array, param: str, min_ndim: int = 2) -> tuple[torch.Tensor, Origin]:
    """Return (tensor in float32/float64 on x's device, origin of x).

    x : numpy array or torch tensor of floating dtype with at least `min_ndim` axes.
    """
    if isinstance(x, np.ndarray):
        if x.dtype not in (np.float16, np.float32, np.float64):
            raise ValueError(
                f"{param} has dtype {x.dtype}; allowed: ['float16', 'float32', 'float64']"
            )
        # torch.from_numpy refuses negative strides and warns on read-only memory.
        if not x.flags.writeable or any(s < 0 for s in x.strides):
            x = x.copy()
        t = torch.from_numpy(x)
        is_numpy = True
    elif isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise ValueError(
                f"{param} has dtype {x.dtype}; allowed: a floating dtype "
                "(['bfloat16', 'float16', 'float32', 'float64'])"
            )
        t = x
        is_numpy = False
    else:
        raise TypeError(f"{param} must be a numpy array or a torch tensor, got {type(x).__name__}")
    if t.ndim < min_ndim:
        axes = "(..., tokens, features)" if min_ndim == 2 else "(..., features)"
        raise ValueError(f"{param} has shape {tuple(t.shape)}; allowed: {axes}")
    origin = Origin(is_numpy=is_numpy, dtype=t.dtype, device=t.device)
    work = torch.float64 if t.dtype == torch.float64 else torch.float32
    return t.to(work), origin


def from_work(t: torch.Tensor, origin: Origin) -> Array:
    """Cast a working tensor back to the dtype, device and array type recorded in `origin`."""
    t = t.to(device=origin.device, dtype=origin.dtype)
    return t.numpy() if origin.is_numpy else t


def pad_axis(t: torch.Tensor, axis: int, length: int) -> torch.Tensor:
    """Zero-pad `t` at the end of `axis` (negative index) up to `length` entries."""
    extra = length - t.shape[axis]
    if extra == 0:
        return t
    # F.pad lists (before, after) pairs from the last axis backwards.
    pads = [0, 0] * (-axis - 1) + [0, extra]
    return torch.nn.functional.pad(t, pads)
