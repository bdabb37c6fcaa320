"""Bit allocation over the rows (tokens) of a, possibly transformed, activation.

Theorem 1 of STaMP bounds the error of per-row min-max quantization by
sum_i e_i / (2^b_i - 1)^2 (times d/2), e_i the energy of row i. The allocations here
decide b_i: ``first-k`` (the paper: the first k rows of the DWT output, its low-frequency
band), ``magnitude`` (the k highest-energy rows, the baseline reviewers asked for) and
``energy`` (minimise the bound under an average-bit budget over a set of allowed widths).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from stamp_sim._arrays import as_tensor

__all__ = ["BitAllocation", "allocate_bits", "row_energy", "ALLOCATION_METHODS"]

ALLOCATION_METHODS = ("energy", "first-k", "magnitude")


@dataclass(frozen=True)
class BitAllocation:
    """Per-row widths in bits, shape (..., rows) (one allocation per sequence)."""

    bits: torch.Tensor

    @property
    def avg_bits(self) -> float:
        """Exact average width in bits over all rows (e.g. 4.0625 = (64*8 + 4032*4)/4096)."""
        return float(self.bits.double().mean()) if self.bits.numel() else 0.0

    @property
    def total_bits(self) -> int:
        """Sum of row widths, in bits per feature."""
        return int(self.bits.sum())


def row_energy(x) -> torch.Tensor:
    """Energy of each row, sum of squares over features: (..., rows, features) -> (..., rows)."""
    t, _ = as_tensor(x)
    return t.double().pow(2).sum(dim=-1)


def _matched_budget(rows: int, k: int, low: int, high: int) -> int:
    k = min(k, rows)
    return k * high + (rows - k) * low


def _energy_optimal(energy: torch.Tensor, budget_bits: int, allowed: tuple[int, ...]) -> torch.Tensor:
    """Widths minimising sum e_i/(2^b_i - 1)^2 with sum b_i <= budget_bits, b_i in allowed.

    e/(2^b - 1)^2 is convex and decreasing in b, so each row's upgrade steps have
    decreasing gain per bit; taking steps greedily by gain per bit until the budget is
    spent is optimal when the allowed widths are equally spaced (e.g. {4, 8} or 2..8),
    and is the convex-relaxation (Lagrangian) solution otherwise.
    """
    allowed_t = torch.tensor(allowed, dtype=torch.float64, device=energy.device)
    err = 1.0 / (2.0**allowed_t - 1.0) ** 2  # (A,)
    step_cost = allowed_t[1:] - allowed_t[:-1]  # (A-1,) bits per upgrade step
    gain = energy.unsqueeze(-1) * (err[:-1] - err[1:]) / step_cost  # (..., rows, A-1)
    rows = energy.shape[-1]
    lead = energy.shape[:-1]
    flat_gain = gain.reshape(*lead, -1)
    cost = step_cost.repeat(rows).expand_as(flat_gain)
    # Stable sort by gain; ties keep row order and, within a row, step order (convexity).
    order = torch.argsort(-flat_gain, dim=-1, stable=True)
    spent = torch.cumsum(torch.gather(cost, -1, order), dim=-1)
    room = budget_bits - rows * allowed[0]
    take_sorted = spent <= room
    take = torch.zeros_like(take_sorted)
    take.scatter_(-1, order, take_sorted)
    steps = take.reshape(*lead, rows, len(allowed) - 1).sum(dim=-1)  # steps taken per row
    return allowed_t.to(torch.int64)[steps]


def allocate_bits(
    x=None,
    method: str = "first-k",
    *,
    rows: int | None = None,
    k: int = 64,
    low_bits: int = 4,
    high_bits: int = 8,
    allowed: tuple[int, ...] | None = None,
    avg_bits: float | None = None,
    energy=None,
) -> BitAllocation:
    """Choose a width in bits for every row.

    x : (..., rows, features) activation (transformed or not); or pass `energy` (..., rows).
    method : "first-k", "magnitude" or "energy".
    k : rows at high_bits for first-k / magnitude; also sets the default budget of
        ``energy``: the same average bits as k rows at high_bits and the rest at low_bits.
    allowed : widths ``energy`` may use (default (low_bits, high_bits)).
    avg_bits : average-bit budget of ``energy`` (bits per row), instead of the matched one.
    """
    if method not in ALLOCATION_METHODS:
        raise ValueError(f"method={method!r} is unknown; allowed: {', '.join(ALLOCATION_METHODS)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k={k!r} is invalid; allowed: integers >= 0")
    for name, b in (("low_bits", low_bits), ("high_bits", high_bits)):
        if isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 16:
            raise ValueError(f"{name}={b!r} is out of range; allowed: integers 2..16")
    if energy is None and x is not None:
        energy = row_energy(x)
    elif energy is not None:
        energy, _ = as_tensor(energy)
        energy = energy.double()
    if energy is None and rows is None:
        raise ValueError("allocate_bits needs x, energy or rows")
    device = energy.device if energy is not None else torch.device("cpu")
    n = int(energy.shape[-1]) if energy is not None else int(rows)
    lead = tuple(energy.shape[:-1]) if energy is not None else ()
    kk = min(k, n)
    if method == "first-k":
        bits = torch.full((*lead, n), low_bits, dtype=torch.int64, device=device)
        bits[..., :kk] = high_bits
        return BitAllocation(bits)
    if energy is None:
        raise ValueError(f"method={method!r} needs the activation (x) or its row energy")
    if method == "magnitude":
        bits = torch.full((*lead, n), low_bits, dtype=torch.int64, device=device)
        top = torch.topk(energy, kk, dim=-1).indices
        bits.scatter_(-1, top, high_bits)
        return BitAllocation(bits)
    widths = tuple(sorted(set(allowed or (low_bits, high_bits))))
    if any(isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 16 for b in widths):
        raise ValueError(f"allowed={allowed!r} is invalid; allowed: integers 2..16")
    budget = _matched_budget(n, kk, low_bits, high_bits) if avg_bits is None else int(avg_bits * n + 1e-9)
    if budget < n * widths[0]:
        raise ValueError(f"avg_bits={avg_bits!r} is below the narrowest allowed width {widths[0]}")
    if len(widths) == 1:
        return BitAllocation(torch.full((*lead, n), widths[0], dtype=torch.int64, device=device))
    return BitAllocation(_energy_optimal(energy, budget, widths))
