"""How the report shows each results/layers column: its name, unit, direction and format.

Derived from the declarations in ``stamp_sim.schema`` and shared by the words, the
figures and the tables, so that "perplexity (lower is better)" is spelled, and numbers
rounded, the same everywhere.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from stamp_sim.report.errors import ReportError
from stamp_sim.schema import COST_COLUMNS, RUN_SUMMARY, Fmt, described_columns

__all__ = [
    "COST_AXES",
    "ENERGY_COMPONENTS",
    "METRICS",
    "SUMMARY_COLUMNS",
    "Metric",
    "choose_quality",
    "format_value",
    "has_values",
    "hw_groups",
    "require_columns",
]


def _sig(digits: int) -> Callable[[float], str]:
    """Format with ``digits`` significant digits, but never in exponent form for 1e-3 <= |x| < 1e6."""

    def fmt(x: float) -> str:
        if x == 0:
            return "0"
        mag = math.floor(math.log10(abs(x)))
        if mag < -3 or mag >= 6:
            return f"{x:.{digits - 1}e}"
        return f"{x:.{max(digits - 1 - mag, 0)}f}"

    return fmt


def _fixed(decimals: int) -> Callable[[float], str]:
    return lambda x: f"{x:.{decimals}f}"


def _bits(x: float) -> str:
    # Whole bit widths print as integers; averages (4.5 bits) keep two decimals.
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}"


def _percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def _rate(x: float) -> str:
    return "0" if x == 0 else f"{x:.2e}"


@dataclasses.dataclass(frozen=True)
class Metric:
    """One column: ``name`` in prose, ``unit`` (may be empty), direction and number format."""

    column: str
    name: str
    unit: str
    higher_is_better: bool | None
    fmt: Callable[[float], str]
    header: str

    @property
    def axis_label(self) -> str:
        """An axis label with the unit and the direction, e.g. ``Energy (mJ)``."""
        unit = f" ({self.unit})" if self.unit else ""
        if self.higher_is_better is None:
            return f"{self.name[:1].upper()}{self.name[1:]}{unit}"
        way = "higher" if self.higher_is_better else "lower"
        return f"{self.name[:1].upper()}{self.name[1:]}{unit}, {way} is better"

    def format(self, value) -> str:
        """``value`` as text in this column's format; missing values print as ``n/a``."""
        return format_value(value, self.fmt)


# Each schema format, as a function of a finite number.
_FORMATTERS: dict[Fmt, Callable[[float], str]] = {
    Fmt.TEXT: str, Fmt.BITS: _bits, Fmt.SIG3: _sig(3), Fmt.SIG4: _sig(4), Fmt.FIXED1: _fixed(1),
    Fmt.FIXED4: _fixed(4), Fmt.PERCENT: _percent, Fmt.RATE: _rate,
}

#: Report metadata of every labelled column, derived from ``stamp_sim.schema``.
METRICS: dict[str, Metric] = {
    c.name: Metric(c.name, c.label, c.unit, c.higher_is_better, _FORMATTERS[c.fmt], c.header)
    for c in described_columns()
}

#: The summary table's columns, in order (those present are shown): the run summary with the
#: accumulator in words (fp32 for a float config), both ends of the latency range, decode, and
#: a decoder's whole forward (time to first token, tokens/s, peak memory).
SUMMARY_COLUMNS = tuple(
    c for name in RUN_SUMMARY
    for c in {"acc_bits": ("acc",), "latency_ms": ("latency_ms", "latency_overlap_ms")}.get(name, (name,))
) + ("decode_energy_mj", "decode_latency_ms", "ttft_ms", "model_tokens_per_s", "peak_memory_mb")

#: Cost axes the report compares on, in this order.
COST_AXES = ("energy_mj", "latency_ms")

#: Energy by component, summing to ``energy_mj``; each figure and table uses those present.
ENERGY_COMPONENTS = tuple(c.name for c in COST_COLUMNS if c.name.startswith("e_"))

# Quality columns in order of preference: perplexity is what LM users compare; encoders
# and ViTs have no perplexity, so the output SQNR stands in; the mean activation SQNR last.
_QUALITY_PREFERENCE = ("ppl", "out_sqnr_db", "sqnr_db")


def has_values(df: pd.DataFrame, column: str) -> bool:
    """True when ``column`` exists in ``df`` and holds at least one finite number."""
    if column not in df.columns:
        return False
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return bool(np.isfinite(values).any())


def choose_quality(results: pd.DataFrame) -> Metric | None:
    """The quality metric to rank configs by: ``ppl`` (lower is better) when it has values,
    else ``out_sqnr_db`` (higher is better), else ``sqnr_db``; None when none has values."""
    for column in _QUALITY_PREFERENCE:
        if has_values(results, column):
            return METRICS[column]
    return None


def format_value(value, fmt: Callable[[float], str] = _sig(4)) -> str:
    """``value`` through ``fmt`` when it is a finite number; strings pass through; missing is ``n/a``."""
    if value is None or value is pd.NA:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "n/a"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return fmt(number)


def require_columns(df: pd.DataFrame, columns, what: str) -> None:
    """Raise ReportError naming every column of ``columns`` that ``df`` lacks."""
    if not isinstance(df, pd.DataFrame):
        raise ReportError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ReportError(f"{what}: missing column(s) {missing}; present: {sorted(map(str, df.columns))}")


def hw_groups(results: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``results`` split by the ``hw`` column, in first-seen order; one unnamed group without it."""
    if "hw" not in results.columns:
        return [("", results)]
    hw = results["hw"].astype(object).where(results["hw"].notna(), "")
    return [(str(name), results.loc[hw == name]) for name in pd.unique(hw)]
