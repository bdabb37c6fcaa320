"""int_matmul: the one public entry point; checks inputs once, then dispatches to a backend."""

from __future__ import annotations

from typing import Callable

from ._checks import Operand, check_operands, check_spec
from .result import MatmulResult
from .spec import AccumulatorSpec

__all__ = ["int_matmul", "BACKENDS", "register_backend"]

# name -> fn(x: Operand, w: Operand, acc: AccumulatorSpec, counts: bool) -> MatmulResult
BACKENDS: dict[str, Callable[[Operand, Operand, AccumulatorSpec, bool], MatmulResult]] = {}


def register_backend(name: str):
    """Decorator adding a backend under `name` (a new backend is one new function)."""

    def add(fn):
        BACKENDS[name] = fn
        return fn

    return add


@register_backend("reference")
def _reference(xo: Operand, wo: Operand, acc: AccumulatorSpec, counts: bool) -> MatmulResult:
    import numpy as np

    from .reference import matmul_reference

    x = xo.data.cpu().numpy() if hasattr(xo.data, "cpu") else np.asarray(xo.data)
    w = wo.data.cpu().numpy() if hasattr(wo.data, "cpu") else np.asarray(wo.data)
    result = matmul_reference(x, w, acc)
    return result if counts else MatmulResult(result.values, None)


@register_backend("numba")
def _numba(xo: Operand, wo: Operand, acc: AccumulatorSpec, counts: bool) -> MatmulResult:
    from .numba_backend import matmul_numba

    if hasattr(xo.data, "cpu"):  # torch tensors: the numba path works on host numpy arrays
        xo = Operand(xo.data.cpu().numpy(), xo.bits, xo.signed, xo.lo, xo.hi)
    if hasattr(wo.data, "cpu"):
        wo = Operand(wo.data.cpu().numpy(), wo.bits, wo.signed, wo.lo, wo.hi)
    return matmul_numba(xo, wo, acc, counts)


@register_backend("torch")
def _torch(xo: Operand, wo: Operand, acc: AccumulatorSpec, counts: bool) -> MatmulResult:
    from .torch_backend import matmul_torch

    return matmul_torch(xo, wo, acc, counts)


def _auto(x, w) -> str:
    """torch when an operand already lives on a GPU, else the numba CPU path."""
    for a in (x, w):
        if getattr(getattr(a, "device", None), "type", "cpu") != "cpu":
            return "torch"
    return "numba"


def int_matmul(x, w, acc: AccumulatorSpec, backend: str = "auto", x_bits: int | None = None,
               w_bits: int | None = None, *, counts: bool = True) -> MatmulResult:
    """x (M x K) @ w (K x N) of 2..8-bit integers through a finite accumulator, bit for bit.

    x, w : integer arrays (numpy, torch or nested lists), signed or unsigned; values must lie in
        the declared widths. x_bits / w_bits : declared widths in bits (2..8), default the dtype's
        (int8 -> 8); use them for narrower values in a wider dtype. Signedness is the dtype's.
    acc : AccumulatorSpec (or its dict). Order of additions: k ascending; K is cut into tiles
        of acc.tile (one tile when None); each tile's inner register starts at 0 and takes one
        product at a time; each finished tile is added to the outer register.
        wrap = reduce to P bits two's complement after every add, saturate = clamp after every
        add, exact = no limit.
    backend : "auto" (torch for GPU tensors, else numba), "reference", "numba" or "torch".
    counts : False lets wrap skip the overflow scan (values only); overflows is then None.

    Returns MatmulResult(values, overflows), numpy int64 (M x N) each:
        values : the final register value (outer register for tiles), sign-extended.
        overflows : number of additions, inner (products) and outer (tile results) alike,
            whose true result ``register + addend`` lay outside the register's range
            [-2^(P-1), 2^(P-1) - 1]. The same rule for wrap and saturate: in wrap mode it is the
            number of adds that wrapped (however far); in saturate mode the number that clamped.
            Exact registers (mode exact, or outer_bits None) never overflow: 0.

    Raises ValueError naming the argument for non-integer arrays, values outside the declared
    width, widths outside 2..8, shape mismatch, a bad acc or an unknown backend.
    """
    spec = check_spec(acc)
    if backend == "auto":
        backend = _auto(x, w)
    if backend not in BACKENDS:
        allowed = ", ".join(sorted(["auto", *BACKENDS]))
        raise ValueError(f"backend={backend!r} is unknown; allowed: {allowed}")
    xo, wo = check_operands(x, w, x_bits, w_bits)
    return BACKENDS[backend](xo, wo, spec, bool(counts))
