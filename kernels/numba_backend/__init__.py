"""The Numba backend of int_matmul (backend="numba", the default on the CPU).

Where things are:
- _matmul.py   matmul_numba, the entry: the plan of one call (exact GEMM, proofs, scans).
- _intgemm.py  the exact integer GEMM S = x @ w (torch._int_mm when exact, else float64).
- _bounds.py   proofs that an output never overflows (levels 1 and 2), fused Numba passes.
- _scan.py     the saturating / wrapping accumulators themselves: register-exact k-order scans
               in narrow SIMD lanes (_step_sat_*, _step_wrap_* are one add into the register).
- _jit.py      the one Numba decorator (`kernel`) and the fixed-width integer intrinsics.
- _alloc.py    lazily zeroed output arrays.

Importing this package imports Numba; nothing outside it does (kernels.matmul imports it only
when the numba backend is called).
"""

from ._jit import has_compiled_cache
from ._matmul import matmul_numba

__all__ = ["has_compiled_cache", "matmul_numba"]
