"""`stamp-sim models`: the models --model knows by name (registered and architecture cards)."""

from __future__ import annotations

import click
import pandas as pd

from stamp_sim.commands._errors import one_line_errors


@click.command("models")
def models():
    """List registered models (loadable) and architecture cards (cost only), with their sources.

    Any Hugging Face folder, .gguf file or config.json path is accepted by --model too.
    """
    with one_line_errors():
        from stamp_sim.models.resolve import catalog

        table = catalog()
    with pd.option_context("display.width", 250, "display.max_colwidth", 120):
        click.echo(table.to_string(index=False))
    click.echo("\nAlso: --model PATH to a Hugging Face folder, a .gguf file or a config.json (cost only).")
