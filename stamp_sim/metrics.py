"""Accuracy metrics: SQNR, energy concentration, the STaMP Theorem 1 bound, KL, perplexity."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from stamp_sim._arrays import as_tensor

__all__ = [
    "cosine_similarity",
    "energy_concentration",
    "kl_divergence",
    "perplexity",
    "sqnr_db",
    "theorem1_bound",
    "top1_agreement",
]


def sqnr_db(reference, approx) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(sum ref^2 / sum (ref - approx)^2).

    +inf when approx equals reference exactly.
    """
    r, _ = as_tensor(reference)
    a, _ = as_tensor(approx)
    if r.shape != a.shape:
        raise ValueError(f"approx has shape {tuple(a.shape)}; allowed: the reference's {tuple(r.shape)}")
    r = r.double()
    noise = (r - a.double()).pow(2).sum().item()
    signal = r.pow(2).sum().item()
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def energy_concentration(x, k: int, rows: str = "first") -> float:
    """Share (0..1) of the energy of x (..., rows, features) held by k rows.

    rows="first": the first k rows (what STaMP's first-k allocation keeps at high bits);
    rows="top": the k highest-energy rows.
    """
    t, _ = as_tensor(x)
    if rows not in ("first", "top"):
        raise ValueError(f"rows={rows!r} is unknown; allowed: first, top")
    e = t.double().pow(2).sum(dim=-1)  # (..., rows)
    e = e.reshape(-1, e.shape[-1]).sum(dim=0)
    total = float(e.sum())
    if total == 0.0:
        return 0.0
    k = min(k, e.numel())
    part = e[:k].sum() if rows == "first" else torch.topk(e, k).values.sum()
    return float(part) / total


def theorem1_bound(transformed, bits, symmetric: bool = False) -> float:
    """Upper bound on ||L^-1 Q(LX) - X||^2 for per-row min-max quantization (squared units of x).

    transformed : LX, (..., rows, d); bits : widths per row (..., rows) or an int.
    Asymmetric min-max (the paper's Theorem 1): (d/2) * sum_i ||row_i||^2 / (2^b_i - 1)^2.
    Symmetric narrow range (step max|x| / (2^(b-1) - 1)): each element errs by at most half
    a step, so the same argument gives d * sum_i ||row_i||^2 / (2^b_i - 2)^2.
    Orthonormal L leaves the error's norm unchanged, so the bound holds in either domain.
    """
    t, _ = as_tensor(transformed)
    d = t.shape[-1]
    e = t.double().pow(2).sum(dim=-1)
    b = torch.as_tensor(bits, dtype=torch.float64, device=t.device)
    if symmetric:
        return float((d * e / (2.0**b - 2.0) ** 2).sum())
    return float((d / 2.0 * e / (2.0**b - 1.0) ** 2).sum())


def kl_divergence(logits_p, logits_q) -> float:
    """Mean over positions of KL(P || Q) in nats, P = softmax(logits_p) (the float model)."""
    p, _ = as_tensor(logits_p)
    q, _ = as_tensor(logits_q)
    lp = F.log_softmax(p.double(), dim=-1)
    lq = F.log_softmax(q.double(), dim=-1)
    return float((lp.exp() * (lp - lq)).sum(dim=-1).mean())


def perplexity(logits, targets) -> float:
    """exp(mean next-token cross-entropy); logits (..., V) predict targets (...) (ids)."""
    lg, _ = as_tensor(logits)
    tg, _ = as_tensor(targets)
    nll = F.cross_entropy(lg.reshape(-1, lg.shape[-1]).double(), tg.reshape(-1).long())
    return float(torch.exp(nll))


def top1_agreement(logits_p, logits_q) -> float:
    """Share (0..1) of positions where both models pick the same next token."""
    p, _ = as_tensor(logits_p)
    q, _ = as_tensor(logits_q)
    return float((p.argmax(-1) == q.argmax(-1)).double().mean())


def cosine_similarity(reference, approx) -> float:
    """Mean cosine similarity of the last-axis vectors (e.g. per token embeddings)."""
    r, _ = as_tensor(reference)
    a, _ = as_tensor(approx)
    return float(F.cosine_similarity(r.double(), a.double(), dim=-1).mean())
