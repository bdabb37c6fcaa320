"""What a register holds: the two's-complement range of a b-bit register or operand
(register_range), and the inner/outer register limits of an AccumulatorSpec on a given K
(registers), shared by the numba and torch backends.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import AccMode, AccumulatorSpec

__all__ = ["UNBOUNDED", "OUTER_EXACT", "OUTER_SAT", "OUTER_WRAP", "Registers", "register_range", "registers",
           "values_only_wrap_bits"]

UNBOUNDED = 1 << 62  # stands for "no limit" in int64 comparisons
OUTER_EXACT, OUTER_SAT, OUTER_WRAP = 0, 1, 2


def register_range(bits: int, signed: bool = True) -> tuple[int, int]:
    """Range [lo, hi] of a `bits`-bit two's-complement register or operand (unsigned: [0, 2^bits - 1]).

    >>> register_range(4), register_range(4, signed=False), register_range(16)
    ((-8, 7), (0, 15), (-32768, 32767))
    """
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


@dataclass(frozen=True)
class Registers:
    """Inner/outer register limits of one spec on one K (int64; UNBOUNDED when exact)."""

    tile: int  # inner tile length in k (K for one stage)
    in_lo: int
    in_hi: int
    out_lo: int
    out_hi: int
    outer_kind: int
    outer_bits: int


def registers(acc: AccumulatorSpec, k_len: int) -> Registers:
    """The registers `acc` uses on a K of k_len (an outer register that provably never
    overflows on this K is reported as exact)."""
    tile = k_len if acc.tile is None else min(acc.tile, k_len)
    if acc.mode is AccMode.EXACT:
        in_lo, in_hi = -UNBOUNDED, UNBOUNDED
    else:
        in_lo, in_hi = register_range(acc.bits)
    outer_mode = acc.effective_outer_mode
    if acc.tile is None or acc.outer_bits is None or outer_mode is AccMode.EXACT:
        return Registers(tile, in_lo, in_hi, -UNBOUNDED, UNBOUNDED, OUTER_EXACT, 64)
    out_lo, out_hi = register_range(acc.outer_bits)
    n_tiles = -(-k_len // tile) if tile else 0
    if in_hi < UNBOUNDED and n_tiles * in_lo >= out_lo and n_tiles * in_hi <= out_hi:
        # The outer register adds n_tiles inner values, each inside the inner range: no partial
        # sum can leave the outer range (int16 tiles into int32 for K < 2^16 * T), so it acts
        # as an exact register and the scans skip its per-tile checks.
        return Registers(tile, in_lo, in_hi, -UNBOUNDED, UNBOUNDED, OUTER_EXACT, 64)
    kind = OUTER_SAT if outer_mode is AccMode.SATURATE else OUTER_WRAP
    return Registers(tile, in_lo, in_hi, out_lo, out_hi, kind, acc.outer_bits)


def values_only_wrap_bits(acc: AccumulatorSpec) -> int | None:
    """Register width P when the final value is S mod 2^P for every order of products, else None."""
    if acc.mode is not AccMode.WRAP:
        return None
    if acc.tile is None:
        return acc.bits
    if acc.outer_bits is not None and acc.effective_outer_mode is AccMode.WRAP and acc.outer_bits <= acc.bits:
        return acc.outer_bits  # wrap_PO(sum wrap_PI(t)) == wrap_PO(S) when PO <= PI
    return None
