"""GPFQ, greedy path-following quantization (Lybrand & Saab 2021; Zhang & Saab 2023), Hessian form.

Per output channel, with the float input equal to the quantized model's input (X = X~, n x K),
GPFQ walks the in-features t = 1..K keeping the running output error u_t = X (w_{<=t} - q_{<=t})
and picks q_t = argmin_q ||u_{t-1} + w_t X_t - q X_t||_2 over the quantizer's grid. The
objective is a 1-D quadratic in q, minimized without the grid at
    q*_t = w_t + <X_t, u_{t-1}> / ||X_t||^2 = w_t + sum_{s<t} H_ts (w_s - q_s) / H_tt,  H = X^T X,
so the greedy choice is the nearest grid point to q*_t: round-to-nearest of q*_t. Unlike GPTQ
the feedback uses the original weights w_s (not the updated ones) and only the diagonal H_tt
normalizes it; no matrix inverse is needed.
"""

from __future__ import annotations

import torch

from stamp_sim.quant._gpxq import prepare, run_columns
from stamp_sim.quant._uniform import Granularity, QuantizedTensor

__all__ = ["gpfq_quantize"]


def gpfq_quantize(
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
    """GPFQ-quantize w (out, in) given hessian (in, in) = X^T X summed over calibration rows.

    q_t = Q(w_t + sum_{s<t} H_ts (w_s - q_s) / (H_tt + lambda)), lambda = damp * mean(diag H)
    (damping as GPTQ, for numerical safety), t in the processing order; dead columns (H_tt = 0)
    quantize to 0. Parameters and the returned QuantizedTensor are exactly as `gptq_quantize`
    (same quantizer rule, per-group handling, act_order, block_size and AXE `budget`).

    Cost: O(K^2 * out) multiply-adds with block-lazy updates; no factorization.
    """
    p = prepare(w, hessian, bits, granularity, group_size, symmetric, clip_ratio, damp, act_order,
                block_size, budget)
    # W[:, j] -= e_s * C_sj with e_s = w_s - q_s gives W[:, j] += e_s H_sj / H_jj: C_sj = -H_sj / H_jj.
    coef = -torch.triu(p.h, diagonal=1) / torch.diagonal(p.h).unsqueeze(0)
    coef.diagonal().fill_(1.0)
    return run_columns(p, coef.to(p.w.dtype), from_original=True)
