"""Shared helpers for the kernels tests: random operands of a given width and signedness."""

import numpy as np

from stamp_sim.kernels._registers import register_range


def random_operand(rng: np.random.Generator, shape, bits: int, signed: bool, container=None) -> np.ndarray:
    """Uniform integers of `bits` bits (signed or not) in `container` (default int8 / uint8)."""
    lo, hi = register_range(bits, signed)
    dtype = container or (np.int8 if signed else np.uint8)
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement reduction of int64 values to `bits` bits, sign-extended."""
    half = 1 << (bits - 1)
    return (values + half) % (1 << bits) - half
