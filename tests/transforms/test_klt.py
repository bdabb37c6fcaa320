"""KLT: decreasing energy on calibration data, optimal compaction versus the DCT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stamp_sim.transforms import NotFittedError, sequence_transform


def ar1(rng: np.random.Generator, batch: int, tokens: int, features: int, rho: float) -> np.ndarray:
    """Stationary AR(1) along tokens, unit variance: x_t = rho x_{t-1} + sqrt(1-rho^2) e_t."""
    x = np.empty((batch, tokens, features))
    x[:, 0] = rng.standard_normal((batch, features))
    noise = rng.standard_normal((batch, tokens, features)) * np.sqrt(1 - rho**2)
    for i in range(1, tokens):
        x[:, i] = rho * x[:, i - 1] + noise[:, i]
    return x


def row_energy(y: np.ndarray) -> np.ndarray:
    """Mean squared value per row of (..., rows, features), averaged over the rest."""
    return (y**2).mean(axis=-1).reshape(-1, y.shape[-2]).mean(axis=0)


def test_rows_by_decreasing_energy_on_calibration_data():
    rng = np.random.default_rng(0)
    calib = ar1(rng, 8, 48, 64, 0.9)
    t = sequence_transform("klt").fit(calib)
    energy = row_energy(t.forward(calib))
    assert np.all(np.diff(energy) <= 1e-12)
    np.testing.assert_allclose(energy, t.eigenvalues.numpy(), rtol=1e-10, atol=1e-12)


def test_optimal_energy_compaction_versus_dct_on_ar1():
    rng = np.random.default_rng(1)
    tokens = 64
    calib = ar1(rng, 16, tokens, 256, 0.95)
    klt = sequence_transform("klt").fit(calib)
    dct = sequence_transform("dct")

    # On the calibration data KLT's top-k energy is the maximum over all k-row
    # orthonormal bases (Ky Fan), so it beats the DCT's best k rows for every k.
    klt_cum = np.cumsum(row_energy(klt.forward(calib)))
    dct_cum = np.cumsum(np.sort(row_energy(dct.forward(calib)))[::-1])
    assert np.all(klt_cum >= dct_cum - 1e-9)
    assert klt_cum[7] > dct_cum[7]

    # On fresh data from the same process the advantage holds up to sampling noise,
    # and both compact far more than no transform.
    test = ar1(rng, 16, tokens, 256, 0.95)
    top8 = {
        name: row_energy(t.forward(test))[:8].sum() / row_energy(test).sum()
        for name, t in [("klt", klt), ("dct", dct), ("identity", sequence_transform("identity"))]
    }
    assert top8["klt"] >= top8["dct"] - 0.01
    assert top8["dct"] > 0.8 > 0.2 > top8["identity"]


def test_fit_accepts_torch_and_is_deterministic():
    x = np.random.default_rng(2).standard_normal((3, 10, 7))
    a = sequence_transform("klt").fit(x).matrix(10)
    b = sequence_transform("klt").fit(torch.from_numpy(x).float()).matrix(10)
    np.testing.assert_allclose(a, b, atol=1e-5)
    # The largest-magnitude entry of every row is positive (reproducible signs).
    assert np.all(a[np.arange(10), np.abs(a).argmax(axis=1)] > 0)


def test_shorter_inputs_are_padded_longer_refused():
    t = sequence_transform("klt").fit(np.random.default_rng(3).standard_normal((2, 12, 5)))
    x = np.random.default_rng(4).standard_normal((9, 5))
    y = t.forward(x)
    assert y.shape == (12, 5) and t.padded_length(9) == 12
    np.testing.assert_allclose(t.inverse(y, tokens=9), x, atol=1e-12)
    with pytest.raises(ValueError, match=r"tokens=13 .*\[1, 12\]"):
        t.forward(np.zeros((13, 5)))


def test_unfitted_use_is_a_clear_error():
    t = sequence_transform("klt")
    for call in (
        lambda: t.forward(np.zeros((4, 2))),
        lambda: t.inverse(np.zeros((4, 2))),
        lambda: t.matrix(4),
        lambda: t.padded_length(4),
    ):
        with pytest.raises(NotFittedError, match=r"klt is not fitted; call \.fit"):
            call()
    assert issubclass(NotFittedError, ValueError)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fit_refuses_nan_and_inf(bad):
    x = np.zeros((2, 4, 3))
    x[1, 2, 0] = bad
    with pytest.raises(ValueError, match=r"calibration_activations holds 1 NaN/Inf"):
        sequence_transform("klt").fit(x)
