"""Bit-accurate integer arithmetic of MAC arrays and accumulators (no model code).

Public API: AccumulatorSpec / AccMode (the register), int_matmul -> MatmulResult (an integer
GEMM through that register, bit for bit, any backend), and TFLite-style requantization.
"""

from kernels.matmul import int_matmul
from kernels.requant import multiply_by_quantized_multiplier, quantize_multiplier, requantize
from kernels.result import MatmulResult
from kernels.spec import AccMode, AccumulatorSpec

__all__ = [
    "AccMode",
    "AccumulatorSpec",
    "MatmulResult",
    "int_matmul",
    "multiply_by_quantized_multiplier",
    "quantize_multiplier",
    "requantize",
]
