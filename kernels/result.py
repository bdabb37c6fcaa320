"""MatmulResult: what an integer GEMM through a finite accumulator produced."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MatmulResult"]


@dataclass(frozen=True)
class MatmulResult:
    """Output of `int_matmul`.

    values : int64 numpy array (M x N), what the accumulator register holds after the last
        addition, sign-extended to 64 bits (the outer register's value for a multi-stage spec).
    overflows : int64 numpy array (M x N), how many additions (inner and outer) produced a true
        result outside their register's range; see `int_matmul` for the exact rule. None only
        when the caller asked for values alone (``counts=False``).
    """

    values: np.ndarray
    overflows: np.ndarray | None

    @property
    def overflow_fraction(self) -> float:
        """Fraction of outputs (0..1) whose accumulation overflowed at least once."""
        if self.overflows is None:
            raise ValueError("overflows were not counted (counts=False); allowed: call with counts=True")
        if self.overflows.size == 0:
            return 0.0
        return float(np.count_nonzero(self.overflows)) / self.overflows.size

    @property
    def total_overflows(self) -> int:
        """Sum of all overflow counts."""
        if self.overflows is None:
            raise ValueError("overflows were not counted (counts=False); allowed: call with counts=True")
        return int(self.overflows.sum())
