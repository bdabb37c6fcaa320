"""`stamp-sim calibrate`: fit a profile's free parameters to the user's measured latencies
and write a profile that extends the base (stamp_sim.profile_fit; CSV columns:
stamp_sim.measurements)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from stamp_sim import hw_models
from stamp_sim.commands._errors import one_line_errors
from stamp_sim.config import load_configs
from stamp_sim.fitted_profile import extends_reference, provenance_block, write_fitted_profile
from stamp_sim.latency_basis import free_parameters, parameter_values
from stamp_sim.measurements import read_measurements
from stamp_sim.report.tables import text_table


def _candidates(text: str | None, profile: hw_models.HardwareProfile) -> list[str] | None:
    if text is None:
        return None
    allowed = free_parameters(profile)
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise click.BadParameter(f"got {', '.join(bad) or repr(text)}; allowed: a comma-separated list of "
                                 f"{', '.join(allowed)}", param_hint="--params")
    return names


@click.command("calibrate")
@click.argument("measurements", type=click.Path(dir_okay=False))
@click.option("--hw", "base", required=True,
              help="The base profile: a built-in name (stamp-sim profiles) or a YAML path; the output extends it.")
@click.option("--configs", "configs_file", type=click.Path(dir_okay=False), default=None,
              help="A configs YAML file (as run --configs) defining config names the CSV uses besides the presets.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The fitted profile to write (YAML that extends --hw; --hw FILE takes it everywhere).")
@click.option("--params", default=None, metavar="P1,P2,...",
              help="Free parameters that may be fitted, as dotted YAML paths (default: every one: each mode's "
                   "large_m/small_m_efficiency, efficiency.dram, vector, kernel_overhead_us, call_overhead_us).")
def calibrate(measurements, base, configs_file, out, params):
    """Fit --hw's efficiencies and overheads to MEASUREMENTS.csv (columns model, config, phase,
    tokens, measured_ms) and write --out; prints every row's error in-sample and held out."""
    from stamp_sim.profile_fit import calibrate as fit_profile  # scipy: loaded only for this command

    with one_line_errors():
        profile = hw_models.load_profile(base)
        candidates = _candidates(params, profile)
        configs = {c.name: c for c in load_configs(configs_file)} if configs_file else {}
        forwards = read_measurements(measurements, configs)
        result = fit_profile(profile, forwards, candidates)
        if not result.fit.fitted:
            why = "; ".join(f"{k}: {v}" for k, v in result.fit.kept.items())
            raise ValueError(f"{measurements}: nothing can be fitted on {profile.name} from its {len(forwards)} "
                             f"row(s): {why}")
        ref = extends_reference(base, out)
        rows = _row_records(forwards, result)
        block = provenance_block(measurements, ref, result.fit.fitted, result.fit.kept, rows)
        path = write_fitted_profile(out, ref, profile,
                                    {f: result.fit.values[f] for f in result.fit.fitted}, block,
                                    Path(measurements).name, len(forwards))
    _print(profile, forwards, result, measurements, path, ref)


def _row_records(forwards, result) -> list[dict]:
    """Each row with its measured, base and fitted ms and the in-sample error (provenance)."""
    return [{"model": f.model, "config": f.config.name, "phase": f.phase, "tokens": int(f.tokens),
             "measured_ms": float(f.measured_ms), "base_ms": float(b * 1e3), "fitted_ms": float(p * 1e3),
             "error": float(p * 1e3 / f.measured_ms - 1.0)}
            for f, b, p in zip(forwards, result.base_s, result.fitted_s)]


def _pct(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{100 * value:+.1f}%"


def _print(profile, forwards, result, measurements, path, ref) -> None:
    from stamp_sim.profile_fit import SENSITIVITY_FLOOR, error_summary

    fit, models = result.fit, list(dict.fromkeys(f.model for f in forwards))
    click.echo(f"{profile.name}: {len(forwards)} rows of {measurements} ({len(models)} model(s)); "
               f"fitted {len(fit.fitted)} of {len(fit.fitted) + len(fit.kept)} free parameters")
    base = parameter_values(profile)
    for name in fit.fitted:
        click.echo(f"  fitted {name}: {base[name]:.4g} -> {fit.values[name]:.4g}")
    by_reason: dict[str, list[str]] = {}
    for name, why in fit.kept.items():
        by_reason.setdefault(why, []).append(name)
    for why, names in by_reason.items():
        click.echo(f"  kept from {profile.name} ({why}): {', '.join(names)}")
    held = result.heldout
    headers = ["row", "model", "config", "phase", "tokens", "measured ms", "base ms", "base err", "fitted ms",
               "in-sample err", "held-out ms", "held-out err"]
    body = []
    for i, (f, b, p, h) in enumerate(zip(forwards, result.base_s, result.fitted_s, held.predicted_s), start=1):
        m = f.measured_ms
        body.append([str(i), f.model, f.config.name, f.phase, str(f.tokens), f"{m:.4g}", f"{b * 1e3:.4g}",
                     _pct(b * 1e3 / m - 1), f"{p * 1e3:.4g}", _pct(p * 1e3 / m - 1),
                     "n/a" if not np.isfinite(h) else f"{h * 1e3:.4g}", _pct(h * 1e3 / m - 1)])
    click.echo(text_table(headers, body))
    phases = [f.phase for f in forwards]
    if len(models) == 1:
        click.echo(f"leave one model out is not possible with one model ({models[0]}): held-out is leave one row "
                   "out (refit without each row, predict it)")
    else:
        click.echo("held-out is leave one model out (refit without each model's rows, predict them)")
    for what, pred in (("base", result.base_s), ("in-sample", result.fitted_s), ("held-out", held.predicted_s)):
        parts = [f"{phase} median {100 * s['median']:.1f}%, worst {100 * s['worst']:.1f}% ({s['rows']} rows)"
                 for phase, s in error_summary(pred, result.measured_s, phases).items()]
        click.echo(f"{what} |error|: " + ("; ".join(parts) or "n/a"))
    click.echo(f"sensitivity floor |d log t / d log p| {SENSITIVITY_FLOOR}; wrote {path} (extends {ref}): "
               f"--hw {path} prices with the fitted values")
