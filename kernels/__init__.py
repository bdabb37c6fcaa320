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
- exact_gemm.py     the exact GEMM engine of this machine (int8 / float32 K-chunked / float64),
                    chosen by measurement or by STAMP_SIM_EXACT_GEMM; both fast backends use it.
- torch_backend.py  backend "torch" (CUDA when present, else the CPU).
- numba_backend/    backend "numba", the fast CPU path: exact GEMM, overflow proofs, and the
                    saturating / wrapping accumulators as SIMD scans (numba_backend/_scan.py).
- _checks.py        operand and spec checks shared by every backend.
- _registers.py     register_range (what a b-bit register holds) and a spec's register limits
                    on a given K, shared by both fast backends.
"""

if __name__ != "stamp_sim.kernels":
    # Reached only when a checkout's root is on sys.path (`python -m ...` run from it): Python
    # then finds this folder as a top-level `kernels`, a name another distribution may own
    # (transformers imports PyPI's `kernels`). Step aside for that module, or fail as if this
    # folder were not there; the project's own code imports stamp_sim.kernels.
    import importlib.util as _util
    import sys as _sys
    from importlib.machinery import PathFinder as _PathFinder
    from pathlib import Path as _Path

    _checkout = _Path(__file__).resolve().parent.parent
    _spec = _PathFinder.find_spec(__name__, [p for p in _sys.path if _Path(p or ".").resolve() != _checkout])
    if _spec is None:
        raise ModuleNotFoundError(f"No module named {__name__!r} ({_checkout} installs it as stamp_sim.kernels)",
                                  name=__name__)
    _sys.modules[__name__] = _util.module_from_spec(_spec)
    _spec.loader.exec_module(_sys.modules[__name__])
else:
    from .exact_gemm import EngineChoice, ExactGemmError, engine_choice
    from .matmul import int_matmul
    from .requant import multiply_by_quantized_multiplier, quantize_multiplier, requantize
    from .result import MatmulResult
    from .spec import AccMode, AccumulatorSpec

    __all__ = [
        "AccMode",
        "AccumulatorSpec",
        "EngineChoice",
        "ExactGemmError",
        "MatmulResult",
        "engine_choice",
        "int_matmul",
        "multiply_by_quantized_multiplier",
        "quantize_multiplier",
        "requantize",
    ]
