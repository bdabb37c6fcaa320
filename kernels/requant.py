"""TFLite / gemmlowp fixed-point requantization of int32 accumulators (docs/METHODS.md section 5).

Transcribes the reference C++ (TFLite ``QuantizeMultiplier`` and the default double-rounding
``MultiplyByQuantizedMultiplier``; gemmlowp ``SaturatingRoundingDoublingHighMul`` and
``RoundingDivideByPOT``) operation by operation on int64 numpy arrays, so scalars and arrays
take the same path.

Two points where the C++ is more precise than a one-line summary:
- SRDHM rounds a tie *up* (toward +inf), not away from zero: ``(ab + nudge) / 2^31`` uses C's
  truncating division with nudge = 2^30 for ab >= 0 and 1 - 2^30 for ab < 0, so a*b/2^31 = 2.5
  gives 3 but -2.5 gives -2. RDBPOT does round ties away from zero.
- The left shift ``x * (1 << left_shift)`` is done in int32 in C++ (undefined on overflow;
  compiled code wraps); here it wraps to int32 too, which is what the hardware computes.
"""

from __future__ import annotations

import math

import numpy as np

from ._registers import register_range

__all__ = [
    "quantize_multiplier",
    "saturating_rounding_doubling_high_mul",
    "rounding_divide_by_pot",
    "multiply_by_quantized_multiplier",
    "requantize",
]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def quantize_multiplier(m: float) -> tuple[int, int]:
    """Real multiplier m -> (m0, shift) with m ~= m0 * 2^(shift - 31), TFLite ``QuantizeMultiplier``.

    m0 : int in [2^30, 2^31 - 1] (0 for m == 0, negative for m < 0), Q31 fixed point.
    shift : int exponent; > 0 is a left shift. Multipliers below ~2^-31 flush to (0, 0).

    >>> quantize_multiplier(1.0), quantize_multiplier(0.5), quantize_multiplier(0.0)
    ((1073741824, 1), (1073741824, 0), (0, 0))
    """
    m = float(m)
    if not math.isfinite(m):
        raise ValueError(f"multiplier={m!r} is not finite; allowed: finite real numbers")
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == 1 << 31:  # q rounded up to 1.0: renormalize
        q_fixed //= 2
        shift += 1
    if shift < -31:  # every bit would be shifted out: TFLite flushes to zero
        return 0, 0
    if shift > 30:
        raise ValueError(f"multiplier={m!r} is too large for an int32 left shift; allowed: |multiplier| < 2^30")
    return int(q_fixed), int(shift)


def _round_half_away(v: float) -> int:
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def _wrap_int32(a: np.ndarray) -> np.ndarray:
    return ((a - INT32_MIN) & 0xFFFFFFFF) + INT32_MIN


def _as_int32_array(name: str, a) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers; got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < INT32_MIN or arr.max() > INT32_MAX):
        raise ValueError(f"{name} has values outside int32 [{INT32_MIN}, {INT32_MAX}]")
    return arr


def _out(result: np.ndarray, *inputs):
    """A Python int when every input was a scalar, else an int64 array."""
    if all(np.ndim(v) == 0 for v in inputs):
        return int(result)
    return result


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SRDHM: round(a * b / 2^31) with C truncation semantics (ties toward +inf).

    a, b : int32 values (scalars or arrays, broadcast). The one overflowing case,
    a == b == INT32_MIN, returns INT32_MAX.
    """
    a64 = _as_int32_array("a", a)
    b64 = _as_int32_array("b", b)
    ab = a64 * b64  # |ab| <= 2^62: exact in int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    # C's '/' truncates toward zero; numpy's // floors, so divide magnitudes.
    high = np.sign(total) * (np.abs(total) >> 31)
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    return _out(np.where(overflow, INT32_MAX, high).astype(np.int64), a, b)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RDBPOT: x / 2^exponent rounded to nearest, ties away from zero.

    x : int32 values; exponent : 0..31 (scalar or array).
    """
    x64 = _as_int32_array("x", x)
    e = np.asarray(exponent, dtype=np.int64)
    if e.size and (e.min() < 0 or e.max() > 31):
        raise ValueError(f"exponent={exponent!r} is out of range; allowed: 0..31")
    mask = (np.int64(1) << e) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0)
    return _out(((x64 >> e) + (remainder > threshold)).astype(np.int64), x, exponent)


def multiply_by_quantized_multiplier(x, m0, shift):
    """TFLite MultiplyByQuantizedMultiplier (default double rounding): x * m0 * 2^(shift - 31).

    = RDBPOT(SRDHM(x * 2^max(shift, 0), m0), max(-shift, 0)); the left shift wraps to int32.
    x, m0 : int32 values; shift : -31..30. Scalars give an int, arrays an int64 array.

    >>> multiply_by_quantized_multiplier(100, *quantize_multiplier(0.5))
    50
    """
    x64 = _as_int32_array("x", x)
    s = np.asarray(shift, dtype=np.int64)
    if s.size and (s.min() < -31 or s.max() > 30):
        raise ValueError(f"shift={shift!r} is out of range; allowed: -31..30")
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    shifted = _wrap_int32(x64 << left)
    result = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m0), right)
    return _out(np.asarray(result, dtype=np.int64), x, m0, shift)


def requantize(acc, bias, multiplier, zero_point: int, out_bits: int = 8, signed: bool = True) -> np.ndarray:
    """int32 accumulators -> `out_bits`-bit outputs, TFLite style, per output channel.

    y = clamp(MBQM(acc + bias, m0[n], shift[n]) + zero_point, qmin, qmax) with
    (m0, shift) = quantize_multiplier(multiplier[n]).

    acc : int array (M x N) or (N,), int32 range.
    bias : None, scalar or (N,) int32 values, added before scaling (wraps to int32 like C++).
    multiplier : float or (N,) floats, real scale in_scale * w_scale / out_scale per channel.
    zero_point : int, output zero point.
    out_bits : 2..32, output width in bits; signed : output signedness.
    Returns int64 array of acc's shape.
    """
    if isinstance(out_bits, bool) or not isinstance(out_bits, (int, np.integer)) or not 2 <= out_bits <= 32:
        raise ValueError(f"out_bits={out_bits!r} is out of range; allowed: integers 2..32")
    qmin, qmax = register_range(int(out_bits), bool(signed))
    acc64 = _as_int32_array("acc", acc)
    total = acc64 if bias is None else _wrap_int32(acc64 + _as_int32_array("bias", bias))
    mult = np.asarray(multiplier, dtype=np.float64)
    if mult.ndim > 1 or (mult.ndim == 1 and acc64.ndim and mult.shape[0] != acc64.shape[-1]):
        raise ValueError(
            f"multiplier has shape {mult.shape}; allowed: a scalar or one value per output channel "
            f"({acc64.shape[-1] if acc64.ndim else 1},)"
        )
    pairs = [quantize_multiplier(v) for v in np.atleast_1d(mult)]
    m0 = np.array([p[0] for p in pairs], dtype=np.int64)
    shift = np.array([p[1] for p in pairs], dtype=np.int64)
    if mult.ndim == 0:
        m0, shift = m0[0], shift[0]
    scaled = np.asarray(multiply_by_quantized_multiplier(total, m0, shift), dtype=np.int64)
    return np.clip(scaled + int(zero_point), qmin, qmax).astype(np.int64)
