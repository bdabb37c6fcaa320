"""Bit-accurate integer arithmetic of MAC arrays and accumulators (no model code)."""

from kernels.spec import AccMode, AccumulatorSpec

__all__ = ["AccMode", "AccumulatorSpec"]
