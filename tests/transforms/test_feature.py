"""Feature transforms: Hadamard rotation and SmoothQuant keep the layer output unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import block_diag, hadamard

from stamp_sim.transforms import (
    HadamardRotation,
    NotFittedError,
    feature_transform,
    feature_transform_names,
)


def test_names():
    assert feature_transform_names() == ("hadamard", "none", "smoothquant")


@pytest.mark.parametrize("d", [1, 3, 8, 12, 64, 96, 1152])
def test_hadamard_is_orthonormal_block_hadamard_with_signs(d):
    rot = feature_transform("hadamard", seed=7)
    r = rot.matrix(d)
    np.testing.assert_allclose(r @ r.T, np.eye(d), atol=1e-12)
    b = HadamardRotation.block_size(d)
    assert d % b == 0 and (d // b) % 2 == 1  # the largest power-of-two factor
    h = block_diag(*[hadamard(b) / np.sqrt(b)] * (d // b))
    signs = rot.signs(d)
    assert set(np.unique(signs)) <= {-1.0, 1.0}
    np.testing.assert_allclose(r, h @ np.diag(signs), atol=1e-12)


def test_hadamard_seed_changes_signs_reproducibly():
    a, b = feature_transform("hadamard", seed=1), feature_transform("hadamard", seed=2)
    np.testing.assert_array_equal(a.matrix(64), feature_transform("hadamard", seed=1).matrix(64))
    assert not np.array_equal(a.matrix(64), b.matrix(64))


def test_hadamard_preserves_linear_output_and_inverts():
    torch.manual_seed(0)
    layer = torch.nn.Linear(96, 40)
    x = torch.randn(2, 10, 96)
    rot = feature_transform("hadamard", seed=3)
    xr = rot.rotate_activations(x)
    wr = rot.rotate_weight(layer.weight.detach())
    torch.testing.assert_close(xr @ wr.T, x @ layer.weight.detach().T, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rot.inverse_activations(xr), x, atol=1e-5, rtol=1e-5)
    # x @ R equals the explicit matrix product.
    r = torch.from_numpy(rot.matrix(96)).float()
    torch.testing.assert_close(xr, x @ r, atol=1e-5, rtol=1e-5)


def test_hadamard_spreads_an_outlier_channel():
    x = np.zeros((4, 64))
    x[:, 5] = 100.0
    xr = feature_transform("hadamard").transform_activations(x)
    np.testing.assert_allclose(np.abs(xr), 100.0 / 8.0, atol=1e-12)


def test_smoothquant_scales_follow_the_formula():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 20, 16)) * np.linspace(0.1, 30, 16)
    w = rng.standard_normal((8, 16))
    sq = feature_transform("smoothquant", alpha=0.7).fit(x, w)
    expected = np.abs(x).max(axis=(0, 1)) ** 0.7 / np.abs(w).max(axis=0) ** 0.3
    np.testing.assert_allclose(sq.scales.numpy(), expected, rtol=1e-12)
    xs, ws = sq.transform_activations(x), sq.transform_weight(w)
    np.testing.assert_allclose(xs, x / expected, rtol=1e-12)
    np.testing.assert_allclose(xs @ ws.T, x @ w.T, atol=1e-10)
    np.testing.assert_allclose(sq.inverse_activations(xs), x, atol=1e-12)
    # alpha = 0.5 equalizes the per-channel maxima of activations and weights.
    sq5 = feature_transform("smoothquant", alpha=0.5).fit(x, w)
    np.testing.assert_allclose(
        np.abs(sq5.transform_activations(x)).max(axis=(0, 1)),
        np.abs(sq5.transform_weight(w)).max(axis=0),
        rtol=1e-12,
    )


def test_smoothquant_zero_channel_gets_unit_scale_and_torch_linear_works():
    torch.manual_seed(1)
    layer = torch.nn.Linear(6, 3, bias=False)
    x = torch.randn(5, 6)
    x[:, 2] = 0.0
    sq = feature_transform("smoothquant").fit(x, layer.weight.detach())
    assert sq.scales[2].item() == 1.0
    out = sq.transform_activations(x) @ sq.transform_weight(layer.weight.detach()).T
    torch.testing.assert_close(out, layer(x).detach(), atol=1e-5, rtol=1e-5)


def test_smoothquant_errors():
    sq = feature_transform("smoothquant")
    with pytest.raises(NotFittedError, match="smoothquant is not fitted"):
        sq.transform_activations(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"weight has shape \(4, 5\); allowed: \(out, 3\)"):
        sq.fit(np.ones((2, 3)), np.ones((4, 5)))
    sq.fit(np.ones((2, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"4 features .*allowed: 3"):
        sq.transform_activations(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"activations holds 1 NaN/Inf"):
        sq.fit(np.array([[1.0, np.nan, 0.0]]), np.ones((4, 3)))


@pytest.mark.parametrize("alpha", [-0.1, 1.5, True, "0.5", None])
def test_smoothquant_alpha_validated(alpha):
    with pytest.raises(ValueError, match=r"alpha=.*\[0, 1\]"):
        feature_transform("smoothquant", alpha=alpha)


def test_none_is_identity_copy():
    x = np.arange(6.0).reshape(2, 3)
    t = feature_transform("none").fit(x, np.ones((1, 3)))
    y = t.transform_activations(x)
    np.testing.assert_array_equal(y, x)
    y[0, 0] = 9.0
    assert x[0, 0] == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_feature_dtype_preserved(dtype):
    x = torch.randn(3, 32, dtype=dtype)
    y = feature_transform("hadamard").transform_activations(x)
    assert y.dtype == dtype and y.shape == x.shape


def test_hadamard_refuses_nan_and_bad_seed():
    with pytest.raises(ValueError, match=r"x holds 1 NaN/Inf"):
        feature_transform("hadamard").transform_activations(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match=r"seed=-1"):
        feature_transform("hadamard", seed=-1)
