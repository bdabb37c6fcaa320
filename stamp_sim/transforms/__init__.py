"""Sequence transforms (token axis) and feature transforms (channel axis) for STaMP.

    from stamp_sim.transforms import sequence_transform, feature_transform
    L = sequence_transform("dwt", levels=3, wavelet="haar")
    y = L.forward(x)                  # (..., tokens, d) -> (..., L.padded_length(tokens), d)
    x_back = L.inverse(y, tokens=x.shape[-2])
    L = sequence_transform_from("dwt", config.transform_parameters())  # takes what it declares

Sequence transforms: identity, dwt, dwt2d, dct, wht, klt (see each class).
Feature transforms: none, hadamard, smoothquant.
"""

from ._base import SequenceTransform
from ._checks import NotFittedError
from ._dct import DCT
from ._dwt import DWT
from ._dwt2d import DWT2D
from ._identity import Identity
from ._klt import KLT
from ._registry import (
    feature_transform,
    feature_transform_from,
    feature_transform_names,
    sequence_transform,
    sequence_transform_from,
    sequence_transform_names,
)
from ._wavelets import orthogonal_wavelets
from ._wht import WHT
from .feature import FeatureTransform, HadamardRotation, NoFeatureTransform, SmoothQuant

__all__ = [
    "DCT",
    "DWT",
    "DWT2D",
    "FeatureTransform",
    "HadamardRotation",
    "Identity",
    "KLT",
    "NoFeatureTransform",
    "NotFittedError",
    "SequenceTransform",
    "SmoothQuant",
    "WHT",
    "feature_transform",
    "feature_transform_from",
    "feature_transform_names",
    "orthogonal_wavelets",
    "sequence_transform",
    "sequence_transform_from",
    "sequence_transform_names",
]
