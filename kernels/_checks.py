"""Input checks shared by every backend: integer operands, their declared widths, shapes.

(What a b-bit register or operand holds is _registers.register_range.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._registers import register_range
from .spec import AccumulatorSpec

__all__ = ["Operand", "check_operands", "check_spec", "MIN_OPERAND_BITS", "MAX_OPERAND_BITS"]

MIN_OPERAND_BITS = 2
MAX_OPERAND_BITS = 8


@dataclass(frozen=True)
class Operand:
    """A checked integer operand.

    data : the array as given (numpy; a torch tensor stays a tensor), integer dtype, 2-D.
    bits : declared width in bits (2..8).
    signed : two's complement (True) or unsigned (False), from the dtype.
    lo, hi : smallest and largest value present (0, 0 when empty).
    """

    data: object
    bits: int
    signed: bool
    lo: int
    hi: int

    @property
    def max_abs(self) -> int:
        """Largest |value| present."""
        return max(abs(self.lo), abs(self.hi))


_TORCH_SHELL_UINTS = ("torch.uint16", "torch.uint32", "torch.uint64")


def _is_torch(a) -> bool:
    return type(a).__module__.startswith("torch")


def _dtype_info(name: str, a) -> tuple[int, bool]:
    """(container bits, signed) of an integer array; ValueError for anything else."""
    if _is_torch(a):
        import torch

        if a.dtype.is_floating_point or a.dtype.is_complex or a.dtype == torch.bool:
            raise ValueError(f"{name} must hold integers; got dtype {a.dtype}; allowed: integer dtypes")
        info = torch.iinfo(a.dtype)
        return info.bits, info.min < 0
    kind = a.dtype.kind
    if kind not in "iu":
        raise ValueError(f"{name} must hold integers; got dtype {a.dtype}; allowed: integer dtypes")
    return a.dtype.itemsize * 8, kind == "i"


def _as_array(name: str, a):
    if _is_torch(a):
        return a
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} is not an array: {exc}") from None
    return arr


def _operand(name: str, a, bits) -> Operand:
    a = _as_array(name, a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D; got shape {tuple(a.shape)}")
    container_bits, signed = _dtype_info(name, a)
    if not _is_torch(a) and not a.dtype.isnative:
        # Byte order is storage, not value: the kernels take native integers (Numba cannot type others).
        a = a.astype(a.dtype.newbyteorder("="))
    if _is_torch(a) and str(a.dtype) in _TORCH_SHELL_UINTS:
        # torch's uint16/32/64 lack min/max and matmul: numpy holds them exactly on the CPU; on a GPU
        # int64 does (the value check below refuses uint64 values past 2**63, which wrap negative).
        import torch

        a = a.numpy() if a.device.type == "cpu" else a.to(torch.int64)
    if bits is None:
        bits = container_bits
        if not MIN_OPERAND_BITS <= bits <= MAX_OPERAND_BITS:
            raise ValueError(
                f"{name} has dtype {a.dtype} ({bits} bits); allowed: {MIN_OPERAND_BITS}..{MAX_OPERAND_BITS}-bit "
                f"operands (pass {name}_bits to declare narrower values held in a wider dtype)"
            )
    elif isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not (
        MIN_OPERAND_BITS <= bits <= min(MAX_OPERAND_BITS, container_bits)
    ):
        raise ValueError(
            f"{name}_bits={bits!r} is out of range; allowed: integers {MIN_OPERAND_BITS}.."
            f"{min(MAX_OPERAND_BITS, container_bits)} for dtype {a.dtype}"
        )
    bits = int(bits)
    if a.numel() == 0 if _is_torch(a) else a.size == 0:
        return Operand(a, bits, signed, 0, 0)
    if _is_torch(a):
        lo, hi = (int(v) for v in (a.min(), a.max()))
    else:
        lo, hi = int(a.min()), int(a.max())
    allowed_lo, allowed_hi = register_range(bits, signed)
    if lo < allowed_lo or hi > allowed_hi:
        kind = "signed" if signed else "unsigned"
        raise ValueError(
            f"{name} has values in [{lo}, {hi}], outside the {bits}-bit {kind} range "
            f"[{allowed_lo}, {allowed_hi}]"
        )
    return Operand(a, bits, signed, lo, hi)


def check_operands(x, w, x_bits=None, w_bits=None) -> tuple[Operand, Operand]:
    """Check x (M x K) and w (K x N): integer dtype, 2-D, matching K, values within the widths.

    Widths default to the dtypes' (int8 -> 8 bits signed, uint8 -> 8 bits unsigned); `x_bits` /
    `w_bits` declare narrower values held in a wider dtype (int4 values in an int8 array).
    Signedness always comes from the dtype. Raises ValueError naming the argument.
    """
    xo = _operand("x", x, x_bits)
    wo = _operand("w", w, w_bits)
    if xo.data.shape[1] != wo.data.shape[0]:
        raise ValueError(
            f"shape mismatch: x is {tuple(xo.data.shape)} (M x K) and w is {tuple(wo.data.shape)} (K x N); "
            "x.shape[1] must equal w.shape[0]"
        )
    return xo, wo


def check_spec(acc) -> AccumulatorSpec:
    """An AccumulatorSpec from a spec or its dict form; ValueError naming `acc` otherwise."""
    if isinstance(acc, AccumulatorSpec):
        return acc
    if isinstance(acc, dict):
        return AccumulatorSpec.from_dict(acc)
    raise ValueError(f"acc={acc!r} is not an AccumulatorSpec; allowed: AccumulatorSpec or its dict form")
