"""Uniform integer quantizers: ranges, scales, to_int and dequantize (kept separate).

Shapes: activations are (..., rows, features); weights are in torch's Linear layout
(out_features, in_features), so "per-channel" (one scale per output channel) is the same
reduction as "per-token": one scale per row, over the last axis. A weight stored the other
way round, (in, out) = (K, N) as kernels take it, is "per-column". Rounding is
round-half-to-even (torch.round), as on most integer hardware paths.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import torch

from stamp_sim._arrays import as_tensor, check_finite

__all__ = [
    "Granularity",
    "QuantizedTensor",
    "dequantize",
    "fake_quantize",
    "quantize",
    "quantizer_range",
]

MIN_BITS, MAX_BITS = 2, 16


class Granularity(str, enum.Enum):
    """Which elements share one scale, named by the axis the min/max reduces.

    For x of shape (..., rows, features), or a weight (out_features, in_features):
    """

    PER_TENSOR = "per-tensor"  # every axis reduced: one scale for the whole tensor
    PER_TOKEN = "per-token"  # activations: last axis (features) reduced, one scale per row
    PER_CHANNEL = "per-channel"  # weights (out, in): last axis (in) reduced, one scale per output channel
    PER_COLUMN = "per-column"  # axis -2 (rows) reduced, one scale per column; e.g. a (K, N) weight
    PER_GROUP = "per-group"  # last axis reduced in blocks of G: one scale per G consecutive features of a row


def quantizer_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """Integer range of the codes a quantizer with `bits` bits produces.

    Not the range a `bits`-bit register holds (kernels' two's-complement range, (-8, 7)
    for 4 bits). Symmetric quantizers use the narrow signed range so that +-scale*qmax is exact:
    quantizer_range(4, True) == (-7, 7); quantizer_range(8, True) == (-127, 127).
    Asymmetric ones use the unsigned range: quantizer_range(4, False) == (0, 15).
    """
    _check_bits_scalar(bits)
    if symmetric:
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _check_bits_scalar(bits) -> None:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits={bits!r} is out of range; allowed: integers {MIN_BITS}..{MAX_BITS}")


@dataclass(frozen=True)
class QuantizedTensor:
    """Integer codes with their dequantization parameters.

    q : integer-valued tensor in the quantizer's view (groups split out for per-group).
    scale, zero_point : broadcastable against q; x ~= (q - zero_point) * scale.
    bits : tensor of per-row widths in bits (broadcastable against q).
    shape : the original tensor's shape.
    """

    q: torch.Tensor
    scale: torch.Tensor
    zero_point: torch.Tensor
    bits: torch.Tensor
    shape: torch.Size
    symmetric: bool

    def dequantize(self) -> torch.Tensor:
        """(q - zero_point) * scale; a code beyond the dtype's range (asymmetric rows spanning
        nearly twice its maximum) saturates to the largest finite value instead of inf."""
        values = (self.q - self.zero_point) * self.scale
        if values.is_floating_point():
            big = torch.finfo(values.dtype).max
            values = values.clamp(-big, big)
        return values.reshape(self.shape)


def _bits_tensor(bits, x: torch.Tensor, granularity: Granularity) -> torch.Tensor:
    """Widths as a tensor broadcastable against the quantizer's view of x."""
    if isinstance(bits, (int, np.integer)) and not isinstance(bits, bool):
        _check_bits_scalar(bits)
        return torch.tensor(int(bits), device=x.device)
    if not isinstance(bits, (torch.Tensor, np.ndarray)):
        raise ValueError(f"bits={bits!r} is not an integer width; allowed: an integer {MIN_BITS}..{MAX_BITS}, or an "
                         "integer tensor / array of one width per row")
    b, _ = as_tensor(bits)
    b = b.to(device=x.device)
    if b.is_floating_point() or b.dtype == torch.bool:
        raise ValueError(f"bits has dtype {b.dtype}; allowed: integer widths {MIN_BITS}..{MAX_BITS}")
    if b.numel() and (int(b.min()) < MIN_BITS or int(b.max()) > MAX_BITS):
        raise ValueError(
            f"bits holds {int(b.min())}..{int(b.max())}; allowed: integers {MIN_BITS}..{MAX_BITS}"
        )
    if granularity not in (Granularity.PER_CHANNEL, Granularity.PER_GROUP, Granularity.PER_TOKEN):
        raise ValueError(
            f"per-row bits need one scale per row; granularity={granularity.value!r}; "
            "allowed: per-channel, per-group, per-token"
        )
    rows = x.shape[-2] if x.dim() >= 2 else 1
    if b.shape[-1] != rows:
        raise ValueError(f"bits has {b.shape[-1]} rows but x has {rows}; allowed: one width per row")
    b = b.unsqueeze(-1)  # (..., rows, 1)
    if granularity is Granularity.PER_GROUP:
        b = b.unsqueeze(-1)
    return b


