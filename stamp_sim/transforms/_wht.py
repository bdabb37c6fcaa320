"""`wht`: orthonormal Walsh-Hadamard transform along tokens, in sequency order."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from ._base import SequenceTransform
from ._registry import SEQUENCE_TRANSFORMS

__all__ = ["WHT", "fwht", "sequency_order"]


def fwht(t: torch.Tensor, axis: int) -> torch.Tensor:
    """Orthonormal fast Walsh-Hadamard transform in natural (Sylvester) order along `axis`.

    Equals `scipy.linalg.hadamard(n) / sqrt(n)` applied along `axis` (negative index);
    n = t.shape[axis] must be a power of two. Cost: n log2 n adds per column.
    """
    n = t.shape[axis]
    if n & (n - 1):
        raise ValueError(f"axis {axis} has length {n}; allowed: a power of two")
    half = 1
    while half < n:
        # Sylvester butterfly: blocks [a, b] of 2*half rows become [a + b, a - b].
        blocks = t.unflatten(axis, (n // (2 * half), 2, half))
        a, b = blocks.select(axis - 1, 0), blocks.select(axis - 1, 1)
        t = torch.stack((a + b, a - b), dim=axis - 1).flatten(axis - 2, axis)
        half *= 2
    return t * (1.0 / math.sqrt(n))


@functools.cache
def sequency_order(n: int) -> torch.Tensor:
    """Natural-order row index of sequency row k: bit-reverse(gray(k)), n = 2^m.

    Row k of the sequency-ordered Walsh matrix has exactly k sign changes.
    """
    m = n.bit_length() - 1
    gray = [k ^ (k >> 1) for k in range(n)]
    return torch.tensor([int(format(g, f"0{m}b")[::-1], 2) if m else 0 for g in gray])


@SEQUENCE_TRANSFORMS.register("wht")
@dataclass(frozen=True)
class WHT(SequenceTransform):
    """Orthonormal Walsh-Hadamard along axis -2, rows in sequency order.

    L = P H_n / sqrt(n), H_n Sylvester (`scipy.linalg.hadamard`), P sorting rows by
    their number of sign changes (0, 1, ..., n-1), so low "frequencies" come first
    like the DCT; `approx_rows` is 1 (the mean row). Tokens are zero-padded at the
    end to the next power of two. Cost: O(n log n) per feature column.
    """

    def padded_length(self, tokens: int) -> int:
        return 1 << max(tokens - 1, 0).bit_length()

    def approx_rows(self, tokens: int) -> int:
        return 1

    def _forward_padded(self, t: torch.Tensor) -> torch.Tensor:
        order = sequency_order(t.shape[-2]).to(t.device)
        return fwht(t, -2).index_select(-2, order)

    def _inverse_padded(self, t: torch.Tensor) -> torch.Tensor:
        order = sequency_order(t.shape[-2]).to(t.device)
        natural = torch.empty_like(t)
        natural[..., order, :] = t
        return fwht(natural, -2)  # H / sqrt(n) is symmetric and its own inverse
