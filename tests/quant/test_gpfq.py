"""GPFQ: the Hessian form equals the greedy path-following rule run on X itself, beats RTN on
correlated inputs, equals RTN for white inputs, and has quantize()'s layout."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.quant import gpfq_quantize, quantize, quantizer_range
from tests.quant._gpxq_data import layer, output_error


def greedy_on_x(w: torch.Tensor, x: torch.Tensor, bits: int) -> torch.Tensor:
    """The definition: u = X (w_{<t} - q_{<t}); q_t = argmin_q ||u + w_t X_t - q X_t||, per channel.

    The argmin over the grid is found by trying every code (no rounding shortcut).
    """
    s = quantize(w, bits, "per-channel").scale[:, 0]
    lo, hi = quantizer_range(bits, True)
    grid = torch.arange(lo, hi + 1, dtype=w.dtype)
    u = torch.zeros(x.shape[0], w.shape[0], dtype=w.dtype)  # (n, out)
    codes = torch.zeros_like(w)
    for t in range(w.shape[1]):
        xt = x[:, t]
        target = u + torch.outer(xt, w[:, t])  # (n, out)
        # residual for each code c: target - c * s * x_t; pick the smallest norm per channel
        res = target.unsqueeze(-1) - xt[:, None, None] * (s[None, :, None] * grid[None, None, :])
        best = grid[torch.argmin((res**2).sum(0), dim=-1)]
        codes[:, t] = best
        u = target - torch.outer(xt, best * s)
    return codes


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), bits=st.integers(2, 5), k=st.integers(2, 24), block=st.integers(1, 8))
def test_hessian_form_equals_greedy_on_x(seed, bits, k, block):
    w, x, h = layer(4, k, seed)
    got = gpfq_quantize(w, h, bits, damp=0.0, block_size=block).q
    ref = greedy_on_x(w, x, bits)
    assert (got != ref).float().mean() <= 0.02  # float ties may flip a rare code; nothing more


def test_hand_computed_1x3():
    """w = [0.25, 0.29, 0.6], 3 bits (scale 0.2), H tridiagonal (0.5 off-diagonal), no damping.

    q*_0 = 0.25 -> 1.25 -> 1 (0.2), e_0 = 0.05; q*_1 = 0.29 + 0.5 * 0.05 = 0.315 -> 1.575 -> 2
    (0.4), e_1 = -0.11; q*_2 = 0.6 + 0 * 0.05 + 0.5 * (-0.11) = 0.545 -> 2.725 -> 3. RTN: [1, 1, 3].
    """
    w = torch.tensor([[0.25, 0.29, 0.6]], dtype=torch.float64)
    h = torch.tensor([[1, 0.5, 0], [0.5, 1, 0.5], [0, 0.5, 1]], dtype=torch.float64)
    assert gpfq_quantize(w, h, 3, damp=0.0).q.tolist() == [[1, 2, 3]]
    x = torch.linalg.cholesky(h).T  # X^T X = H: the same case through the definition
    assert greedy_on_x(w, x, 3).tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("act_order", [False, True])
def test_gpfq_beats_rtn_on_fixed_seeds(act_order):
    for seed in range(8):
        w, x, h = layer(24, 64, seed)
        rtn = quantize(w, 4, "per-channel").dequantize()
        gq = gpfq_quantize(w, h, 4, act_order=act_order).dequantize()
        assert output_error(x, w, gq) < output_error(x, w, rtn), seed


@pytest.mark.parametrize("gran,group", [("per-channel", None), ("per-group", 8)])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("act_order", [False, True])
def test_diagonal_hessian_rtn_and_layout(gran, group, symmetric, act_order):
    w, _, _ = layer(6, 32, 7)
    h = torch.diag(torch.linspace(0.5, 2.0, 32, dtype=torch.float64))
    ref = quantize(w, 4, gran, symmetric=symmetric, group_size=group)
    got = gpfq_quantize(w, h, 4, gran, group_size=group, symmetric=symmetric, act_order=act_order)
    assert torch.equal(got.q, ref.q) and torch.equal(got.scale, ref.scale)
    assert got.zero_point.shape == ref.zero_point.shape and got.bits.shape == ref.bits.shape


def test_dead_columns_give_zero_weights():
    w, x, _ = layer(8, 32, 8)
    x[:, [2, 17]] = 0
    deq = gpfq_quantize(w, x.T @ x, 4, act_order=True).dequantize()
    assert torch.equal(deq[:, [2, 17]], torch.zeros(8, 2, dtype=deq.dtype))
