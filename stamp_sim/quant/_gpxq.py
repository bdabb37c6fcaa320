"""The column loop GPTQ and GPFQ share: checks, Hessian preparation, quantizer params, blocks.

Both quantize the in-feature columns of an (out, in) weight one at a time (in the natural order
or act-order) and push each column's error onto the columns not yet quantized through an
upper-triangular coefficient matrix C (K x K, processing order):

    e_t = (r_t - q_t) / C_tt,    W[:, j] -= e_t * C_tj   for every later j,

with r_t the current (error-updated) column for GPTQ and the original column for GPFQ. Updates
are applied eagerly inside a block of columns and lazily, as one matrix product, to the
columns after it (the reference's lazy batch update). Quantizer parameters come from the
toolkit's `quantize`, and the codes use its rule clamp(round(w / scale) + zero_point, qmin, qmax),
so with zero updates the codes equal `quantize`'s exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch

from stamp_sim._arrays import as_tensor, check_finite
from stamp_sim.quant._budget import AxeClamp, check_budget
from stamp_sim.quant._uniform import Granularity, QuantizedTensor, quantize, quantizer_range

__all__ = ["LayerProblem", "prepare", "run_columns"]

_GRANULARITIES = (Granularity.PER_CHANNEL, Granularity.PER_GROUP)


@dataclass
class LayerProblem:
    """One layer's checked inputs, in the processing order.

    w : (out, K) work-dtype weight, dead columns zeroed, columns permuted by perm.
    h : (K, K) float64 damped Hessian in the processing order.
    perm : (K,) original in-feature index of each processed column.
    scale, zero : (out, K) quantizer params of each processed column; with `dynamic` (per-group
        without act-order) they are filled when the loop reaches a group's first column.
    """

    w: torch.Tensor
    h: torch.Tensor
    perm: torch.Tensor
    scale: torch.Tensor
    zero: torch.Tensor
    dynamic: bool
    bits: int
    gran: Granularity
    group_size: int
    symmetric: bool
    clip_ratio: float
    block_size: int
    budget: object
    shape: torch.Size


def _check_args(w, hessian, bits, granularity, group_size, damp, block_size):
    w, _ = as_tensor(w)
    h, _ = as_tensor(hessian)
    if w.dim() != 2 or not w.is_floating_point():
        raise ValueError(f"w has shape {tuple(w.shape)}, dtype {w.dtype}; allowed: a 2-D float (out, in) weight")
    k = w.shape[1]
    if tuple(h.shape) != (k, k):
        raise ValueError(f"hessian has shape {tuple(h.shape)}; allowed: ({k}, {k}) = (in, in) of w")
    check_finite("w", w)
    check_finite("hessian", h.double())
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise ValueError(f"bits={bits!r} is not an integer; allowed: one width for the whole layer")
    quantizer_range(int(bits), True)  # range check, ValueError naming bits
    try:
        gran = Granularity(granularity)
    except ValueError:
        gran = None
    if gran not in _GRANULARITIES:
        allowed = ", ".join(sorted(g.value for g in _GRANULARITIES))
        raise ValueError(f"granularity={granularity!r} is not supported; allowed: {allowed}")
    if gran is Granularity.PER_GROUP and (group_size is None or group_size < 1 or k % group_size):
        raise ValueError(f"group_size={group_size!r} does not divide in_features={k}; allowed: a divisor of {k}")
    if isinstance(damp, bool) or not isinstance(damp, (int, float)) or not 0.0 <= damp < 1e3:
        raise ValueError(f"damp={damp!r} is out of range; allowed: a float in [0, 1000)")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size={block_size!r} is invalid; allowed: an integer >= 1")
    return w, h, gran


def prepare(w, hessian, bits, granularity, group_size, symmetric, clip_ratio, damp, act_order,
            block_size, budget) -> LayerProblem:
    """Check the inputs; dead columns, act-order, params and damping as the reference does.

    Dead columns (H_kk = 0: the input feature never fired) get H_kk = 1 and weight 0. Damping
    adds damp * mean(diag H) to the diagonal. act_order processes columns by descending H_kk.
    Per-channel params come from the whole weight (before dead columns are zeroed, as the
    reference); per-group with act_order uses static groups (params of each contiguous group
    from the weight up front), so groups stay contiguous in-features.
    """
    w, h, gran = _check_args(w, hessian, bits, granularity, group_size, damp, block_size)
    shape, (out, k) = w.shape, w.shape
    if budget is not None:
        check_budget(budget, int(bits), symmetric, gran.value, k)
    work = (w.float() if w.dtype in (torch.float16, torch.bfloat16) else w).clone()
    h = h.to(device=work.device, dtype=torch.float64).clone()
    diag = torch.diagonal(h)
    dead = diag == 0
    perm = (torch.argsort(diag, descending=True, stable=True) if act_order
            else torch.arange(k, device=work.device))
    dynamic = gran is Granularity.PER_GROUP and not act_order
    if gran is Granularity.PER_CHANNEL:
        qt = quantize(work, bits, "per-channel", symmetric=symmetric, clip_ratio=clip_ratio)
        scale, zero = qt.scale.expand(out, k), qt.zero_point.expand(out, k)
    work[:, dead] = 0
    diag[dead] = 1.0
    if gran is Granularity.PER_GROUP and not dynamic:
        qt = quantize(work, bits, "per-group", symmetric=symmetric, group_size=group_size, clip_ratio=clip_ratio)
        grp = perm // group_size  # the static group of each processed column
        scale, zero = qt.scale[:, grp, 0], qt.zero_point[:, grp, 0]
    elif dynamic:
        scale, zero = torch.ones_like(work), torch.zeros_like(work)
    h = h[perm][:, perm]
    torch.diagonal(h).add_(damp * float(torch.diagonal(h).mean()))
    return LayerProblem(work[:, perm].contiguous(), h, perm, scale.contiguous(), zero.contiguous(), dynamic,
                        int(bits), gran, group_size if gran is Granularity.PER_GROUP else k, symmetric,
                        clip_ratio, block_size, budget, shape)


def _fill_group(p: LayerProblem, cols: torch.Tensor, t: int) -> None:
    """Dynamic per-group params for processed columns t..t+G from their current values cols."""
    qt = quantize(cols, p.bits, "per-channel", symmetric=p.symmetric, clip_ratio=p.clip_ratio)
    p.scale[:, t : t + p.group_size] = qt.scale
    p.zero[:, t : t + p.group_size] = qt.zero_point


def _block(p: LayerProblem, w1: torch.Tensor, c1: torch.Tensor, orig1, i1: int, q: torch.Tensor,
           axe: AxeClamp | None) -> torch.Tensor:
    """Quantize processed columns i1..i1+L (w1, updated in place); returns their errors (out, L).

    c1 : (L, L) block of the coefficient matrix; orig1 : None (GPTQ: the error of the current
    column) or (out, L) original columns (GPFQ); q : (out, K) codes, written in place.
    """
    qmin, qmax = quantizer_range(p.bits, p.symmetric)
    err = torch.empty_like(w1)
    for i in range(w1.shape[1]):
        t = i1 + i
        if p.dynamic and t % p.group_size == 0:  # blocks are whole groups: w1 holds the group
            _fill_group(p, w1[:, i : i + p.group_size], t)
        col, s, z = w1[:, i], p.scale[:, t], p.zero[:, t]
        if axe is None:
            code = torch.clamp(torch.round(col / s) + z, qmin, qmax)  # quantize()'s rule
        else:
            code, shrunk = axe.codes(col / s, int(p.perm[t]))
        q[:, t] = code
        ref = col if orig1 is None else orig1[:, i]
        if axe is not None:
            # AXE: the soft threshold is a deliberate move toward the L1 ball, not an error to
            # compensate (compensating it only inflates later columns that the clamp then cuts):
            # feed back only what rounding and clamping of the thresholded value lose.
            ref = ref - (col - shrunk * s)
        e = (ref - (code - z) * s) / c1[i, i]
        err[:, i] = e
        if i + 1 < w1.shape[1]:
            w1[:, i + 1 :].addr_(e, c1[i, i + 1 :], alpha=-1.0)  # in place: no (out, L) temporary
    return err


def run_columns(p: LayerProblem, coef: torch.Tensor, from_original: bool) -> QuantizedTensor:
    """Quantize p column by column with error feedback through `coef` (K x K, upper, work dtype).

    from_original : the error is original - dequantized (GPFQ) instead of current - dequantized
    (GPTQ). Returns the QuantizedTensor `quantize(w, bits, granularity, ...)` would return.
    """
    w = p.w
    out, k = w.shape
    orig = w.clone() if from_original else None
    q = torch.empty_like(w)
    axe = None
    if p.budget is not None:
        axe = AxeClamp(p.budget, (w / p.scale)[:, torch.argsort(p.perm)], quantizer_range(p.bits, True)[1])
    bs = p.block_size
    if p.dynamic:  # whole groups per block, so a group's params see its current weights
        bs = -(-bs // p.group_size) * p.group_size
    for i1 in range(0, k, bs):
        i2 = min(i1 + bs, k)
        w1 = w[:, i1:i2].clone()
        err = _block(p, w1, coef[i1:i2, i1:i2], None if orig is None else orig[:, i1:i2], i1, q, axe)
        if i2 < k:
            w[:, i2:].sub_(err @ coef[i1:i2, i2:])
    inv = torch.argsort(p.perm)
    q, scale, zero = q[:, inv], p.scale[:, inv], p.zero[:, inv]
    if axe is not None:
        axe.verify(q)
    return _pack(p, q, scale, zero)


def _pack(p: LayerProblem, q, scale, zero) -> QuantizedTensor:
    """The layout quantize() gives: per-channel q (out, K), scale (out, 1); per-group split out."""
    out, k = q.shape
    bits = torch.tensor(p.bits, device=q.device)
    if p.gran is Granularity.PER_GROUP:
        ng, g = k // p.group_size, p.group_size
        return QuantizedTensor(q.reshape(out, ng, g), scale[:, ::g].reshape(out, ng, 1).contiguous(),
                               zero[:, ::g].reshape(out, ng, 1).contiguous(), bits, p.shape, p.symmetric)
    return QuantizedTensor(q, scale[:, :1].contiguous(), zero[:, :1].contiguous(), bits, p.shape, p.symmetric)
