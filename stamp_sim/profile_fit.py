"""Fit a hardware profile's free parameters to measured latencies, and say how well the
fit predicts forwards it has not seen.

The fit is bounded least squares (scipy.optimize.least_squares, trust-region reflective)
on the log of predicted over measured time, so a 10% miss weighs the same on a 5 ms
decode step as on a 2 s prefill. Efficiencies are fitted as their logarithm, bounded to
[1e-4, 1]; overheads in microseconds, bounded below by 0. Predictions come from a
``latency_basis.LatencyBasis`` (exactly the cost model's price, in microseconds per
evaluation).

Only the parameters the rows pin down are fitted (``select``): the sensitivity of each
row's log time to each parameter's log is taken near the base values by finite
differences (``sensitivities``); a parameter no row moves by SENSITIVITY_FLOOR is kept, one whose effect on the rows is mostly that of a
stronger parameter (COLLINEAR) is kept, and no more parameters are fitted than there are
rows, the weakest kept. Held-out error refits without each model's rows (leave one model
out) and predicts them; with a single model, without each row.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from scipy.optimize import least_squares

from stamp_sim.latency_basis import LatencyBasis, free_parameters, is_efficiency, parameter_values

__all__ = ["COLLINEAR", "EFFICIENCY_PROBES", "FLAT", "OVERHEAD_SHARE", "RANDOM_STARTS", "SENSITIVITY_FLOOR", "Calibration", "Fit", "Heldout", "calibrate", "error_summary",
           "fit", "held_out", "select", "sensitivities"]

#: |d log(time) / d log(parameter)| below which no row is said to depend on a parameter:
#: doubling it would move every row by less than 1.4%, within any measurement's noise.
SENSITIVITY_FLOOR = 0.02
#: A parameter whose sensitivities, across the rows, keep less than this fraction of their
#: norm once the stronger chosen parameters' are projected out, is not told apart from them.
COLLINEAR = 0.03
#: An overhead's sensitivity is taken where it would be this fraction of the rows' median
#: measured time (at 0 it has none, yet any forward measures it).
OVERHEAD_SHARE = 0.05
#: Starts of the fit besides the base values and a fixed grid (seeded: the same rows
#: always give the same fit).
RANDOM_STARTS = 8
#: Largest |log(time)| change, over the rows, at which a fitted parameter's base value
#: "fits them as well" (0.1%).
FLAT = 1e-3
#: Fractions of an efficiency's value at which its sensitivity is also taken (sensitivities).
EFFICIENCY_PROBES = (1.0, 0.5, 0.25)
_LOG_EFF_MIN = float(np.log(1e-4))
_INSIDE = 0.01  # how far inside its bounds a fit starts (log efficiency; overhead / its scale)
_STEP = 0.01  # log step of the finite-difference sensitivities


@dataclass(frozen=True)
class Fit:
    """One fit on a subset of rows.

    values : every free parameter (dotted path -> value), fitted ones replaced.
    fitted : the parameters fitted, strongest first; kept : parameter -> why it kept the
    base value. rows : the rows fitted (indices into the basis). cost : half the sum of
    squared log residuals at the optimum.
    """

    values: Mapping[str, float]
    fitted: tuple[str, ...]
    kept: Mapping[str, str]
    rows: tuple[int, ...]
    cost: float = 0.0


def _scales(basis: LatencyBasis, rows: np.ndarray, measured_s: np.ndarray) -> dict[str, float]:
    """Microseconds at which each overhead would be OVERHEAD_SHARE of the median measured time."""
    median_s = float(np.median(measured_s[rows]))
    kernels = float(np.median(np.maximum(basis.kernel_overheads[rows], 1.0)))
    calls = float(np.median(np.maximum(basis.calls[rows], 1.0)))
    return {"efficiency.kernel_overhead_us": OVERHEAD_SHARE * median_s / kernels * 1e6,
            "efficiency.call_overhead_us": OVERHEAD_SHARE * median_s / calls * 1e6}


def _log_slope(basis: LatencyBasis, at: Mapping[str, float], name: str, rows: np.ndarray) -> np.ndarray:
    """d log(time) / d log(name) of `rows` at `at`, by a finite difference (one-sided at an efficiency of 1)."""
    lo, hi = dict(at), dict(at)
    lo[name] = at[name] * np.exp(-_STEP)
    if not is_efficiency(name) or at[name] * np.exp(_STEP) <= 1.0:
        hi[name] = at[name] * np.exp(_STEP)
    return (np.log(basis.latency_s(hi)[rows]) - np.log(basis.latency_s(lo)[rows])) / np.log(hi[name] / lo[name])


def sensitivities(basis: LatencyBasis, values: Mapping[str, float], rows: np.ndarray, measured_s: np.ndarray,
                  candidates: Sequence[str]) -> np.ndarray:
    """(len(rows), len(candidates)) d log(time) / d log(parameter) near `values`.

    A time hidden behind another at `values` (MACs under a DRAM-bound kernel) is still
    pinned down by the rows if the parameter is lower than assumed, so an efficiency's
    slope is the largest of those at EFFICIENCY_PROBES x its value (the others at
    `values`); an overhead's is taken at max(value, OVERHEAD_SHARE of the median row).
    """
    scales = _scales(basis, rows, measured_s)
    out = np.zeros((len(rows), len(candidates)))
    for j, name in enumerate(candidates):
        if is_efficiency(name):
            slopes = [_log_slope(basis, {**values, name: values[name] * f}, name, rows) for f in EFFICIENCY_PROBES]
            out[:, j] = max(slopes, key=lambda col: float(np.abs(col).max(initial=0.0)))
        else:
            out[:, j] = _log_slope(basis, {**values, name: max(values[name], scales[name])}, name, rows)
    return out


def select(basis: LatencyBasis, values: Mapping[str, float], rows: np.ndarray, measured_s: np.ndarray,
           candidates: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Which candidates the rows pin down (module docstring): (fitted strongest first,
    {kept parameter: why})."""
    sens = sensitivities(basis, values, rows, measured_s, candidates)
    strength = np.abs(sens).max(axis=0) if len(rows) else np.zeros(len(candidates))
    kept: dict[str, str] = {}
    chosen: list[int] = []
    basis_vectors: list[np.ndarray] = []
    for j in np.argsort(-strength, kind="stable"):
        name = candidates[j]
        if strength[j] < SENSITIVITY_FLOOR:
            kept[name] = "no row depends on it"
            continue
        col = sens[:, j].copy()
        for q in basis_vectors:
            col -= q * (q @ col)
        if np.linalg.norm(col) < COLLINEAR * np.linalg.norm(sens[:, j]):
            kept[name] = f"on these rows it acts as the fitted ones do (mostly {_closest(sens, j, chosen, candidates)})"
            continue
        if len(chosen) >= len(rows):
            kept[name] = f"more free parameters than rows ({len(rows)}): weaker than the fitted ones"
            continue
        chosen.append(int(j))
        basis_vectors.append(col / np.linalg.norm(col))
    return [candidates[j] for j in chosen], kept


