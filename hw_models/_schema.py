"""The profile schema: every allowed field, its kind and what values it takes.

One table drives validation, the README's schema section is checked against it by a
test, and the error messages quote its `allowed` strings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from .profile import AccBehaviour, Dataflow, Fill, MixedRows, OperandMode, WeightOnly, WeightScales

__all__ = ["DEFAULTS", "FIELDS", "MODE_DEFAULTS", "MODE_FIELDS", "NAME_ALLOWED", "NAME_PATTERN", "SECTIONS", "TOP_LEVEL",
           "Check", "check_value"]


@dataclass(frozen=True)
class Check:
    """How one leaf is validated: `ok(value)` and the human text of what is allowed."""

    ok: Callable[[object], bool]
    allowed: str


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# Upper bounds keep every product of the cost model (MACs x pJ, cycles x arrays) far inside
# float64 and int64: no real chip is within a factor 1000 of them.
MAX_NUMBER = 1e12
MAX_INT = 1 << 20

POSITIVE = Check(lambda v: _is_number(v) and 0 < v <= MAX_NUMBER, "a finite number > 0 and <= 1e12")
NON_NEGATIVE = Check(lambda v: _is_number(v) and 0 <= v <= MAX_NUMBER, "a finite number >= 0 and <= 1e12")
POSITIVE_INT = Check(lambda v: _is_int(v) and 0 < v <= MAX_INT, "an integer > 0 and <= 1048576")
DATAFLOW = Check(lambda v: v in {d.value for d in Dataflow}, ", ".join(sorted(d.value for d in Dataflow)))
BEHAVIOUR = Check(lambda v: v in {b.value for b in AccBehaviour}, ", ".join(sorted(b.value for b in AccBehaviour)))
ACC_WIDTHS = Check(
    lambda v: isinstance(v, list)
    and len(v) > 0
    and all(_is_int(b) and 8 <= b <= 64 for b in v)
    and list(v) == sorted(set(v)),
    "a non-empty ascending list of distinct integers 8..64 (bits)",
)

FRACTION = Check(lambda v: _is_number(v) and 0 < v <= 1, "a number > 0 and <= 1 (a fraction of the peak)")
WEIGHT_ONLY = Check(lambda v: v in {w.value for w in WeightOnly}, ", ".join(sorted(w.value for w in WeightOnly)))
MIXED_ROWS = Check(lambda v: v in {m.value for m in MixedRows}, ", ".join(sorted(m.value for m in MixedRows)))
FILL = Check(lambda v: v in {f.value for f in Fill}, ", ".join(sorted(f.value for f in Fill)))
WEIGHT_SCALES = Check(lambda v: v in {w.value for w in WeightScales}, ", ".join(sorted(w.value for w in WeightScales)))

# A profile's name labels results.csv rows, Markdown tables, HTML and matplotlib legends
# (where "$" starts mathtext): plain text only.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-=@:,()# ]{0,79}")
NAME_ALLOWED = ("1..80 characters: letters, digits and _ . + - = @ : , ( ) # and spaces, not starting with a "
                "space or punctuation other than _")

# Top-level keys that are not {value, source} quantities. ``provenance`` is a mapping that
# `stamp-sim calibrate` writes (measurements' hash, date, residuals) for people to read:
# the loader accepts it and pricing never reads it.
TOP_LEVEL = ("name", "description", "extends", "provenance")

# Section -> field -> check.  ``clock_mhz`` sits at the top level as section "".
FIELDS: dict[str, dict[str, Check]] = {
    "": {"clock_mhz": POSITIVE},
    "mac_array": {"rows": POSITIVE_INT, "cols": POSITIVE_INT, "count": POSITIVE_INT, "dataflow": DATAFLOW,
                  "fill": FILL},
    "accumulator": {"widths_bits": ACC_WIDTHS, "behaviour": BEHAVIOUR},
    "memory": {"sram_kib": POSITIVE, "dram_gbps": POSITIVE},
    "vector": {"gops": POSITIVE},
    "energy": {
        "int_multiply_8x8_pj": NON_NEGATIVE,
        "int_add_32b_pj": NON_NEGATIVE,
        "fp16_multiply_pj": NON_NEGATIVE,
        "fp32_add_pj": NON_NEGATIVE,
        "sram_pj_per_byte": NON_NEGATIVE,
        "dram_pj_per_byte": NON_NEGATIVE,
        "vector_op_pj": NON_NEGATIVE,
    },
    "efficiency": {"dram": FRACTION, "vector": FRACTION, "small_m_rows": POSITIVE_INT,
                   "kernel_overhead_us": NON_NEGATIVE, "call_overhead_us": NON_NEGATIVE},
    "execution": {"weight_only": WEIGHT_ONLY, "mixed_rows": MIXED_ROWS, "weight_scales": WEIGHT_SCALES},
}

# Optional fields: dotted path -> (value, the source recorded when the file leaves it out).
# Efficiencies default to a pure roofline; execution to what the cost model assumed before
# profiles could say (dequantize weight-only layers; mixed rows in one pass over the
# weights, so fewer bits never move more bytes: a two-pass chip can, and must say so; group
# scales rescaling every partial sum, the dearest way, so a chip that folds or overlaps them
# says so). The MAC array double-buffers its tiles, as matrix engines do (TPU v1's weight
# FIFO, GPUs' multi-stage shared-memory pipelines); SCALE-Sim's serial count is `serial`.
_ROOFLINE = "default: 1.0, a pure roofline (no achieved-efficiency measurement given)"
DEFAULTS: dict[str, tuple[object, str]] = {
    "efficiency.dram": (1.0, _ROOFLINE),
    "efficiency.vector": (1.0, _ROOFLINE),
    "efficiency.small_m_rows": (16, "default: GEMMs of <= 16 rows (decode) count as small M"),
    "efficiency.kernel_overhead_us": (0.0, "default: 0, no fixed cost per kernel (a pure roofline)"),
    "efficiency.call_overhead_us": (0.0, "default: 0, no fixed cost per forward call (a pure roofline)"),
    "execution.weight_only": ("dequantize", "default: weights dequantized to fp16 by the vector unit"),
    "execution.mixed_rows": ("one-pass", "default: rows at two widths share one pass over the weights"),
    "execution.weight_scales": ("per-partial-sum", "default: group-wise weight scales rescale every K-group's partial "
                                "sum on the vector unit (the dearest execution: an upper bound)"),
    "mac_array.fill": ("overlap", "default: the next tile loads while the current one computes (double-buffered "
                       "matrix engine); serial is SCALE-Sim's count"),
}
SECTIONS = tuple(s for s in FIELDS if s) + ("modes",)

# modes.<mode>.<field>
MODE_FIELDS: dict[str, Check] = {"peak_tops": POSITIVE, "large_m_efficiency": FRACTION, "small_m_efficiency": FRACTION}
MODE_DEFAULTS: dict[str, tuple[object, str]] = {"large_m_efficiency": (1.0, _ROOFLINE),
                                                "small_m_efficiency": (1.0, _ROOFLINE)}
MODE_NAMES = tuple(m.value for m in OperandMode)
REQUIRED_MODE = OperandMode.FP16.value  # float layers and the last-resort fallback run here


def check_value(check: Check, value: object) -> bool:
    try:
        return bool(check.ok(value))
    except (TypeError, ValueError, OverflowError):
        return False
