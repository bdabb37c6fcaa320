"""Shared test helpers: tolerances per dtype and zero padding in numpy."""

from __future__ import annotations

import numpy as np

# Absolute tolerance on unit-scale data, per dtype (float rounding of O(log n) stages).
ATOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 2e-5}


def pad_rows(x: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad axis -2 at the end to n rows."""
    pad = [(0, 0)] * x.ndim
    pad[-2] = (0, n - x.shape[-2])
    return np.pad(x, pad)


def pad_grid(x: np.ndarray, grid: tuple[int, int], padded: tuple[int, int]) -> np.ndarray:
    """(..., h*w, f) -> (..., H, W, f) zero-padded at the bottom/right."""
    g = x.reshape(*x.shape[:-2], *grid, x.shape[-1])
    pad = [(0, 0)] * g.ndim
    pad[-3] = (0, padded[0] - grid[0])
    pad[-2] = (0, padded[1] - grid[1])
    return np.pad(g, pad)
