"""`dwt2d`: 2D multilevel orthogonal wavelet transform over an h x w grid of tokens."""

from __future__ import annotations

from dataclasses import dataclass

import pywt
import torch

from ._array import pad_axis
from ._base import SequenceTransform
from ._haar import haar2d_forward, haar2d_inverse
from ._registry import SEQUENCE_TRANSFORMS
from ._wavelets import check_levels_for, check_wavelet, filter_length, is_haar, validate_levels

__all__ = ["DWT2D"]


@SEQUENCE_TRANSFORMS.register("dwt2d")
@dataclass(frozen=True)
class DWT2D(SequenceTransform):
    """J-level periodized 2D DWT of tokens laid out as a row-major (h, w) grid (images).

    Output rows are `pywt.wavedec2(grid, wavelet, level=J, mode="periodization",
    axes=(height, width))` flattened band by band, each band row-major:
    [cA_J, cH_J, cV_J, cD_J, cH_{J-1}, ..., cD_1], where cH is the detail along
    height (approximation along width), cV the detail along width, cD both.
    The first (H/2^J) * (W/2^J) rows are the approximation band; each level keeps
    a quarter.

    grid : (h, w) with h * w == tokens.
    levels : J >= 1, at most pywt.dwt_max_level of the shorter side.
    wavelet : orthogonal PyWavelets wavelet; Haar is vectorized in torch, others use pywt.

    Padding is per grid side: h and w are each zero-padded at the end (bottom rows,
    right columns) to H, W = multiples of 2^J, so `padded_length = H * W` and
    `matrix(tokens)` acts on the padded grid in row-major order (see `pad`).
    """

    grid: tuple[int, int]
    levels: int = 3
    wavelet: str = "haar"

    def __post_init__(self) -> None:
        grid = self.grid
        ok = (
            isinstance(grid, (tuple, list))
            and len(grid) == 2
            and all(isinstance(g, int) and not isinstance(g, bool) and g >= 1 for g in grid)
        )
        if not ok:
            raise ValueError(f"grid={grid!r} is not allowed; it must be (h, w), two integers >= 1")
        object.__setattr__(self, "grid", (int(grid[0]), int(grid[1])))
        validate_levels(self.levels)
        check_wavelet(self.wavelet)

    @property
    def filter_length(self) -> int:
        """Taps of the wavelet's decomposition filter (2 for Haar); sets the level cap."""
        return filter_length(self.wavelet)

    def _padded_grid(self, tokens: int) -> tuple[int, int]:
        h, w = self.grid
        if tokens != h * w:
            raise ValueError(
                f"grid={self.grid!r} does not match tokens={tokens}; allowed: grids with "
                f"h * w == {tokens}"
            )
        check_levels_for(self.levels, self.wavelet, min(h, w), "min(grid)")
        block = 1 << self.levels
        return -(-h // block) * block, -(-w // block) * block

    def padded_length(self, tokens: int) -> int:
        hp, wp = self._padded_grid(tokens)
        return hp * wp

    def approx_rows(self, tokens: int) -> int:
        hp, wp = self._padded_grid(tokens)
        return (hp >> self.levels) * (wp >> self.levels)

    def _default_tokens(self, rows: int) -> int:
        return self.grid[0] * self.grid[1]

    def _pad(self, t: torch.Tensor, tokens: int) -> torch.Tensor:
        hp, wp = self._padded_grid(tokens)
        g = t.unflatten(-2, self.grid)
        g = pad_axis(pad_axis(g, -3, hp), -2, wp)
        return g.flatten(-3, -2)

    def _crop(self, t: torch.Tensor, tokens: int) -> torch.Tensor:
        h, w = self.grid
        g = t.unflatten(-2, self._padded_grid(tokens))
        return g[..., :h, :w, :].flatten(-3, -2)

    def _band_shape(self, rows: int) -> tuple[int, int]:
        hp, wp = self._padded_grid(self.grid[0] * self.grid[1])
        if rows != hp * wp:  # matrix() and inverse() reach here only with padded rows
            raise ValueError(f"y has {rows} token rows; allowed: {hp * wp}")
        return hp, wp

    def _forward_padded(self, t: torch.Tensor) -> torch.Tensor:
        g = t.unflatten(-2, self._band_shape(t.shape[-2]))
        if is_haar(self.wavelet):
            bands = haar2d_forward(g, self.levels)
        else:
            coeffs = pywt.wavedec2(
                g.detach().cpu().numpy(), self.wavelet, mode="periodization",
                level=self.levels, axes=(-3, -2),
            )
            flat = [coeffs[0]] + [band for level in coeffs[1:] for band in level]
            bands = [torch.from_numpy(b).to(t.device) for b in flat]
        return torch.cat([b.flatten(-3, -2) for b in bands], dim=-2)

    def _inverse_padded(self, t: torch.Tensor) -> torch.Tensor:
        hp, wp = self._band_shape(t.shape[-2])
        bands, start = [], 0
        shapes = [(hp >> self.levels, wp >> self.levels)]
        for level in range(self.levels, 0, -1):
            shapes += [(hp >> level, wp >> level)] * 3
        for bh, bw in shapes:
            bands.append(t[..., start : start + bh * bw, :].unflatten(-2, (bh, bw)))
            start += bh * bw
        if is_haar(self.wavelet):
            g = haar2d_inverse(bands)
        else:
            arrays = [b.detach().cpu().numpy() for b in bands]
            coeffs = [arrays[0]] + [tuple(arrays[i : i + 3]) for i in range(1, len(arrays), 3)]
            g = torch.from_numpy(
                pywt.waverec2(coeffs, self.wavelet, mode="periodization", axes=(-3, -2))
            ).to(t.device)
        return g.flatten(-3, -2)
