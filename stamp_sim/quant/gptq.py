"""GPTQ / OPTQ weight quantization (Frantar et al. 2022), with the AXE accumulator budget option.

For a Linear layer y = x W^T with calibration inputs X (n x K), GPTQ minimizes the layer-output
error ||X W^T - X Q^T||_F^2 = tr((W - Q) H (W - Q)^T), H = X^T X, one in-feature column at a
time: quantize column t, then move the remaining columns by the optimal (OBS) correction
W[:, j] -= (w_t - q_t) / U_tt * U_tj, with U the upper Cholesky factor of H^-1 (processing
order). This is the reference `fasterquant`: dead columns, damping, act-order, lazy blocks.
"""

from __future__ import annotations

import torch

from stamp_sim.quant._gpxq import prepare, run_columns
from stamp_sim.quant._uniform import Granularity, QuantizedTensor

__all__ = ["gptq_quantize"]


def _inverse_factor(h: torch.Tensor) -> torch.Tensor:
    """Upper Cholesky factor U of H^-1 (U^T U = H^-1), float64; ValueError if H is not PD.

    One factorization and one triangular inverse instead of the reference's three K^3 steps
    (cholesky, cholesky_inverse, cholesky): with J the order reversal, chol(J H J) = L gives
    H = V V^T with V = J L J upper triangular, so H^-1 = (V^-1)^T V^-1 and U = V^-1 (unique:
    both have a positive diagonal).
    """
    lower, info = torch.linalg.cholesky_ex(torch.flip(h, (0, 1)))
    if int(info) != 0:
        raise ValueError(
            f"hessian + damping is not positive definite (Cholesky failed at column {h.shape[0] - int(info)}); "
            "allowed: a PSD X^T X; raise damp or use more calibration rows"
        )
    upper = torch.flip(lower, (0, 1))
    eye = torch.eye(h.shape[0], dtype=h.dtype, device=h.device)
    return torch.linalg.solve_triangular(upper, eye, upper=True)


def gptq_quantize(
    w,
    hessian,
    bits: int,
    granularity: str | Granularity = Granularity.PER_CHANNEL,
    group_size: int | None = None,
    symmetric: bool = True,
    clip_ratio: float = 1.0,
    damp: float = 0.01,
    act_order: bool = False,
    block_size: int = 128,
    budget=None,
) -> QuantizedTensor:
    """GPTQ-quantize w (out, in) given hessian (in, in) = X^T X summed over calibration rows.

    w : float torch tensor or numpy array (out_features, in_features).
    hessian : (in, in), any positive scale (float64 recommended; only ratios matter).
    bits, granularity ("per-channel" | "per-group"), group_size, symmetric, clip_ratio : as
        `quantize`, whose scale / zero-point / rounding rule is used, so the result has exactly
        `quantize(w, bits, granularity, ...)`'s layout; `.dequantize()` is the fake-quant weight.
    damp : fraction of mean(diag H) added to the diagonal (numerical safety).
    act_order : process columns by descending H_kk; per-group then uses static groups (params
        of each contiguous group fixed up front from the weight).
    block_size : columns per lazy update block (speed only; per-group without act-order rounds
        it up to whole groups, whose params come from the current, error-updated weights).
    budget : None, or an A2QConfig (e.g. A2QConfig.from_accumulator(spec, bits, x_bits, signed,
        method)): AXE, the codes of every (channel, K-tile) meet its L1 budget (see _budget.py);
        needs symmetric per-channel weights and budget.w_bits == bits.

    Cost: one K x K Cholesky and inverse, then O(K^2 * out) multiply-adds; the loop over
    columns is Python, everything within a column is vectorized over output channels.
    """
    p = prepare(w, hessian, bits, granularity, group_size, symmetric, clip_ratio, damp, act_order,
                block_size, budget)
    coef = _inverse_factor(p.h).to(p.w.dtype)
    return run_columns(p, coef, from_original=False)
