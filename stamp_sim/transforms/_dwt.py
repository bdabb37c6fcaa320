"""`dwt`: 1D multilevel orthogonal wavelet transform along the token axis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pywt
import torch

from ._base import SequenceTransform
from ._haar import haar_forward, haar_inverse
from ._registry import SEQUENCE_TRANSFORMS
from ._wavelets import check_levels_for, check_wavelet, filter_length, is_haar, validate_levels

__all__ = ["DWT"]


@SEQUENCE_TRANSFORMS.register("dwt")
@dataclass(frozen=True)
class DWT(SequenceTransform):
    """J-level periodized DWT along tokens (STaMP's choice: Haar, 3 levels).

    Rows of the output are the concatenation of
    `pywt.wavedec(x, wavelet, level=levels, mode="periodization", axis=-2)`,
    i.e. [cA_J, cD_J, ..., cD_1]: the first padded/2^J rows are the approximation band.

    levels : J >= 1 and at most pywt.dwt_max_level(tokens, filter length)
        (for Haar: 2^J <= tokens).
    wavelet : any orthogonal PyWavelets wavelet. 'haar'/'db1' run a vectorized torch
        kernel (differentiable, stays on the input's device); others go through
        PyWavelets on CPU (no autograd) and come back to the input's device.

    Tokens are zero-padded at the end to a multiple of 2^J; the periodized
    transform of that even length is orthonormal, so crop-after-inverse is exact.
    Cost: O(tokens * features) for Haar.
    """

    levels: int = 3
    wavelet: str = "haar"

    def __post_init__(self) -> None:
        validate_levels(self.levels)
        check_wavelet(self.wavelet)

    @property
    def filter_length(self) -> int:
        """Taps of the wavelet's decomposition filter (2 for Haar); sets the level cap."""
        return filter_length(self.wavelet)

    def padded_length(self, tokens: int) -> int:
        check_levels_for(self.levels, self.wavelet, tokens, "tokens")
        block = 1 << self.levels
        return -(-tokens // block) * block

    def approx_rows(self, tokens: int) -> int:
        return self.padded_length(tokens) >> self.levels

    def _forward_padded(self, t: torch.Tensor) -> torch.Tensor:
        if is_haar(self.wavelet):
            return haar_forward(t, self.levels)
        coeffs = pywt.wavedec(
            _to_numpy(t), self.wavelet, mode="periodization", level=self.levels, axis=-2
        )
        return torch.from_numpy(np.concatenate(coeffs, axis=-2)).to(t.device)

    def _inverse_padded(self, t: torch.Tensor) -> torch.Tensor:
        if is_haar(self.wavelet):
            return haar_inverse(t, self.levels)
        y = _to_numpy(t)
        n = y.shape[-2] >> self.levels
        bounds = [n << i for i in range(self.levels + 1)]  # band ends: n, 2n, 4n, ..., padded
        coeffs = [y[..., :n, :]] + [y[..., lo:hi, :] for lo, hi in zip(bounds, bounds[1:])]
        x = pywt.waverec(coeffs, self.wavelet, mode="periodization", axis=-2)
        return torch.from_numpy(x).to(t.device)


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