def quantize(
    x,
    bits,
    granularity: str | Granularity = Granularity.PER_TOKEN,
    *,
    symmetric: bool = True,
    group_size: int | None = None,
    clip_ratio: float = 1.0,
) -> QuantizedTensor:
    """Quantize `x` (..., rows, features) to integers with round-to-nearest min-max scales.

    bits : int, or an integer array of one width per row (mixed precision across tokens).
    granularity : per-tensor, per-token, per-channel (rows of an (out, in) weight), per-column
        or per-group (of `group_size` features); see Granularity for the axis each reduces.
    clip_ratio : the range is max|x| * clip_ratio (symmetric) or [min, max] * clip_ratio.
    """
    x, _ = as_tensor(x)
    try:
        gran = Granularity(granularity)
    except ValueError:
        allowed = ", ".join(sorted(g.value for g in Granularity))
        raise ValueError(f"granularity={granularity!r} is unknown; allowed: {allowed}") from None
    if not x.is_floating_point():
        raise ValueError(f"x has dtype {x.dtype}; allowed: floating-point tensors")
    check_finite("x", x)
    if not 0.0 < clip_ratio <= 1.0:
        raise ValueError(f"clip_ratio={clip_ratio!r} is out of range; allowed: (0, 1]")
    shape = x.shape
    work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    if gran is Granularity.PER_GROUP:
        if group_size is None or group_size < 1 or shape[-1] % group_size:
            raise ValueError(
                f"group_size={group_size!r} does not divide features={shape[-1]}; allowed: a divisor of {shape[-1]}"
            )
        work = work.reshape(*shape[:-1], shape[-1] // group_size, group_size)
        dims: tuple[int, ...] = (-1,)
    elif gran in (Granularity.PER_TOKEN, Granularity.PER_CHANNEL):
        dims = (-1,)
    elif gran is Granularity.PER_COLUMN:
        if x.dim() < 2:
            raise ValueError("per-column quantization needs x with a row axis (..., rows, columns)")
        dims = (-2,)
    else:
        dims = tuple(range(work.dim()))
    b = _bits_tensor(bits, x, gran)
    if symmetric:
        qmax = (2 ** (b - 1) - 1).to(work.dtype)
        qmin = -qmax
        amax = work.abs().amax(dim=dims, keepdim=True) * clip_ratio
        scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
        zero_point = torch.zeros_like(scale)
        scale = _normal_scale(scale)
    else:
        qmax = (2**b - 1).to(work.dtype)
        qmin = torch.zeros_like(qmax)
        lo = work.amin(dim=dims, keepdim=True).clamp(max=0) * clip_ratio
        hi = work.amax(dim=dims, keepdim=True).clamp(min=0) * clip_ratio
        span = hi - lo
        scale = torch.where(span > 0, span / qmax, torch.ones_like(span))
        # hi - lo overflows for rows spanning more than the dtype's maximum; each term does not
        scale = _normal_scale(torch.where(torch.isfinite(span), scale, hi / qmax - lo / qmax))
        zero_point = torch.round(-lo / scale).clamp(min=0).minimum(qmax)
    q = torch.clamp(torch.round(work / scale) + zero_point, qmin, qmax)
    return QuantizedTensor(q=q, scale=scale, zero_point=zero_point, bits=b, shape=shape, symmetric=symmetric)


def _normal_scale(scale: torch.Tensor) -> torch.Tensor:
    """Scales at least the dtype's smallest normal number.

    A row of subnormals has amax / qmax below it (even 0): x / scale would be inf or NaN.
    At the smallest normal step such rows quantize to codes near 0, an error of at most
    half that step (1e-38 in float32).
    """
    return scale.clamp(min=torch.finfo(scale.dtype).tiny)


def dequantize(qt: QuantizedTensor) -> torch.Tensor:
    """Float values (q - zero_point) * scale in the original shape."""
    return qt.dequantize()


def fake_quantize(x, bits, granularity: str | Granularity = Granularity.PER_TOKEN, **kwargs):
    """quantize then dequantize, in x's own type (numpy in, numpy out) and dtype."""
    t, was_numpy = as_tensor(x)
    out = quantize(t, bits, granularity, **kwargs).dequantize().to(t.dtype)
    return out.numpy() if was_numpy else out