def _closest(sens: np.ndarray, j: int, chosen: list[int], candidates: Sequence[str]) -> str:
    """The chosen parameter whose sensitivities are most nearly parallel to candidate j's."""
    norms = np.linalg.norm(sens, axis=0)
    cosine = [abs(float(sens[:, i] @ sens[:, j])) / (norms[i] * norms[j]) for i in chosen]
    return candidates[chosen[int(np.argmax(cosine))]]


def fit(basis: LatencyBasis, measured_s: np.ndarray, rows: Sequence[int] | None = None,
        candidates: Sequence[str] | None = None) -> Fit:
    """Fit the parameters `select` picks on `rows` (default: all) of `basis` to
    `measured_s` (seconds, one per basis row). candidates : the parameters that may be
    fitted (default: all free parameters). An empty `fitted` means none could be."""
    measured_s = np.asarray(measured_s, dtype=np.float64)
    idx = np.arange(basis.rows) if rows is None else np.asarray(list(rows), dtype=np.int64)
    base = parameter_values(basis.profile)
    candidates = list(free_parameters(basis.profile) if candidates is None else candidates)
    chosen, kept = select(basis, base, idx, measured_s, candidates)
    if not chosen:
        return Fit(values=base, fitted=(), kept=kept, rows=tuple(idx.tolist()))
    scales = _scales(basis, idx, measured_s)

    def values_of(z: np.ndarray) -> dict[str, float]:
        out = dict(base)
        for name, x in zip(chosen, z):
            out[name] = float(np.exp(x)) if is_efficiency(name) else float(x) * scales[name]
        return out

    def residuals(z: np.ndarray) -> np.ndarray:
        return np.log(basis.latency_s(values_of(z))[idx]) - np.log(measured_s[idx])

    lower = np.array([_LOG_EFF_MIN if is_efficiency(n) else 0.0 for n in chosen])
    upper = np.array([0.0 if is_efficiency(n) else np.inf for n in chosen])
    z0 = np.array([np.log(base[n]) if is_efficiency(n) else base[n] / scales[n] for n in chosen])
    # The time is a max of sums: a start can end in a local minimum (one efficiency
    # standing in for another), so several starts run and the lowest cost wins.
    runs = [least_squares(residuals, z, bounds=(lower, upper), method="trf") for z in _starts(z0, lower, upper)]
    best = min(r.cost for r in runs)
    result = next(r for r in runs if r.cost <= best * (1 + 1e-6) + 1e-15)  # the earliest start among equals
    values, fitted = _release_flat(basis, idx, base, values_of(result.x), chosen, kept)
    return Fit(values=values, fitted=tuple(fitted), kept=kept, rows=tuple(idx.tolist()), cost=float(result.cost))


