"""AccumulatorSpec: the register a MAC array accumulates into."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["AccMode", "AccumulatorSpec"]


class AccMode(str, enum.Enum):
    """What a P-bit register does when an addition leaves its range."""

    WRAP = "wrap"  # two's complement wraparound: the exact sum mod 2^P
    SATURATE = "saturate"  # clamp to [-2^(P-1), 2^(P-1) - 1] after every add
    EXACT = "exact"  # no limit (an ideal wide register)


_SHORT = {AccMode.WRAP: "wrap", AccMode.SATURATE: "sat", AccMode.EXACT: "exact"}


def _mode(value: object, field: str) -> AccMode:
    try:
        return AccMode(value)
    except ValueError:
        allowed = ", ".join(sorted(m.value for m in AccMode))
        raise ValueError(f"AccumulatorSpec.{field}={value!r} is not a mode; allowed: {allowed}") from None


@dataclass(frozen=True)
class AccumulatorSpec:
    """A (possibly multi-stage) accumulator.

    bits : int, width P of the inner register in bits (2..64).
    mode : "wrap" | "saturate" | "exact".
    tile : int or None, K-tile length T of the inner stage; None means one stage over all of K.
    outer_bits : int or None, width of the outer register in bits (tile only); None means exact.
    outer_mode : mode of the outer register (tile only); None means the inner mode.
    """

    bits: int = 32
    mode: AccMode = AccMode.WRAP
    tile: int | None = None
    outer_bits: int | None = None
    outer_mode: AccMode | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", _mode(self.mode, "mode"))
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 2 <= self.bits <= 64:
            raise ValueError(f"AccumulatorSpec.bits={self.bits!r} is out of range; allowed: integers 2..64")
        if self.tile is not None and (isinstance(self.tile, bool) or not isinstance(self.tile, int) or self.tile < 1):
            raise ValueError(f"AccumulatorSpec.tile={self.tile!r} is invalid; allowed: None or an integer >= 1")
        if self.tile is None and (self.outer_bits is not None or self.outer_mode is not None):
            raise ValueError(
                f"AccumulatorSpec.outer_bits={self.outer_bits!r}, outer_mode={self.outer_mode!r} need a tile; "
                "allowed: outer fields only with tile set"
            )
        if self.outer_bits is not None and (
            isinstance(self.outer_bits, bool) or not isinstance(self.outer_bits, int) or not 2 <= self.outer_bits <= 64
        ):
            raise ValueError(
                f"AccumulatorSpec.outer_bits={self.outer_bits!r} is out of range; allowed: None or integers 2..64"
            )
        if self.outer_mode is not None:
            object.__setattr__(self, "outer_mode", _mode(self.outer_mode, "outer_mode"))

    @property
    def effective_outer_mode(self) -> AccMode:
        """Mode of the outer register: outer_mode, else the inner mode."""
        return self.outer_mode if self.outer_mode is not None else self.mode

    def to_dict(self) -> dict:
        """Plain dict (YAML-ready) with string modes."""
        return {
            "bits": self.bits,
            "mode": self.mode.value,
            "tile": self.tile,
            "outer_bits": self.outer_bits,
            "outer_mode": None if self.outer_mode is None else self.outer_mode.value,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "AccumulatorSpec":
        """Inverse of to_dict; unknown keys raise ValueError."""
        allowed = {"bits", "mode", "tile", "outer_bits", "outer_mode"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"AccumulatorSpec: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
        return cls(**data)

    def describe(self) -> str:
        """Short label such as 'int16-sat' or 'int16-sat/T64+int32'."""
        label = "exact" if self.mode is AccMode.EXACT else f"int{self.bits}-{_SHORT[self.mode]}"
        if self.tile is None:
            return label
        outer = "exact" if self.outer_bits is None else f"int{self.outer_bits}-{_SHORT[self.effective_outer_mode]}"
        return f"{label}/T{self.tile}+{outer}"
