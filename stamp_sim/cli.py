"""The `stamp-sim` command group; each subcommand lives in `stamp_sim/commands/`."""

from __future__ import annotations

import click

from stamp_sim import __version__


class _Group(click.Group):
    """The group; every subcommand runs inside one_line_errors, so no traceback reaches the user."""

    def invoke(self, ctx: click.Context):
        from stamp_sim.commands._errors import one_line_errors

        with one_line_errors():
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stamp-sim")
def main() -> None:
    """Simulate INT4/INT8 MAC arrays bit for bit and price precision configs on hardware."""


def _register() -> None:
    from stamp_sim.commands import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_register()
