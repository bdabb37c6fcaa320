"""`dct`: orthonormal DCT-II along tokens via one FFT (Makhoul's reordering)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._base import SequenceTransform
from ._registry import SEQUENCE_TRANSFORMS

__all__ = ["DCT"]


@SEQUENCE_TRANSFORMS.register("dct")
@dataclass(frozen=True)
class DCT(SequenceTransform):
    """Orthonormal DCT-II along axis -2, equal to `scipy.fft.dct(x, type=2, norm="ortho", axis=-2)`:

        y_k = sqrt(2/n) * c_k * sum_i x_i cos(pi k (2i + 1) / (2n)),  c_0 = 1/sqrt(2), c_k = 1.

    Any length (no padding). Rows are in increasing frequency, so low frequencies come
    first; `approx_rows` is 1 (the DC row). Cost: O(n log n) per feature column.
    """

    def padded_length(self, tokens: int) -> int:
        return tokens

    def approx_rows(self, tokens: int) -> int:
        return 1

    def _forward_padded(self, t: torch.Tensor) -> torch.Tensor:
        n = t.shape[-2]
        # v = [x_0, x_2, x_4, ..., x_5, x_3, x_1]; then DCT-II_k = 2 Re(e^{-i pi k / 2n} FFT(v)_k).
        v = torch.cat((t[..., 0::2, :], t[..., 1::2, :].flip(-2)), dim=-2)
        spectrum = torch.fft.fft(v, dim=-2)
        y = (spectrum * _twiddle(n, t, sign=-1)).real * 2.0
        return y * _ortho_scale(n, t)

    def _inverse_padded(self, t: torch.Tensor) -> torch.Tensor:
        n = t.shape[-2]
        y = t / _ortho_scale(n, t)  # back to the unnormalized DCT-II (scipy norm=None)
        # W_k V_k = (Y_k - i Y_{n-k}) / 2 with Y_n = 0, because v is real.
        y_rev = torch.cat((torch.zeros_like(y[..., :1, :]), y[..., 1:, :].flip(-2)), dim=-2)
        z = torch.complex(y, -y_rev) * 0.5
        v = torch.fft.ifft(z * _twiddle(n, t, sign=+1), dim=-2).real
        x = torch.empty_like(v)
        half = (n + 1) // 2
        x[..., 0::2, :] = v[..., :half, :]
        x[..., 1::2, :] = v[..., half:, :].flip(-2)
        return x


def _twiddle(n: int, like: torch.Tensor, sign: int) -> torch.Tensor:
    """exp(sign * i pi k / 2n) for k < n as an (n, 1) column, complex, on like's device."""
    k = torch.arange(n, dtype=like.dtype, device=like.device)
    return torch.polar(torch.ones_like(k), sign * math.pi * k / (2 * n)).unsqueeze(-1)


def _ortho_scale(n: int, like: torch.Tensor) -> torch.Tensor:
    """Row scale turning the unnormalized DCT-II into the orthonormal one, shape (n, 1)."""
    s = torch.full((n, 1), math.sqrt(1.0 / (2 * n)), dtype=like.dtype, device=like.device)
    s[0] = math.sqrt(1.0 / (4 * n))
    return s
