import numpy as np
import pytest
import torch

from stamp_sim.models import DEFAULT_IMAGES, vit_images
from stamp_sim.models.images import IMAGENET_MEAN, IMAGENET_STD, preprocess_image, skimage_photo
from tests.models.conftest import needs

pytestmark = needs("skimage", "pip install scikit-image")


def test_default_batch_shape_grid_and_range():
    batch = vit_images()
    assert batch.names == DEFAULT_IMAGES
    assert batch.pixel_values.shape == (len(DEFAULT_IMAGES), 3, 224, 224)
    assert batch.pixel_values.dtype == torch.float32
    assert batch.grid == (16, 16)
    low = (0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    high = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    per_channel = batch.pixel_values.permute(1, 0, 2, 3).reshape(3, -1)
    assert (per_channel.min(dim=1).values >= torch.tensor(low, dtype=torch.float32) - 1e-5).all()
    assert (per_channel.max(dim=1).values <= torch.tensor(high, dtype=torch.float32) + 1e-5).all()
    assert len({tuple(img.flatten()[:50].tolist()) for img in batch.pixel_values}) == len(DEFAULT_IMAGES)


def test_grayscale_photo_becomes_three_equal_channels():
    camera = skimage_photo("camera")
    assert camera.shape[2] == 3 and camera.dtype == np.uint8
    assert np.array_equal(camera[:, :, 0], camera[:, :, 2])


def test_preprocess_normalises_and_center_crops():
    image = np.zeros((100, 300, 3), dtype=np.uint8)
    image[:, 100:200] = 255  # the center square is white, the sides black
    out = preprocess_image(image, size=28)
    assert out.shape == (3, 28, 28) and out.dtype == np.float32
    white = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(out[:, 14, 14], white, rtol=1e-5)
    np.testing.assert_allclose(out.reshape(3, -1).std(axis=1), 0, atol=1e-5)  # nothing of the sides left


def test_custom_size_grid():
    batch = vit_images(("astronaut",), size=112)
    assert batch.pixel_values.shape == (1, 3, 112, 112) and batch.grid == (8, 8)


@pytest.mark.parametrize("kwargs, match", [({"names": ("lena",)}, "astronaut"), ({"size": 100}, "multiple"), ({"names": ()}, "at least one")])
def test_bad_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vit_images(**kwargs)
