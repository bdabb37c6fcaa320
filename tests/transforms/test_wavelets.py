"""dwt and dwt2d against PyWavelets (periodization), including zero padding."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.transforms import sequence_transform

from ._helpers import ATOL, pad_grid, pad_rows

WAVELETS = ["haar", "db2", "db4", "sym4", "coif1"]


@st.composite
def dwt_case(draw):
    wavelet = draw(st.sampled_from(WAVELETS))
    filter_len = pywt.Wavelet(wavelet).dec_len
    # Shortest length allowing one level: dwt_max_level(n, L) >= 1  <=>  n >= 2 (L - 1).
    tokens = draw(st.integers(2 * (filter_len - 1), 300))
    levels = draw(st.integers(1, pywt.dwt_max_level(tokens, filter_len)))
    batch = draw(st.sampled_from([(), (2,), (2, 3)]))
    features = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return wavelet, tokens, levels, batch, features, dtype


@settings(max_examples=60, deadline=None)
@given(dwt_case(), st.integers(0, 2**32 - 1))
def test_dwt_matches_pywt_wavedec_and_inverts(case, seed):
    wavelet, tokens, levels, batch, features, dtype = case
    x = np.random.default_rng(seed).standard_normal((*batch, tokens, features)).astype(dtype)
    t = sequence_transform("dwt", levels=levels, wavelet=wavelet)
    n = t.padded_length(tokens)
    assert n % 2**levels == 0 and tokens <= n < tokens + 2**levels

    y = t.forward(x)
    coeffs = pywt.wavedec(pad_rows(x, n), wavelet, mode="periodization", level=levels, axis=-2)
    ref = np.concatenate(coeffs, axis=-2)
    assert y.dtype == x.dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=ATOL[x.dtype] * 10)
    np.testing.assert_allclose(t.inverse(y, tokens=tokens), x, atol=ATOL[x.dtype] * 10)
    assert t.approx_rows(tokens) == coeffs[0].shape[-2] == n // 2**levels


def test_haar_torch_matches_pywt_on_paper_shape():
    """The vectorized Haar path on the benchmark shape, float32 as in the benchmark."""
    x = np.random.default_rng(0).standard_normal((4096, 64)).astype(np.float32)
    y = sequence_transform("dwt", levels=3).forward(torch.from_numpy(x))
    ref = np.concatenate(pywt.wavedec(x, "haar", mode="periodization", level=3, axis=0))
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-5)


def test_db1_is_haar():
    x = np.random.default_rng(1).standard_normal((24, 3))
    a = sequence_transform("dwt", wavelet="db1", levels=3).forward(x)
    b = sequence_transform("dwt", wavelet="haar", levels=3).forward(x)
    np.testing.assert_allclose(a, b, atol=1e-12)


@st.composite
def dwt2d_case(draw):
    wavelet = draw(st.sampled_from(WAVELETS))
    filter_len = pywt.Wavelet(wavelet).dec_len
    h = draw(st.integers(2 * (filter_len - 1), 24))
    w = draw(st.integers(2 * (filter_len - 1), 24))
    levels = draw(st.integers(1, pywt.dwt_max_level(min(h, w), filter_len)))
    batch = draw(st.sampled_from([(), (2,)]))
    return wavelet, (h, w), levels, batch


@settings(max_examples=40, deadline=None)
@given(dwt2d_case(), st.integers(0, 2**32 - 1))
def test_dwt2d_matches_pywt_wavedec2_and_inverts(case, seed):
    wavelet, grid, levels, batch = case
    h, w = grid
    x = np.random.default_rng(seed).standard_normal((*batch, h * w, 3))
    t = sequence_transform("dwt2d", grid=grid, levels=levels, wavelet=wavelet)
    block = 2**levels
    padded = (-(-h // block) * block, -(-w // block) * block)
    assert t.padded_length(h * w) == padded[0] * padded[1]

    coeffs = pywt.wavedec2(
        pad_grid(x, grid, padded), wavelet, mode="periodization", level=levels, axes=(-3, -2)
    )
    bands = [coeffs[0]] + [band for level in coeffs[1:] for band in level]
    ref = np.concatenate([b.reshape(*batch, -1, 3) for b in bands], axis=-2)
    y = t.forward(x)
    np.testing.assert_allclose(y, ref, atol=1e-10)
    assert t.approx_rows(h * w) == coeffs[0].shape[-3] * coeffs[0].shape[-2]
    np.testing.assert_allclose(t.inverse(y), x, atol=1e-10)


def test_dwt2d_band_order_is_documented_order():
    """Only the cH_1 band of a 2x2 grid lights up for a signal varying along height only."""
    t = sequence_transform("dwt2d", grid=(2, 2), levels=1)
    x = np.array([[1.0], [1.0], [-1.0], [-1.0]])  # row 0 = +1, row 1 = -1
    np.testing.assert_allclose(t.forward(x)[:, 0], [0.0, 2.0, 0.0, 0.0], atol=1e-12)


def test_paper_grid_keeps_64_approx_rows():
    """A 64 x 64 image grid with 3 Haar levels: 64 approximation rows (the paper's 8-bit rows)."""
    assert sequence_transform("dwt2d", grid=(64, 64), levels=3).approx_rows(4096) == 64


@pytest.mark.parametrize(
    ("params", "tokens", "match"),
    [
        ({"levels": 4}, 15, r"levels=4 is too deep for tokens=15.*allowed: \[1, 3\]"),
        ({"levels": 1, "wavelet": "db4"}, 13, r"levels=1 is too deep for tokens=13.*allowed: none"),
        ({"levels": 3, "wavelet": "db4"}, 55, r"levels=3 .*allowed: \[1, 2\]"),
    ],
)
def test_levels_too_deep_for_length(params, tokens, match):
    t = sequence_transform("dwt", **params)
    with pytest.raises(ValueError, match=match):
        t.forward(np.zeros((tokens, 2)))
    with pytest.raises(ValueError, match=match):
        t.padded_length(tokens)


def test_deepest_allowed_level_is_accepted():
    t = sequence_transform("dwt", levels=4)
    assert t.padded_length(16) == 16 and t.padded_length(17) == 32


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "3"])
def test_levels_must_be_positive_int(bad):
    with pytest.raises(ValueError, match=r"levels="):
        sequence_transform("dwt", levels=bad)


