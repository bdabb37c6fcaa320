"""`stamp-sim sweep PLAN.yaml`: models x configs x profiles (x tokens), one table, one report."""

from __future__ import annotations

import click

from stamp_sim.commands._cluster import cluster_options, executor_for
from stamp_sim.commands._errors import one_line_errors

_SUMMARY = ("model", "tokens", "config", "hw", "ppl", "kl", "out_sqnr_db", "energy_mj", "latency_ms")


@click.command("sweep")
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@click.option("--resume", "resume_dir", default=None, type=click.Path(file_okay=False),
              help="Finish a sweep directory with the plan in its run.json (finished units are skipped).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar over units on stderr.")
@cluster_options
def sweep(plan_file, resume_dir, progress, executor, scheduler, workers):
    """Evaluate every config of PLAN_FILE on every model and price it on every profile.

    Each finished (model, tokens, config) is written to results.csv / layers.csv as it
    finishes; a failing one is reported with its error while the others go on, and the
    exit code is 1 when any failed. Writes run.json, report.md and report.html too.
    """
    from stamp_sim.config import ConfigError
    from stamp_sim.workflows.sweep import load_sweep, run_sweep
    from stamp_sim.workflows.sweep_plan import load_plan

    if (plan_file is None) == (resume_dir is None):
        raise click.UsageError("give PLAN_FILE or --resume DIR (one of them)")
    try:
        plan = load_plan(plan_file) if plan_file else load_sweep(resume_dir)
    except ConfigError as exc:  # every problem of the plan, one per line
        raise click.ClickException(str(exc)) from None
    with one_line_errors(), executor_for(executor, scheduler, workers, local=True) as ex:
        outcome = run_sweep(plan, ex, resume_dir, progress=progress)
    import pandas as pd

    results_path = outcome.run_dir / "results.csv"
    if results_path.exists():
        results = pd.read_csv(results_path)
        cols = [c for c in _SUMMARY if c in results and results[c].notna().any()]
        with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 500):
            click.echo(results[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    total = len(plan.models) * len(plan.tokens) * len(plan.configs)
    click.echo(f"{outcome.done} of {total} units done")
    for f in outcome.failures:
        click.echo(f"failed: {f.unit}: {f.error}", err=True)
    if (outcome.run_dir / "report.html").exists():
        click.echo(f"report: {outcome.run_dir / 'report.html'}")
    if outcome.failures:
        raise click.ClickException(f"{len(outcome.failures)} units failed; rerun with --resume {outcome.run_dir}")
