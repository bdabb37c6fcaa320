"""Every sequence transform: orthonormal matrix, forward == matrix @ pad(x), exact inverse."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import hadamard

from stamp_sim.transforms import sequence_transform

from ._helpers import pad_rows


def _build(name: str, tokens: int, rng: np.random.Generator):
    if name == "dwt":
        levels = min(3, int(np.log2(tokens)))
        return sequence_transform("dwt", levels=levels)
    if name == "dwt-db2":
        return sequence_transform("dwt", levels=1, wavelet="db2")
    if name == "dwt2d":
        return sequence_transform("dwt2d", grid=(tokens // 3, 3), levels=1)
    if name == "klt":
        return sequence_transform("klt").fit(rng.standard_normal((4, tokens + 3, 8)))
    return sequence_transform(name)


NAMES = ["identity", "dwt", "dwt-db2", "dwt2d", "dct", "wht", "klt"]


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(NAMES), st.integers(6, 70), st.integers(0, 2**32 - 1))
def test_orthonormal_forward_is_matrix_inverse_exact(name, tokens, seed):
    rng = np.random.default_rng(seed)
    if name == "dwt2d":
        tokens -= tokens % 3
    t = _build(name, tokens, rng)
    n = t.padded_length(tokens)
    m = t.matrix(tokens)
    assert m.shape == (n, n)
    np.testing.assert_allclose(m @ m.T, np.eye(n), atol=1e-12)

    x = rng.standard_normal((2, tokens, 5))
    y = t.forward(x)
    np.testing.assert_allclose(y, m @ t.pad(x), atol=1e-12)
    # Energy is preserved, padding adds only zeros.
    np.testing.assert_allclose((y**2).sum(), (x**2).sum(), rtol=1e-12)
    np.testing.assert_allclose(t.inverse(y, tokens=tokens), x, atol=1e-12)
    assert 1 <= t.approx_rows(tokens) <= n


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 80), st.integers(0, 2**32 - 1))
def test_dct_matches_scipy(tokens, seed):
    x = np.random.default_rng(seed).standard_normal((3, tokens, 4))
    t = sequence_transform("dct")
    y = t.forward(x)
    np.testing.assert_allclose(y, scipy.fft.dct(x, type=2, norm="ortho", axis=-2), atol=1e-12)
    np.testing.assert_allclose(t.inverse(y), x, atol=1e-12)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(
        t.forward(x32), scipy.fft.dct(x32, norm="ortho", axis=-2), atol=2e-5
    )


def _sign_changes(rows: np.ndarray) -> np.ndarray:
    return (np.diff(np.sign(rows), axis=1) != 0).sum(axis=1)


@pytest.mark.parametrize("tokens", [1, 2, 5, 8, 16, 33, 64])
def test_wht_is_sequency_ordered_hadamard(tokens):
    t = sequence_transform("wht")
    n = t.padded_length(tokens)
    assert n == 1 << (tokens - 1).bit_length()
    h = hadamard(n) / np.sqrt(n)
    expected = h[np.argsort(_sign_changes(h), kind="stable")]
    m = t.matrix(tokens)
    np.testing.assert_allclose(m, expected, atol=1e-14)
    assert list(_sign_changes(m)) == list(range(n))  # row k has k sign changes
    x = np.random.default_rng(tokens).standard_normal((tokens, 3))
    np.testing.assert_allclose(t.forward(x), expected @ pad_rows(x, n), atol=1e-12)


def test_identity_forward_is_a_copy():
    x = np.ones((4, 2))
    y = sequence_transform("identity").forward(x)
    y[0, 0] = 5.0
    assert x[0, 0] == 1.0


def test_inverse_checks_row_count():
    t = sequence_transform("dwt", levels=2)
    with pytest.raises(ValueError, match=r"y has 10 rows .*allowed: 12"):
        t.inverse(np.zeros((10, 3)), tokens=10)
    with pytest.raises(ValueError, match=r"y has 9 rows .*allowed: 12"):
        t.inverse(np.zeros((9, 3)))
