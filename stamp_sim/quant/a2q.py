"""Accumulator-aware weight quantization (A2Q, A2Q+): integer weights that cannot overflow.

Notation (docs/METHODS.md section 2): P accumulator bits, N input bits, M weight bits, q the
integer weights of one output channel (over one K-tile for multi-stage accumulation).

- A2Q:  ||q||_1 <= (2^(P-1) - 1) * 2^(1_signed(x) - N).
- A2Q+: ||q||_1 <= (2^P - 2) / (2^N - 1) for zero-centred q (sum q = 0).

What is enforced, and why it is a proof for every input this code admits
(x in the full N-bit range: [-2^(N-1), 2^(N-1) - 1] signed, [0, 2^N - 1] unsigned):
- "a2q": ||q||_1 <= C = floor(A2Q bound). Every partial sum is at most ||q||_1 * max|x| with
  max|x| = 2^(N - 1_signed) (the full-range signed input -2^(N-1) included), so it is at most
  C * 2^(N - 1_signed) <= 2^(P-1) - 1.
- "a2q+": ||q+||_1 <= C and ||q-||_1 <= C with C = floor((2^(P-1) - 1) / (2^N - 1)), q+ / q- the
  positive / negative parts. Rounding breaks sum q = 0, and with unbalanced parts the A2Q+
  bound alone does not hold (all-positive q and x = 2^N - 1 reach 2 * (2^(P-1) - 1)); the two
  budgets do: a partial sum is at most ||q+|| * x_max + ||q-|| * |x_min|, which is
  C * (2^N - 1) <= 2^(P-1) - 1 for unsigned x (x_min = 0) and for signed x alike
  (x_max + |x_min| = 2^N - 1). Then ||q||_1 <= 2C <= the A2Q+ bound, with equality of the
  budgets exactly when q is zero-centred.
Multi-stage (tile T, outer register of outer_bits): the inner budget applies to every
(K-tile, channel); the outer register only sees tile-boundary prefix sums, which the whole-
column budget at outer_bits bounds (outer_bits None: exact outer, no budget).

The quantizer: per output channel symmetric scale s = max|w| / (2^(M-1) - 1), round to nearest,
and only where a budget is exceeded, the Euclidean projection of w / s onto the L1 ball of that
budget (soft threshold) followed by an integer rounding that never exceeds the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stamp_sim.kernels import AccMode, AccumulatorSpec

__all__ = ["A2QConfig", "A2QWeights", "a2q_l1_bound", "a2q_plus_l1_bound", "a2q_quantize", "max_partial_sum"]

_METHODS = ("a2q", "a2q+")


def a2q_l1_bound(acc_bits: int, x_bits: int, x_signed: bool) -> float:
    """A2Q: largest ||q||_1 with no overflow, (2^(P-1) - 1) * 2^(1_signed(x) - N).

    >>> a2q_l1_bound(16, 8, True), a2q_l1_bound(16, 8, False)
    (255.9921875, 127.99609375)
    """
    return ((1 << (acc_bits - 1)) - 1) * 2.0 ** (int(x_signed) - x_bits)


def a2q_plus_l1_bound(acc_bits: int, x_bits: int) -> float:
    """A2Q+: largest ||q||_1 of zero-centred q with no overflow, (2^P - 2) / (2^N - 1).

    >>> a2q_plus_l1_bound(16, 8)
    256.99607843137255
    """
    return ((1 << acc_bits) - 2) / ((1 << x_bits) - 1)


def max_partial_sum(q: np.ndarray, x_bits: int, x_signed: bool) -> np.ndarray:
    """Largest |sum_k q_k x_k| over every input of the N-bit range and every prefix, per column.

    q : int (K x N). The extremes come from x_k at the range end matching the sign of q_k,
    where every prefix grows monotonically, so the whole sums are the worst prefixes.
    """
    lo, hi = (-(1 << (x_bits - 1)), (1 << (x_bits - 1)) - 1) if x_signed else (0, (1 << x_bits) - 1)
    q = np.asarray(q, dtype=np.int64)
    pos = np.where(q > 0, q, 0).sum(axis=0)
    neg = np.where(q < 0, -q, 0).sum(axis=0)
    return np.maximum(pos * hi + neg * -lo, pos * -lo + neg * hi)


@dataclass(frozen=True)
class A2QConfig:
    """Accumulator-aware weight quantization of a (K x N) weight (in x out).

    w_bits : weight width M in bits (2..8), symmetric narrow range [-(2^(M-1) - 1), 2^(M-1) - 1].
    acc_bits : inner accumulator width P in bits (2..64).
    x_bits : input width N in bits (2..8); x_signed : signed (full range) or unsigned inputs.
    method : "a2q" or "a2q+" (see the module docstring for the exact budgets).
    tile : K-tile length T of multi-stage accumulation (None: one stage over K).
    outer_bits : outer accumulator width in bits (tile only; None: exact outer).
    """

    w_bits: int = 4
    acc_bits: int = 16
    x_bits: int = 8
    x_signed: bool = True
    method: str = "a2q"
    tile: int | None = None
    outer_bits: int | None = None

    def __post_init__(self) -> None:
        def check_int(name, value, lo, hi):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"A2QConfig.{name}={value!r} is out of range; allowed: integers {lo}..{hi}")

        check_int("w_bits", self.w_bits, 2, 8)
        check_int("acc_bits", self.acc_bits, 2, 64)
        check_int("x_bits", self.x_bits, 2, 8)
        if self.method not in _METHODS:
            raise ValueError(f"A2QConfig.method={self.method!r} is unknown; allowed: {', '.join(sorted(_METHODS))}")
        if self.tile is not None:
            check_int("tile", self.tile, 1, 1 << 62)
        if self.outer_bits is not None:
            if self.tile is None:
                raise ValueError("A2QConfig.outer_bits needs a tile; allowed: outer_bits only with tile set")
            check_int("outer_bits", self.outer_bits, 2, 64)

    @classmethod
    def from_accumulator(cls, acc: AccumulatorSpec, w_bits: int, x_bits: int, x_signed: bool,
                         method: str = "a2q") -> "A2QConfig":
        """The config that makes `acc` overflow-free (an exact outer register needs no budget)."""
        if acc.mode is AccMode.EXACT:
            raise ValueError("acc.mode='exact' never overflows; allowed: a wrap or saturate accumulator")
        outer = None if acc.tile is None or acc.effective_outer_mode is AccMode.EXACT else acc.outer_bits
        return cls(w_bits, acc.bits, x_bits, bool(x_signed), method, acc.tile, outer)

    def budget(self, acc_bits: int) -> int:
        """Integer L1 budget C for a register of `acc_bits` (of ||q|| for a2q, of each part for a2q+)."""
        if self.method == "a2q":
            return int(np.floor(a2q_l1_bound(acc_bits, self.x_bits, self.x_signed)))
        return ((1 << (acc_bits - 1)) - 1) // ((1 << self.x_bits) - 1)


@dataclass(frozen=True)
class A2QWeights:
    """q : int8 (K x N) integer weights; scale : (N,) per-channel scale, w ~= q * scale.

    numpy in, numpy out; a torch weight gives torch tensors on its device (q int8, scale of the
    weight's float dtype).
    """

    q: object
    scale: object

    def dequantize(self):
        """q * scale, (K x N) float."""
        return self.q * self.scale


def _project_magnitudes(u: np.ndarray, budget: int, cap: int) -> np.ndarray:
    """Integer magnitudes m <= cap, sum over axis 0 <= budget per column, close to u >= 0 (L x N).

    Columns already within the budget after rounding keep round-to-nearest. The others take
    the Euclidean projection onto {sum <= budget} (soft threshold theta), then floor plus the
    largest remainders; a final integer pass removes any excess float error could leave.
    """
    rounded = np.minimum(np.rint(u), cap)
    over = rounded.sum(axis=0) > budget
    if not over.any():
        return rounded.astype(np.int64)
    if budget == 0:
        return np.where(over[None, :], 0.0, rounded).astype(np.int64)
    v = u[:, over]
    srt = -np.sort(-v, axis=0)
    csum = np.cumsum(srt, axis=0)
    j = np.arange(1, v.shape[0] + 1)[:, None]
    active = srt - (csum - budget) / j > 0
    rho = active.shape[0] - np.argmax(active[::-1], axis=0)  # last active index + 1
    theta = np.maximum((csum[rho - 1, np.arange(v.shape[1])] - budget) / rho, 0.0)
    shrunk = np.maximum(v - theta, 0.0)
    mag = np.minimum(np.floor(shrunk), cap)
    frac = np.where(mag < cap, shrunk - mag, 0.0)
    spare = budget - mag.sum(axis=0)
    order = np.argsort(-frac, axis=0, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(v.shape[0])[:, None].repeat(v.shape[1], axis=1), axis=0)
    mag += (rank < spare[None, :]) & (frac > 0)
    while (excess := mag.sum(axis=0) - budget).max() > 0:  # float error: take back from the largest
        top = np.argmax(mag, axis=0)
        cols = np.flatnonzero(excess > 0)
        mag[top[cols], cols] -= 1
    out = rounded.copy()
    out[:, over] = mag
    return out.astype(np.int64)


def _enforce(q_real: np.ndarray, q: np.ndarray, budget: int, cap: int, split_signs: bool) -> np.ndarray:
    """q (L x N) within the budget: on |q| (a2q) or on each sign part separately (a2q+)."""
    if budget < 0:
        budget = 0
    if not split_signs:
        mag = np.abs(q)
        if (mag.sum(axis=0) <= budget).all():
            return q
        return np.sign(q_real).astype(np.int64) * _project_magnitudes(np.abs(q_real), budget, cap)
    pos = _enforce(np.maximum(q_real, 0.0), np.maximum(q, 0), budget, cap, False)
    neg = _enforce(np.maximum(-q_real, 0.0), np.maximum(-q, 0), budget, cap, False)
    return pos - neg


def a2q_quantize(w, config: A2QConfig) -> A2QWeights:
    """Quantize float weights w (K x N, in x out) so that `config`'s accumulator never overflows.

    Per output channel n: scale s_n = max_k |w_kn| / (2^(M-1) - 1) (1 for an all-zero column),
    q = round(w / s) in [-(2^(M-1) - 1), 2^(M-1) - 1], then the L1 budgets of `config` on every
    (K-tile, channel) at acc_bits and on every channel at outer_bits. Returns A2QWeights.
    """
    if not isinstance(config, A2QConfig):
        raise ValueError(f"config={config!r} is not an A2QConfig; allowed: A2QConfig")
    is_torch = type(w).__module__.startswith("torch")
    if is_torch:
        device, dtype = w.device, w.dtype
        if not dtype.is_floating_point:
            raise ValueError(f"w must hold floats; got dtype {dtype}")
        arr = w.detach().to("cpu").double().numpy()
    else:
        arr = np.asarray(w)
        if arr.dtype.kind != "f":
            raise ValueError(f"w must hold floats; got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise ValueError(f"w must be 2-D (K x N, in x out); got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("w has non-finite values; allowed: finite floats")

    cap = (1 << (config.w_bits - 1)) - 1
    scale = np.abs(arr).max(axis=0, initial=0.0) / cap
    scale = np.where(scale > 0, scale, 1.0)
    q_real = arr / scale
    q = np.clip(np.rint(q_real), -cap, cap).astype(np.int64)
    split = config.method == "a2q+"
    k_len = arr.shape[0]
    tile = k_len if config.tile is None else config.tile
    inner = config.budget(config.acc_bits)
    for t0 in range(0, k_len, max(tile, 1)):
        q[t0 : t0 + tile] = _enforce(q_real[t0 : t0 + tile], q[t0 : t0 + tile], inner, cap, split)
    if config.outer_bits is not None:
        # Projecting the integers themselves never raises a magnitude (soft threshold, floor, and
        # +1 only where the threshold removed more than that), so the tile budgets still hold.
        q = _enforce(q.astype(np.float64), q, config.budget(config.outer_bits), cap, split)
    q8 = q.astype(np.int8)
    if is_torch:
        import torch

        return A2QWeights(torch.from_numpy(q8).to(device), torch.from_numpy(scale).to(device=device, dtype=dtype))
    return A2QWeights(q8, scale)
