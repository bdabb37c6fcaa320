"""Vectorized periodized Haar kernels (no loop over tokens; one loop over levels).

One level on rows x[0..n) (n even), matching PyWavelets' 'haar' filters:
    a[k] = (x[2k] + x[2k+1]) / sqrt(2),   d[k] = (x[2k] - x[2k+1]) / sqrt(2)
and its inverse x[2k] = (a[k] + d[k]) / sqrt(2), x[2k+1] = (a[k] - d[k]) / sqrt(2).
"""

from __future__ import annotations

import math

import torch

__all__ = ["haar_forward", "haar_inverse", "haar2d_forward", "haar2d_inverse"]

_S = 1.0 / math.sqrt(2.0)


def _tracks_grad(t: torch.Tensor) -> bool:
    """Autograd refuses out= and in-place updates of leaves, so it gets the plain path."""
    return torch.is_grad_enabled() and t.requires_grad


def _split(
    t: torch.Tensor, axis: int, detail_out: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, d) of one Haar level along negative `axis` (its length must be even).

    Without autograd, d is written into `detail_out` when given (a view of the
    caller's output, saving a copy) and the scaling is done in place.
    """
    n = t.shape[axis]
    pairs = t.unflatten(axis, (n // 2, 2))
    # After unflatten the pair axis keeps the negative index `axis`.
    even, odd = pairs.select(axis, 0), pairs.select(axis, 1)
    if _tracks_grad(t):
        a, d = (even + odd) * _S, (even - odd) * _S
        if detail_out is not None:
            detail_out.copy_(d)
        return a, d
    d = torch.sub(even, odd) if detail_out is None else torch.sub(even, odd, out=detail_out)
    return torch.add(even, odd).mul_(_S), d.mul_(_S)


def _merge(a: torch.Tensor, d: torch.Tensor, axis: int) -> torch.Tensor:
    """Inverse of `_split`: interleave (a+d)/sqrt2 and (a-d)/sqrt2 along `axis`."""
    if _tracks_grad(a) or _tracks_grad(d):
        return torch.stack(((a + d) * _S, (a - d) * _S), dim=axis).flatten(axis - 1, axis)
    shape = list(a.shape)
    shape[axis] *= 2
    out = a.new_empty(shape)
    pairs = out.unflatten(axis, (a.shape[axis], 2))
    torch.add(a, d, out=pairs.select(axis, 0))
    torch.sub(a, d, out=pairs.select(axis, 1))
    return out.mul_(_S)


def haar_forward(t: torch.Tensor, levels: int) -> torch.Tensor:
    """J-level Haar along axis -2: (..., n, f) -> (..., n, f) rows [cA_J, cD_J, ..., cD_1].

    n must be a multiple of 2^levels. Detail bands are written straight into
    their final rows of the output, so nothing is concatenated.
    """
    if _tracks_grad(t):
        bands, a = [], t
        for _ in range(levels):
            a, d = _split(a, -2)
            bands.insert(0, d)
        return torch.cat([a, *bands], dim=-2)
    out = torch.empty_like(t)
    a = t
    n = t.shape[-2]
    for _ in range(levels):
        a, _ = _split(a, -2, detail_out=out[..., n // 2 : n, :])
        n //= 2
    out[..., :n, :] = a
    return out


def haar_inverse(t: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse of `haar_forward`: rows [cA_J, cD_J, ..., cD_1] -> signal rows."""
    n = t.shape[-2] >> levels
    a = t[..., :n, :]
    for _ in range(levels):
        a = _merge(a, t[..., n : 2 * n, :], -2)
        n *= 2
    return a


def haar2d_forward(t: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """J-level 2D Haar over the grid axes (-3 height, -2 width) of (..., H, W, f).

    Returns pywt.wavedec2's list flattened: [cA_J, cH_J, cV_J, cD_J, ..., cH_1, cV_1, cD_1],
    each band of shape (..., h_l, w_l, f). cH is detail along height (approximation
    along width), cV the reverse, cD detail along both (PyWavelets' convention).
    """
    bands: list[torch.Tensor] = []
    a = t
    for _ in range(levels):
        lo, hi = _split(a, -3)
        a, cv = _split(lo, -2)
        ch, cd = _split(hi, -2)
        bands = [ch, cv, cd] + bands
    return [a] + bands


def haar2d_inverse(bands: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of `haar2d_forward` from its list of bands."""
    a = bands[0]
    for i in range(1, len(bands), 3):
        ch, cv, cd = bands[i : i + 3]
        lo = _merge(a, cv, -2)
        hi = _merge(ch, cd, -2)
        a = _merge(lo, hi, -3)
    return a