def _starts(z0: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> list[np.ndarray]:
    """The base values first (trf scales each step by the distance to the bounds, so a
    start on one, an efficiency of 1 or an overhead of 0, would never leave it: each start
    lies just inside), then a fixed grid and RANDOM_STARTS seeded draws: efficiencies
    0.02..1, overheads 0..4 x their scale."""
    lo, hi = lower + _INSIDE, np.minimum(upper - _INSIDE, np.where(np.isfinite(upper), upper, 4.0))
    eff = lower < 0  # efficiencies are the log-bounded variables
    grid = [np.where(eff, np.log(f), o) for f, o in ((0.5, 1.0), (0.2, 0.2))]
    rng = np.random.default_rng(0)
    draws = [np.where(eff, rng.uniform(np.log(0.02), 0.0, len(z0)), rng.uniform(0.0, 4.0, len(z0)))
             for _ in range(RANDOM_STARTS)]
    return [np.clip(z, lo, hi) for z in (z0, *grid, *draws)]


def _release_flat(basis: LatencyBasis, rows: np.ndarray, base: Mapping[str, float], values: dict[str, float],
                  chosen: Sequence[str], kept: dict[str, str]) -> tuple[dict[str, float], list[str]]:
    """Put back BASE's value of every fitted parameter the rows only bound (at the
    optimum, BASE's value moves no row by FLAT); it joins `kept`. Returns (values, fitted)."""
    values, fitted = dict(values), []
    for name in chosen:
        trial = {**values, name: base[name]}
        moved = np.abs(np.log(basis.latency_s(trial)[rows] / basis.latency_s(values)[rows])).max()
        if moved < FLAT:
            values = trial
            kept[name] = "the rows only bound it: the base value fits them as well"
        else:
            fitted.append(name)
    return values, fitted


@dataclass(frozen=True)
class Heldout:
    """Held-out predictions: predicted_s (rows,), each row predicted by the fit of the
    rows outside its group; scheme ("leave one model out" | "leave one row out");
    folds : group -> the parameters that fold fitted."""

    predicted_s: np.ndarray
    scheme: str
    folds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def held_out(basis: LatencyBasis, measured_s: np.ndarray, models: Sequence[str],
             candidates: Sequence[str] | None = None) -> Heldout:
    """Refit without each model's rows and predict them (leave one model out); with a
    single model, without each row (leave one row out). A fold with nothing to fit
    predicts at the base values."""
    models = list(models)
    distinct = list(dict.fromkeys(models))
    if len(distinct) > 1:
        groups = {m: [i for i, x in enumerate(models) if x == m] for m in distinct}
        scheme = "leave one model out"
    else:
        groups = {f"row {i + 1}": [i] for i in range(len(models))}
        scheme = "leave one row out"
    predicted = np.full(basis.rows, np.nan)
    folds = {}
    for name, out in groups.items():
        train = [i for i in range(basis.rows) if i not in out]
        if not train:
            continue
        result = fit(basis, measured_s, train, candidates)
        predicted[out] = basis.latency_s(result.values)[out]
        folds[name] = result.fitted
    return Heldout(predicted_s=predicted, scheme=scheme, folds=folds)


def error_summary(predicted: np.ndarray, measured: np.ndarray, phases: Sequence[str]) -> dict[str, dict]:
    """Per phase (prefill, decode, in that order, those present): rows, median and worst
    |predicted / measured - 1|, NaN predictions left out."""
    err = np.abs(np.asarray(predicted) / np.asarray(measured) - 1.0)
    out = {}
    for phase in ("prefill", "decode"):
        vals = [float(e) for e, p in zip(err, phases) if p == phase and np.isfinite(e)]
        if vals:
            out[phase] = {"rows": len(vals), "median": statistics.median(vals), "worst": max(vals)}
    return out


@dataclass(frozen=True)
class Calibration:
    """A profile fitted to measured forwards, with its in-sample and held-out predictions.

    basis : the LatencyBasis of the rows on the base profile. fit : the fit on every row.
    measured_s, base_s, fitted_s, heldout.predicted_s : (rows,) seconds.
    """

    basis: LatencyBasis
    fit: Fit
    measured_s: np.ndarray
    base_s: np.ndarray
    fitted_s: np.ndarray
    heldout: Heldout


def calibrate(profile, forwards, candidates: Sequence[str] | None = None) -> Calibration:
    """Fit `profile`'s free parameters (or `candidates`) to `forwards`
    (latency_basis.MeasuredForward), and predict each model's rows from the others'."""
    basis = LatencyBasis.build(profile, forwards)
    measured = np.array([f.measured_ms * 1e-3 for f in forwards])
    result = fit(basis, measured, candidates=candidates)
    heldout = held_out(basis, measured, [f.model for f in forwards], candidates)
    return Calibration(basis=basis, fit=result, measured_s=measured,
                       base_s=basis.latency_s(parameter_values(profile)),
                       fitted_s=basis.latency_s(result.values), heldout=heldout)
