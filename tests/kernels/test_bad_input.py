"""Bad input raises ValueError naming the argument."""

import numpy as np
import pytest

from stamp_sim.kernels import AccumulatorSpec, int_matmul

X = np.zeros((2, 3), dtype=np.int8)
W = np.zeros((3, 4), dtype=np.int8)
ACC = AccumulatorSpec(16, "saturate")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=X.astype(np.float32)), r"^x must hold integers"),
        (dict(w=W.astype(np.float64)), r"^w must hold integers"),
        (dict(x=X.astype(bool)), r"^x must hold integers"),
        (dict(x=np.zeros((2, 3, 1), dtype=np.int8)), r"^x must be 2-D"),
        (dict(w=np.zeros((4, 4), dtype=np.int8)), r"shape mismatch"),
        (dict(x=np.full((2, 3), 8, dtype=np.int8), x_bits=4), r"^x has values in \[8, 8\], outside the 4-bit signed"),
        (dict(w=np.full((3, 4), 16, dtype=np.uint8), w_bits=4), r"^w has values .* 4-bit unsigned range \[0, 15\]"),
        (dict(x_bits=9), r"^x_bits=9 is out of range"),
        (dict(w_bits=1), r"^w_bits=1 is out of range"),
        (dict(x_bits=True), r"^x_bits=True"),
        (dict(x=X.astype(np.int16)), r"^x has dtype int16 \(16 bits\).*x_bits"),
        (dict(acc="int16"), r"^acc='int16' is not an AccumulatorSpec"),
        (dict(backend="cuda"), r"^backend='cuda' is unknown; allowed: auto, numba, reference, torch"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    args = dict(x=X, w=W, acc=ACC)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        int_matmul(**args)


def test_spec_bits_out_of_range():
    with pytest.raises(ValueError, match="bits"):
        AccumulatorSpec(65, "wrap")
    with pytest.raises(ValueError, match="mode"):
        AccumulatorSpec(16, "round")


def test_edge_shapes_and_lists():
    for m, k, n in ((0, 3, 2), (2, 0, 3), (2, 3, 0)):
        res = int_matmul(np.ones((m, k), np.int8), np.ones((k, n), np.int8), ACC)
        assert res.values.shape == (m, n) and not res.values.any() and not res.overflows.any()
    res = int_matmul([[1, 2]], [[3], [4]], ACC, x_bits=4, w_bits=4)  # lists: int64 dtype, declared widths
    assert res.values.tolist() == [[11]]
    assert int_matmul(X, W, {"bits": 16, "mode": "wrap"}).values.shape == (2, 4)  # acc as its dict form
