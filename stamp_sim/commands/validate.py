"""`stamp-sim validate`: integer kernels against the reference and the float path."""

from __future__ import annotations

import sys

import click

from stamp_sim.commands._errors import one_line_errors


@click.command("validate")
@click.option("--backend", "backends", multiple=True, type=click.Choice(["numba", "torch"]),
              help="Backends to check against the reference (repeatable; default: all).")
@click.option("--cases", default=20, show_default=True, type=click.IntRange(0, 10_000),
              help="Random cases in addition to the adversarial ones.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Seed of the random cases.")
def validate(backends, cases, seed):
    """Check every kernel backend bit for bit against kernels.reference, and the integer
    STaMP layer against the fake-quant float path; exit 1 on any mismatch."""
    import pandas as pd

    from stamp_sim.progress import Stages
    from stamp_sim.workflows.validate import COLUMN_NOTES, KERNEL_BACKENDS, validate as run_validation

    from stamp_sim import provenance

    with one_line_errors():
        click.echo(f"exact GEMM: {provenance.exact_gemm()}")
        table = run_validation(cases, seed, tuple(backends) or KERNEL_BACKENDS, stages=Stages(file=sys.stderr))
    with pd.option_context("display.width", 200, "display.max_colwidth", 60, "display.max_rows", 500):
        click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    click.echo("")
    for note in COLUMN_NOTES:
        click.echo(note)
    bad = int(table.mismatches.sum())
    if bad:
        raise click.ClickException(f"{bad} mismatching outputs")
    click.echo(f"all {len(table)} checks agree")
