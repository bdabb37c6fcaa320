"""Bit-accurate integer arithmetic of MAC arrays and accumulators (no model code).

Public API: AccumulatorSpec / AccMode (the register), int_matmul -> MatmulResult (an integer
GEMM through that register, bit for bit, any backend), and TFLite-style requantization.

Where things are:
- spec.py           AccumulatorSpec, AccMode: the register (bits, wrap / saturate / exact, tiles).
- matmul.py         int_matmul: checks inputs once, dispatches to a backend by name.
- result.py         MatmulResult (values, overflow counts).
- reference.py      the oracle: plain loops; register_add is one add into a wrapping or
                    saturating register, the definition every backend is tested against.
- requant.py        TFLite / gemmlowp fixed-point requantization.
- torch_backend.py  backend "torch" (CUDA when present, else the CPU).
- numba_backend/    backend "numba", the fast CPU path: exact GEMM, overflow proofs, and the
                    saturating / wrapping accumulators as SIMD scans (numba_backend/_scan.py).
- _checks.py        operand and spec checks shared by every backend.
- _registers.py     register_range (what a b-bit register holds) and a spec's register limits
                    on a given K, shared by both fast backends.
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
