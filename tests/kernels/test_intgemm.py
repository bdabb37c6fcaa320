"""The exact integer GEMM under every backend: int8 fast path, offsets, K chunks, float64 fallback."""

import numpy as np
import pytest

from stamp_sim.kernels.numba_backend import _intgemm
from stamp_sim.kernels.numba_backend._intgemm import exact_matmul


def _check(x, w):
    got = exact_matmul(x, w, (int(x.min()), int(x.max())), (int(w.min()), int(w.max())))
    np.testing.assert_array_equal(got, x.astype(np.int64) @ w.astype(np.int64))
    return got


def test_int8_extremes_are_exact():
    # -128 * -128 pairs would saturate an int16 pair sum (vpmaddubsw); the result must not.
    x = np.full((5, 1000), -128, dtype=np.int8)
    w = np.full((1000, 3), -128, dtype=np.int8)
    assert _check(x, w)[0, 0] == 1000 * 16384


@pytest.mark.parametrize("x_range, w_range", [((0, 255), (-128, 127)), ((0, 255), (0, 255)), ((0, 128), (0, 128))])
def test_operands_outside_int8_are_shifted_exactly(x_range, w_range):
    rng = np.random.default_rng(1)
    x = rng.integers(x_range[0], x_range[1] + 1, size=(7, 300)).astype(np.int16)
    w = rng.integers(w_range[0], w_range[1] + 1, size=(300, 9)).astype(np.int16)
    x[0] = x_range[1]
    w[:, 0] = w_range[1]
    _check(x, w)


def test_k_beyond_int32_chunk_is_exact():
    k = 140_000  # k * 128 * 128 > 2^31: needs the K chunks
    x = np.full((2, k), -128, dtype=np.int8)
    w = np.full((k, 2), -128, dtype=np.int8)
    got = _check(x, w)
    assert got.dtype == np.int64 and got[0, 0] == k * 16384


@pytest.mark.parametrize("engine", ["float32", "float64"])
def test_float_engines_are_exact(monkeypatch, engine):
    monkeypatch.setenv("STAMP_SIM_EXACT_GEMM", engine)
    rng = np.random.default_rng(2)
    _check(rng.integers(0, 256, size=(6, 500)).astype(np.uint8), rng.integers(-128, 128, size=(500, 4)).astype(np.int8))


def test_span_over_256_is_refused():
    with pytest.raises(ValueError, match="span"):
        exact_matmul(np.array([[0, 300]]), np.array([[1], [1]]), (0, 300), (1, 1))
