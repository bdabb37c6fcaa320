"""Feature (channel-axis) transforms that compose with STaMP: `none`, `hadamard`, `smoothquant`.

Each maps activations X (..., d) and a torch.nn.Linear weight W (out, d) so that the
layer output is unchanged: transform_activations(X) @ transform_weight(W).T == X @ W.T.
Quantization then sees the transformed X (fewer outliers) and the transformed W.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from ._array import Array, from_work, to_work
from ._checks import NotFittedError, check_finite, check_int
from ._registry import FEATURE_TRANSFORMS
from ._wht import fwht

__all__ = ["FeatureTransform", "NoFeatureTransform", "HadamardRotation", "SmoothQuant"]


class FeatureTransform:
    """Shared wrapper: convert and check once, then call the subclass core.

    transform_activations(x) : (..., d) -> (..., d)
    transform_weight(w) : (out, d) -> (out, d), the weight of the equivalent layer
    inverse_activations(y) : undo transform_activations (to measure error in X's units)
    fit(activations, weight) : calibrate (no-op where nothing is calibrated); returns self
    needs_calibration : True where `fit` must run before use. Such a transform's `fit` reads
        the activations only through their per-channel max |x| (all a StampLinear keeps of
        its calibration batches), and it is not applied while calibrating.
    Output type, dtype and device follow the input.
    """

    name: ClassVar[str]
    needs_calibration: ClassVar[bool] = False

    def fit(self, activations: Array, weight: Array) -> "FeatureTransform":
        return self

    def _activations(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _weight(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _inverse(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def transform_activations(self, x: Array) -> Array:
        t, origin = to_work(x, "x", min_ndim=1)
        check_finite("x", t)
        return from_work(self._activations(t), origin)

    def transform_weight(self, w: Array) -> Array:
        t, origin = to_work(w, "weight", min_ndim=2)
        if t.ndim != 2:
            raise ValueError(f"weight has shape {tuple(t.shape)}; allowed: (out, in) (2 axes)")
        check_finite("weight", t)
        return from_work(self._weight(t), origin)

    def inverse_activations(self, y: Array) -> Array:
        t, origin = to_work(y, "y", min_ndim=1)
        return from_work(self._inverse(t), origin)


@FEATURE_TRANSFORMS.register("none")
@dataclass(frozen=True)
class NoFeatureTransform(FeatureTransform):
    """`none`: leaves activations and weights as they are (copies, never views of the input).

    R = I, so callers apply the configured feature transform unconditionally."""

    def _activations(self, t: torch.Tensor) -> torch.Tensor:
        return t.clone()

    _weight = _activations
    _inverse = _activations


_DENSE_BLOCK_MAX = 1024


@functools.lru_cache(maxsize=64)
def _random_signs(seed: int, d: int) -> np.ndarray:
    signs = np.random.default_rng([seed, d]).choice([-1.0, 1.0], size=d)
    signs.flags.writeable = False  # shared by every caller: signs() hands out copies
    return signs


@functools.lru_cache(maxsize=64)
def _signs_tensor(seed: int, d: int, dtype: torch.dtype, device) -> torch.Tensor:
    return torch.from_numpy(_random_signs(seed, d).copy()).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=32)
def _sylvester(b: int, dtype: torch.dtype, device) -> torch.Tensor:
    """H_b / sqrt(b), Sylvester's construction (b a power of two), symmetric."""
    h = torch.ones(1, 1, dtype=torch.float64)
    while h.shape[0] < b:
        h = torch.cat((torch.cat((h, h), 1), torch.cat((h, -h), 1)), 0)
    return (h / math.sqrt(b)).to(device=device, dtype=dtype)


@FEATURE_TRANSFORMS.register("hadamard")
@dataclass(frozen=True)
class HadamardRotation(FeatureTransform):
    """Randomized Hadamard rotation (QuaRot style): x -> x R, W -> W R, R orthonormal.

        R = (I_{d/b} kron H_b / sqrt(b)) diag(s),   s_j in {-1, +1} drawn from `seed`

    H_b is Sylvester's Hadamard matrix (scipy.linalg.hadamard) and b = `block_size(d)`,
    the largest power of two dividing d: for d = 2^k, one full Hadamard; otherwise a
    block-diagonal Hadamard over consecutive groups of b channels (d = 1152 -> b = 128;
    odd d -> b = 1, only sign flips, i.e. no mixing). QuaRot's Kronecker factors
    (H_12, H_172, ...) need stored matrices; this keeps R exactly orthonormal for every
    d at the price of mixing only within blocks. Signs depend on (seed, d) only.
    Cost: d log2(b) adds per token.
    """

    seed: int = 0

    def __post_init__(self) -> None:
        check_int("seed", self.seed, 0)

    @staticmethod
    def block_size(d: int) -> int:
        return d & -d

    def signs(self, d: int) -> np.ndarray:
        """The random signs s (d,), float64 in {-1, +1}."""
        return _random_signs(self.seed, d).copy()

    def matrix(self, d: int) -> np.ndarray:
        """R as a (d, d) float64 array."""
        check_int("d", d, 1)
        return self._activations(torch.eye(d, dtype=torch.float64)).numpy()

    def _signs_like(self, t: torch.Tensor) -> torch.Tensor:
        return _signs_tensor(self.seed, t.shape[-1], t.dtype, t.device)

    def _blocks(self, t: torch.Tensor) -> torch.Tensor:
        d = t.shape[-1]
        b = self.block_size(d)
        blocks = t.unflatten(-1, (d // b, b))
        # A dense block product beats the log2(b) butterfly passes up to b = 1,024 (one BLAS
        # call instead of 2 log2(b) small kernels: 576 features 5x faster, 1,536 1.3x).
        out = blocks @ _sylvester(b, t.dtype, t.device) if b <= _DENSE_BLOCK_MAX else fwht(blocks, -1)
        return out.flatten(-2, -1)

    def _activations(self, t: torch.Tensor) -> torch.Tensor:
        return self._blocks(t) * self._signs_like(t)

    _weight = _activations  # rows of W live in the input-feature space, like x

    def _inverse(self, t: torch.Tensor) -> torch.Tensor:
        # R^T = diag(s) H_blk^T and the normalized Sylvester blocks are symmetric.
        return self._blocks(t * self._signs_like(t))

    # The names QuaRot readers look for.
    rotate_activations = FeatureTransform.transform_activations
    rotate_weight = FeatureTransform.transform_weight


@FEATURE_TRANSFORMS.register("smoothquant")
@dataclass(eq=False)
class SmoothQuant(FeatureTransform):
    """SmoothQuant per-input-channel scaling: x -> x / s, W -> W * s (columns of W).

        s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)

    max|X_j| over every token of the calibration activations, max|W_j| over the
    output rows of W (out, d). Channels where either maximum is 0 get s_j = 1 (no
    evidence to move range either way). alpha in [0, 1]: 0 leaves activations
    unsmoothed relative to weights, 1 moves all activation range into the weights.
    `fit` stores `scales` (d,) float64 and returns self (mutable, like scikit-learn);
    using it unfitted raises NotFittedError.
    """

    needs_calibration: ClassVar[bool] = True
    alpha: float = 0.5
    scales: torch.Tensor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        a = self.alpha
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 <= a <= 1.0:
            raise ValueError(f"alpha={a!r} is not allowed; it must be a number in [0, 1]")

    def fit(self, activations: Array, weight: Array) -> "SmoothQuant":
        x, _ = to_work(activations, "activations", min_ndim=1)
        w, _ = to_work(weight, "weight", min_ndim=2)
        check_finite("activations", x)
        check_finite("weight", w)
        if w.ndim != 2 or w.shape[1] != x.shape[-1]:
            raise ValueError(
                f"weight has shape {tuple(w.shape)}; allowed: (out, {x.shape[-1]}) to match "
                f"activations of shape {tuple(x.shape)}"
            )
        x_max = x.detach().abs().reshape(-1, x.shape[-1]).amax(0).cpu().double()
        w_max = w.detach().abs().amax(0).cpu().double()
        s = x_max.pow(self.alpha) / w_max.pow(1.0 - self.alpha)
        degenerate = (x_max == 0) | (w_max == 0)
        self.scales = torch.where(degenerate, torch.ones_like(s), s)
        return self

    def _scales_like(self, t: torch.Tensor) -> torch.Tensor:
        if self.scales is None:
            raise NotFittedError(
                "smoothquant is not fitted; call .fit(activations, weight) first"
            )
        if t.shape[-1] != self.scales.shape[0]:
            raise ValueError(
                f"input has {t.shape[-1]} features on its last axis; allowed: "
                f"{self.scales.shape[0]} (the fitted channel count)"
            )
        return self.scales.to(device=t.device, dtype=t.dtype)

    def _activations(self, t: torch.Tensor) -> torch.Tensor:
        return t / self._scales_like(t)

    def _weight(self, t: torch.Tensor) -> torch.Tensor:
        return t * self._scales_like(t)

    def _inverse(self, t: torch.Tensor) -> torch.Tensor:
        return t * self._scales_like(t)
