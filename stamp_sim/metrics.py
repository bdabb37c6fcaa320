"""Accuracy metrics, the one place they are computed: perplexity, KL, top-1, SQNR, cosine.

``stamp-sim run``, ``stamp-sim sensitivity`` and ``stamp-sim validate`` all measure
accuracy through these functions, so one config on the same windows gets the same
numbers whichever workflow reports it. Next-token metrics over several windows are
summed with ``NextTokenAccuracy`` (sums, then one division), SQNR from running sums
with ``sqnr_from_sums``. Also the STaMP quantities: energy concentration and the
Theorem 1 bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from stamp_sim._arrays import as_tensor

__all__ = [
    "NextTokenAccuracy",
    "SignalNoise",
    "cosine_similarity",
    "energy_concentration",
    "kl_divergence",
    "log_probs",
    "mean_squared_error",
    "next_token_nll",
    "perplexity",
    "sqnr_db",
    "sqnr_from_sums",
    "sum_of_squares",
    "theorem1_bound",
    "top1_agreement",
]


def sqnr_from_sums(signal: float, noise: float) -> float:
    """10 log10(signal / noise) in dB from energies (sums of squares, >= 0).

    No noise is +inf (exact, even for a zero signal); a zero signal with noise is -inf.
    Never raises on zeros: a layer that sees only zeros is a valid measurement.
    """
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def sum_of_squares(t: torch.Tensor) -> float:
    """sum(t^2) in float64, the same bits whatever torch's thread count.

    numpy's pairwise sum, not torch's: torch splits a full reduction across its intra-op
    threads, so the last bits would depend on how many threads the process has (a Dask
    worker has one), and one run would not give the same bytes everywhere.
    """
    values = t.detach().cpu().numpy().astype(np.float64)  # a fresh copy: squared in place
    return float(np.square(values, out=values).sum())


@dataclass
class SignalNoise:
    """Running sums of signal energy (ref^2) and noise energy ((ref - approx)^2)."""

    signal: float = 0.0
    noise: float = 0.0

    def add(self, reference: torch.Tensor, approx: torch.Tensor) -> None:
        """Add one pair of same-shape tensors (float64 sums)."""
        r = reference.detach().double()
        self.signal += sum_of_squares(r)
        self.noise += sum_of_squares(r - approx.detach().double())

    @property
    def sqnr_db(self) -> float:
        return sqnr_from_sums(self.signal, self.noise)


def sqnr_db(reference, approx) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(sum ref^2 / sum (ref - approx)^2).

    +inf when approx equals reference exactly; -inf for a zero reference with noise.
    """
    r, _ = as_tensor(reference)
    a, _ = as_tensor(approx)
    if r.shape != a.shape:
        raise ValueError(f"approx has shape {tuple(a.shape)}; allowed: the reference's {tuple(r.shape)}")
    sums = SignalNoise()
    sums.add(r, a)
    return sums.sqnr_db


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


def log_probs(logits) -> torch.Tensor:
    """log-softmax over the last axis in float64: a reference's, computed once and reused."""
    t, _ = as_tensor(logits)
    return F.log_softmax(t.double(), dim=-1)


def _kl_per_position(logits_p: torch.Tensor, logits_q: torch.Tensor, log_p: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """KL(P || Q) in nats at every position, float64; P = softmax(logits_p) (or exp(log_p))."""
    lp = F.log_softmax(logits_p.double(), dim=-1) if log_p is None else log_p
    lq = F.log_softmax(logits_q.double(), dim=-1)
    return (lp.exp() * (lp - lq)).sum(dim=-1)


def _nll_sum(logits: torch.Tensor, ids: torch.Tensor, chunk: int = 256) -> tuple[float, int]:
    """(summed next-token NLL in nats, predictions): positions 0..T-2 predict ids 1..T-1;
    float64, `chunk` positions at a time (a long window's float64 logits need not fit at once)."""
    lg = logits[..., :-1, :].reshape(-1, logits.shape[-1])
    target = ids[..., 1:].reshape(-1).long()
    total = 0.0
    for start in range(0, lg.shape[0], chunk):
        total += float(F.cross_entropy(lg[start:start + chunk].double(), target[start:start + chunk], reduction="sum"))
    return total, int(target.numel())


def kl_divergence(logits_p, logits_q, log_p: torch.Tensor | None = None) -> float:
    """Mean over positions of KL(P || Q) in nats, P = softmax(logits_p) (the float model).

    log_p : log_probs(logits_p), when the caller keeps it across many Q.
    """
    p, _ = as_tensor(logits_p)
    q, _ = as_tensor(logits_q)
    return float(np.mean(_kl_per_position(p, q, log_p).cpu().numpy()))  # numpy: see sum_of_squares


def mean_squared_error(reference, approx) -> float:
    """Mean of (reference - approx)^2 over every element (e.g. logits), float64."""
    r, _ = as_tensor(reference)
    a, _ = as_tensor(approx)
    return float(np.mean(np.square((r.double() - a.double()).cpu().numpy())))  # numpy: see sum_of_squares


def next_token_nll(logits, ids) -> float:
    """Mean next-token negative log-likelihood in nats of windows ids (..., T) under logits (..., T, V)."""
    lg, _ = as_tensor(logits)
    tg, _ = as_tensor(ids)
    total, count = _nll_sum(lg, tg)
    return total / count


def perplexity(logits, targets) -> float:
    """exp(mean cross-entropy) of logits (..., V) against aligned target ids (...)."""
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


@dataclass
class NextTokenAccuracy:
    """Perplexity, KL(P_fp || P_q) and top-1 agreement summed over windows, then divided once.

    ``add(reference_logits, logits, ids)`` per window (or a stack of windows): logits
    (..., T, V), ids (..., T). ``result()`` gives ppl (exp of the mean NLL over every
    prediction), kl (nats, mean over every position) and top1 (share of positions).
    """

    nll: float = 0.0
    predictions: int = 0
    kl: float = 0.0
    agree: int = 0
    positions: int = 0

    #: Positions per float64 pass: a 2048-token window over a 49k vocabulary would need
    #: several 0.8 GB float64 copies at once; chunks of this many keep each near 100 MB.
    chunk_positions = 256

    def add(self, reference: torch.Tensor, logits: torch.Tensor, ids: torch.Tensor) -> None:
        total, count = _nll_sum(logits, ids)
        self.nll += total
        self.predictions += count
        ref = reference.reshape(-1, reference.shape[-1])
        out = logits.reshape(-1, logits.shape[-1])
        for start in range(0, ref.shape[0], self.chunk_positions):
            stop = start + self.chunk_positions
            self.kl += float(_kl_per_position(ref[start:stop], out[start:stop]).sum())
        self.agree += int((reference.argmax(-1) == logits.argmax(-1)).sum())
        self.positions += int(reference.shape[:-1].numel())

    def result(self) -> dict[str, float]:
        return {"ppl": math.exp(self.nll / self.predictions), "kl": self.kl / self.positions,
                "top1": self.agree / self.positions}
