"""The one Numba decorator of the package and the fixed-width integer intrinsics its kernels use.

Why intrinsics: Numba types ``int16 + int16`` as int64, so a scan written with plain operators
works on 64-bit lanes (4 per 256-bit vector). The intrinsics below emit the LLVM instruction at
the operands' own width (``add i16``, ``llvm.sadd.sat.i16``, ...), so the loop vectorizer packs
16 lanes of int16 (8 of int32) per 256-bit vector, which is what makes the scans fast.
"""

from __future__ import annotations

import os

# torch and Numba each run an OpenMP pool; on a small machine spinning idle threads of one pool
# steal the cores the other needs. Must be set before either library starts its pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba.core import cgutils, types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

__all__ = ["has_compiled_cache", "kernel", "add_wrap", "mul_wrap", "add_sat", "smin", "smax", "shl", "ashr", "ne_int"]


def has_compiled_cache() -> bool:
    """True when Numba's on-disk cache holds compiled kernels of this package (so the first
    call of each kernel loads it instead of compiling); False on a first run."""
    root = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(os.path.dirname(__file__), "__pycache__")
    # Numba's index files are named <module>.<function>-<line>.py<version>.nbi.
    return any(name.startswith("_scan.") and name.endswith(".nbi")
               for _, _, names in os.walk(root) for name in names)


def kernel(*, parallel: bool = False, inline: str = "never"):
    """Decorate a Numba kernel: nopython, cache=True, numpy error model, GIL released.

    Kernels compile lazily on first call, for the argument types they get (no signatures:
    importing the package costs no compile time).
    parallel : True for kernels with a ``prange`` loop over rows or tasks.
    inline : "always" for the small scalar cores called from the scans.
    """
    options = dict(cache=True, nogil=True, error_model="numpy", fastmath=False, inline=inline)
    if parallel:
        options["parallel"] = True
    return numba.njit(**options)


def _same_int_types(a, b) -> bool:
    return isinstance(a, types.Integer) and a == b


def _binary(builder_op):
    """Intrinsic applying ``builder_op(builder, a, b)`` at the width of its (equal) integer operands."""

    def typer(typingctx, a, b):
        if not _same_int_types(a, b):
            return None

        def codegen(context, builder, signature, args):
            return builder_op(builder, args[0], args[1])

        return a(a, b), codegen

    return typer


def _llvm_call(name: str):
    def op(builder, x, y):
        fnty = ir.FunctionType(x.type, [x.type, x.type])
        fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.{name}.i{x.type.width}")
        return builder.call(fn, [x, y])

    return op


# Wrapping (two's complement) add and multiply at the operand width.
add_wrap = intrinsic(_binary(lambda b, x, y: b.add(x, y)))
mul_wrap = intrinsic(_binary(lambda b, x, y: b.mul(x, y)))
# Signed saturating add at the operand width (vpaddsw for int16).
add_sat = intrinsic(_binary(_llvm_call("sadd.sat")))
smin = intrinsic(_binary(_llvm_call("smin")))
smax = intrinsic(_binary(_llvm_call("smax")))
# Shifts by a same-typed amount (0 <= amount < width).
shl = intrinsic(_binary(lambda b, x, y: b.shl(x, y)))
ashr = intrinsic(_binary(lambda b, x, y: b.ashr(x, y)))


def _ne_int(builder, x, y):
    return builder.zext(builder.icmp_signed("!=", x, y), x.type)


# 1 where the operands differ, else 0, at the operands' width (adds to a same-width counter).
ne_int = intrinsic(_binary(_ne_int))
