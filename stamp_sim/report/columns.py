"""What each results/layers column means: a display name, its unit, which way is better, a format.

One table of metadata shared by the words, the figures and the tables, so that
"perplexity (lower is better)" is spelled, and numbers rounded, the same everywhere.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from stamp_sim.report.errors import ReportError

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


def _m(column, name, unit, higher, fmt, header=None) -> Metric:
    return Metric(column, name, unit, higher, fmt, header or column)


METRICS: dict[str, Metric] = {m.column: m for m in [
    _m("config", "config", "", None, str),
    _m("hw", "hardware profile", "", None, str),
    _m("model", "model", "", None, str),
    _m("w_bits", "weight bits", "bits", None, _bits, "w bits"),
    _m("a_bits", "activation bits", "bits", None, _bits, "a bits"),
    _m("avg_a_bits", "average activation bits", "bits", None, _bits, "avg a bits"),
    _m("acc_bits", "accumulator bits", "bits", None, _bits, "acc bits"),
    _m("ppl", "perplexity", "", False, _sig(4), "ppl"),
    _m("kl", "KL divergence from the float model", "nats", False, _sig(3), "KL (nats)"),
    _m("top1", "top-1 agreement with the float model", "", True, _percent, "top-1"),
    _m("sqnr_db", "mean activation SQNR", "dB", True, _fixed(1), "SQNR (dB)"),
    _m("out_sqnr_db", "output SQNR", "dB", True, _fixed(1), "out SQNR (dB)"),
    _m("cosine", "cosine similarity to the float output", "", True, _fixed(4), "cosine"),
    _m("energy_mj", "energy", "mJ", False, _sig(3), "energy (mJ)"),
    _m("latency_ms", "latency", "ms", False, _sig(3), "latency (ms)"),
    _m("weight_mb", "weight memory", "MB", False, _sig(3), "weights (MB)"),
    _m("act_mb", "activation memory", "MB", False, _sig(3), "acts (MB)"),
    _m("overflow_rate", "accumulator overflow rate", "", False, _rate, "overflow rate"),
    _m("e_mac_mj", "MAC energy", "mJ", False, _sig(3), "MAC (mJ)"),
    _m("e_acc_mj", "accumulator energy", "mJ", False, _sig(3), "accumulate (mJ)"),
    _m("e_sram_mj", "SRAM energy", "mJ", False, _sig(3), "SRAM (mJ)"),
    _m("e_dram_mj", "DRAM energy", "mJ", False, _sig(3), "DRAM (mJ)"),
    _m("e_transform_mj", "transform energy", "mJ", False, _sig(3), "transform (mJ)"),
    _m("e_requant_mj", "requantization energy", "mJ", False, _sig(3), "requant (mJ)"),
    _m("act_sqnr_db", "activation SQNR", "dB", True, _fixed(1), "act SQNR (dB)"),
    _m("energy_concentration", "energy in the first rows", "", None, _percent, "energy in first rows"),
]}

#: The summary table's columns, in order (those present are shown).
SUMMARY_COLUMNS = (
    "config", "hw", "avg_a_bits", "acc_bits", "ppl", "kl", "top1", "sqnr_db", "out_sqnr_db",
    "energy_mj", "latency_ms", "weight_mb", "act_mb", "overflow_rate",
)

#: Cost axes the report compares on, in this order.
COST_AXES = ("energy_mj", "latency_ms")

#: Energy by component, summing to ``energy_mj``; each figure and table uses those present.
ENERGY_COMPONENTS = ("e_mac_mj", "e_acc_mj", "e_sram_mj", "e_dram_mj", "e_transform_mj", "e_requant_mj")

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