@pytest.mark.parametrize("bad", ["bior2.2", "rbio1.3", "morl", "nope", 3])
def test_non_orthogonal_or_unknown_wavelet_refused(bad):
    with pytest.raises(ValueError, match=r"wavelet=.*allowed; choose one of \['coif1', "):
        sequence_transform("dwt", wavelet=bad)
    with pytest.raises(ValueError, match=r"wavelet="):
        sequence_transform("dwt2d", grid=(8, 8), wavelet=bad)


@pytest.mark.parametrize("grid", [(4, 4), (2, 9)])
def test_grid_must_match_tokens(grid):
    t = sequence_transform("dwt2d", grid=grid, levels=1)
    with pytest.raises(ValueError, match=r"grid=\(\d+, \d+\) does not match tokens=17"):
        t.forward(np.zeros((17, 3)))


@pytest.mark.parametrize("bad", [(4,), (4, 0), (4.0, 4), "44", None, (4, 4, 1)])
def test_grid_shape_validated(bad):
    with pytest.raises(ValueError, match=r"grid="):
        sequence_transform("dwt2d", grid=bad)


def test_dwt2d_levels_rule_uses_shorter_side():
    with pytest.raises(ValueError, match=r"levels=3 is too deep for min\(grid\)=4"):
        sequence_transform("dwt2d", grid=(4, 64), levels=3).forward(np.zeros((256, 1)))


def test_filter_length_is_the_decomposition_filter():
    from stamp_sim.transforms import DWT, DWT2D

    assert (DWT(wavelet="haar").filter_length, DWT(wavelet="db2").filter_length) == (2, 4)
    assert DWT2D(grid=(8, 8), wavelet="db4").filter_length == pywt.Wavelet("db4").dec_len == 8
