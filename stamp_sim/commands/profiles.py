"""`stamp-sim profiles`: list the built-in hardware profiles; `profiles show NAME`: every number and its source."""

from __future__ import annotations

import click
import pandas as pd

from stamp_sim import hw_models
from stamp_sim.commands._errors import one_line_errors


@click.group("profiles", invoke_without_command=True)
@click.pass_context
def profiles(ctx: click.Context) -> None:
    """List the built-in hardware profiles with their headline numbers."""
    if ctx.invoked_subcommand is not None:
        return
    with one_line_errors():
        rows = [hw_models.load_profile(name).headline() for name in hw_models.builtin_names()]
        described = {name: hw_models.load_profile(name).description for name in hw_models.builtin_names()}
    table = pd.DataFrame(rows).set_index("name")
    click.echo(table.to_string(na_rep="-"))
    click.echo("\n*_tops: dense peak per operand mode (-: the chip lacks it; its layers run on a wider mode)\n"
               "array: COUNTxROWSxCOLS DATAFLOW, e.g. 5x64x64 ws = five 64x64 MAC arrays, weight-stationary "
               "(ws/os/is: weight-, output-, input-stationary)\n")
    width = max(len(n) for n in described)
    for name, description in described.items():
        click.echo(f"{name:<{width}}  {description or '(no description)'}")
    click.echo("\nDetails and sources: stamp-sim profiles show NAME (or a YAML path); schema: docs/PROFILES.md")


@profiles.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Every field of profile NAME (a built-in or a YAML path) with its value and source."""
    with one_line_errors():
        prof = hw_models.load_profile(name)
    click.echo(f"{prof.name}: {prof.description or '(no description)'}")
    click.echo(f"file: {prof.path}")
    values = _values(prof)
    width = max(len(k) for k in prof.sources)
    for field, source in prof.sources.items():
        click.echo(f"  {field:<{width}}  {values[field]!s:<12}  {source}")
    packing = ", ".join(f"{m.value} {prof.packing(m):g}" for m in prof.modes)
    click.echo(f"derived: MACs per PE per cycle by mode: {packing}")


def _values(prof: hw_models.HardwareProfile) -> dict[str, object]:
    """Dotted field -> value, in the profile's units."""
    out: dict[str, object] = {"clock_mhz": prof.clock_mhz}
    arr = prof.mac_array
    out.update({"mac_array.rows": arr.rows, "mac_array.cols": arr.cols, "mac_array.count": arr.count,
                "mac_array.dataflow": arr.dataflow.value, "mac_array.fill": arr.fill.value})
    for m, spec in prof.modes.items():
        out.update({f"modes.{m.value}.{k}": v for k, v in vars(spec).items()})
    out.update({"accumulator.widths_bits": list(prof.accumulator.widths_bits),
                "accumulator.behaviour": prof.accumulator.behaviour.value})
    out.update({"memory.sram_kib": prof.memory.sram_kib, "memory.dram_gbps": prof.memory.dram_gbps,
                "vector.gops": prof.vector.gops})
    out.update({f"energy.{k}": v for k, v in vars(prof.energy).items()})
    out.update({f"efficiency.{k}": v for k, v in vars(prof.efficiency).items()})
    out.update({f"execution.{k}": v.value for k, v in vars(prof.execution).items()})
    return out
