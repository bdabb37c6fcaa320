"""The profile schema: every allowed field, its kind and what values it takes.

One table drives validation, the README's schema section is checked against it by a
test, and the error messages quote its `allowed` strings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from hw_models.profile import AccBehaviour, Dataflow, OperandMode

__all__ = ["FIELDS", "MODE_FIELDS", "NAME_ALLOWED", "NAME_PATTERN", "SECTIONS", "TOP_LEVEL", "Check", "check_value"]


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

# A profile's name labels results.csv rows, Markdown tables, HTML and matplotlib legends
# (where "$" starts mathtext): plain text only.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-=@:,()# ]{0,79}")
NAME_ALLOWED = ("1..80 characters: letters, digits and _ . + - = @ : , ( ) # and spaces, not starting with a "
                "space or punctuation other than _")

# Scalars at the top level that are not {value, source} quantities.
TOP_LEVEL = ("name", "description", "extends")

# Section -> field -> check.  ``clock_mhz`` sits at the top level as section "".
FIELDS: dict[str, dict[str, Check]] = {
    "": {"clock_mhz": POSITIVE},
    "mac_array": {"rows": POSITIVE_INT, "cols": POSITIVE_INT, "count": POSITIVE_INT, "dataflow": DATAFLOW},
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
}
SECTIONS = tuple(s for s in FIELDS if s) + ("modes",)

# modes.<mode>.<field>
MODE_FIELDS: dict[str, Check] = {"peak_tops": POSITIVE}
MODE_NAMES = tuple(m.value for m in OperandMode)
REQUIRED_MODE = OperandMode.FP16.value  # float layers and the last-resort fallback run here


def check_value(check: Check, value: object) -> bool:
    try:
        return bool(check.ok(value))
    except (TypeError, ValueError, OverflowError):
        return False
