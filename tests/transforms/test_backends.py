"""numpy and torch inputs agree; output type, dtype and device follow the input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stamp_sim.transforms import sequence_transform

CASES = [
    ("identity", {}),
    ("dwt", {"levels": 3}),
    ("dwt", {"levels": 2, "wavelet": "sym4"}),
    ("dwt2d", {"grid": (4, 9), "levels": 2}),
    ("dwt2d", {"grid": (6, 6), "levels": 1, "wavelet": "db2"}),
    ("dct", {}),
    ("wht", {}),
    ("klt", {}),
]


def _make(name, params, x):
    t = sequence_transform(name, **params)
    return t.fit(x) if name == "klt" else t


@pytest.mark.parametrize(("name", "params"), CASES)
def test_numpy_and_torch_agree(name, params):
    x = np.random.default_rng(0).standard_normal((2, 36, 4))
    t = _make(name, params, x)
    y_np = t.forward(x)
    y_t = t.forward(torch.from_numpy(x))
    assert isinstance(y_np, np.ndarray) and isinstance(y_t, torch.Tensor)
    np.testing.assert_allclose(y_t.numpy(), y_np, atol=1e-12)
    back = t.inverse(torch.from_numpy(y_np), tokens=36)
    assert isinstance(back, torch.Tensor)
    np.testing.assert_allclose(back.numpy(), x, atol=1e-12)


@pytest.mark.parametrize(("name", "params"), CASES)
@pytest.mark.parametrize(
    ("dtype", "atol"), [(torch.float32, 1e-5), (torch.float64, 1e-12), (torch.bfloat16, 0.1)]
)
def test_torch_dtype_preserved_and_close_to_float64(name, params, dtype, atol):
    x64 = torch.from_numpy(np.random.default_rng(1).standard_normal((36, 4)))
    t = _make(name, params, x64)
    x = x64.to(dtype)
    y = t.forward(x)
    assert y.dtype == dtype and y.device == x.device
    ref = t.forward(x.double())  # same rounded input, float64 arithmetic
    torch.testing.assert_close(y.double(), ref, atol=atol, rtol=0)
    back = t.inverse(y, tokens=36)
    assert back.dtype == dtype and back.shape == x.shape


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_dtype_preserved(dtype):
    x = np.random.default_rng(2).standard_normal((16, 3)).astype(dtype)
    y = sequence_transform("dwt").forward(x)
    assert isinstance(y, np.ndarray) and y.dtype == dtype


def test_non_contiguous_read_only_and_reversed_numpy_inputs():
    x = np.random.default_rng(3).standard_normal((3, 16))
    t = sequence_transform("dwt", levels=2)
    ref = t.forward(np.ascontiguousarray(x.T))
    ro = np.ascontiguousarray(x.T)
    ro.flags.writeable = False
    np.testing.assert_allclose(t.forward(x.T), ref)
    np.testing.assert_allclose(t.forward(ro), ref)
    np.testing.assert_allclose(t.forward(x.T[::-1][::-1]), ref)
    flipped = np.ascontiguousarray(x.T[::-1])
    np.testing.assert_allclose(t.forward(flipped[::-1]), ref)


def test_forward_does_not_modify_input():
    x = torch.randn(2, 36, 3)
    before = x.clone()
    for name, params in CASES:
        t = _make(name, params, x)
        t.inverse(t.forward(x), tokens=36)
    torch.testing.assert_close(x, before, atol=0, rtol=0)


def test_haar_is_differentiable():
    x = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
    y = sequence_transform("dwt", levels=2).forward(x)
    (y**2).sum().backward()  # orthonormal: d/dx ||Lx||^2 = 2x
    torch.testing.assert_close(x.grad, 2 * x.detach())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("name", "params"), CASES)
def test_cuda_inputs_stay_on_device(name, params):
    x = torch.randn(2, 36, 4, device="cuda")
    t = _make(name, params, x)
    y = t.forward(x)
    assert y.device == x.device
    torch.testing.assert_close(y.cpu(), t.forward(x.cpu()), atol=1e-4, rtol=1e-4)
    assert t.inverse(y, tokens=36).device == x.device


def test_haar_inverse_and_2d_are_differentiable():
    y = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
    (sequence_transform("dwt", levels=2).inverse(y) ** 2).sum().backward()
    torch.testing.assert_close(y.grad, 2 * y.detach())
    x = torch.randn(2, 16, 3, dtype=torch.float64, requires_grad=True)
    (sequence_transform("dwt2d", grid=(4, 4), levels=2).forward(x) ** 2).sum().backward()
    torch.testing.assert_close(x.grad, 2 * x.detach())
