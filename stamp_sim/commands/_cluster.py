"""The --executor / --scheduler / --workers options shared by run, sensitivity and sweep."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click


def cluster_options(command):
    """Add --executor, --scheduler and --workers to a click command."""
    options = [
        click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
                     help="Where units run: this process, or a Dask cluster (one model per worker process)."),
        click.option("--scheduler", default=None, metavar="ADDRESS",
                     help="Dask scheduler of an existing cluster, e.g. tcp://host:8786 "
                          "(default with --executor dask: a local cluster of --workers processes)."),
        click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
                     help="Worker processes (one thread each) of the local Dask cluster."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextlib.contextmanager
def executor_for(executor: str, scheduler: str | None, workers: int, local: bool = False) -> Iterator:
    """The executor the options name (None for local unless `local`), closed afterwards.

    A unit failure (UnitsFailed) becomes one line per failed unit on stderr and exit 1.
    """
    from stamp_sim.workflows.executors import UnitsFailed, make_executor

    if executor == "local" and scheduler is not None:
        raise click.BadParameter("is for --executor dask", param_hint="--scheduler")
    ex = make_executor(executor, scheduler, workers, echo=lambda line: click.echo(line, err=True)) \
        if executor == "dask" or local else None
    try:
        yield ex
    except UnitsFailed as failed:
        for f in failed.failures:
            click.echo(f"failed: {f.unit}: {f.error}", err=True)
        raise click.ClickException(f"{len(failed.failures)} of {failed.total} units failed "
                                   "(the others are written)") from None
    finally:
        if ex is not None:
            ex.close()
