"""Validation helpers: every error names the parameter, the value and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable

from stamp_sim._arrays import check_finite  # one NaN/Inf check for the whole toolkit

__all__ = ["NotFittedError", "check_choice", "check_int", "check_finite"]


class NotFittedError(ValueError):
    """A calibrated transform (KLT, SmoothQuant) was used before `.fit(...)`."""


def check_choice(param: str, value: object, allowed: Iterable[str]) -> str:
    """Return `value` if it is one of `allowed`, else raise ValueError listing them sorted."""
    choices = sorted(allowed)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{param}={value!r} is not allowed; choose one of {choices}")
    return value


def check_int(param: str, value: object, low: int, high: int | None = None) -> int:
    """Return `value` if it is an int (not bool) in [low, high]; high=None means unbounded."""
    in_range = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if in_range and high is not None:
        in_range = value <= high
    if not in_range:
        allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
        raise ValueError(f"{param}={value!r} is not allowed; it must be {allowed}")
    return value  # type: ignore[return-value]


