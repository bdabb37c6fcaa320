"""`stamp-sim cost`: the per-layer cost table of a precision preset on a hardware profile."""

from __future__ import annotations

import click
import pandas as pd

import hw_models
from stamp_sim.commands._errors import one_line_errors
from stamp_sim.config import PRESETS, get_preset
from stamp_sim.pricing import price_workload
from stamp_sim.report import write_csv_atomic
from stamp_sim.schema import PRICE_COLUMNS, column, convert

# The table's columns and headers, from the schema; every column but the labels and the bound sums.
TABLE_COLUMNS = {c.name: c.header for c in PRICE_COLUMNS}
SUM_COLUMNS = [c.name for c in PRICE_COLUMNS
               if c.name not in ("layer", "tokens", "k", "n", "rows", "mode_low", "mode_high", "bound")]


def _parse_shape(ctx, param, value):
    if value is None:
        return None
    parts = value.split(",")
    try:
        s, k, n = (int(p) for p in parts)
    except ValueError:
        raise click.BadParameter(f"{value[:60]!r} is not s,K,N; allowed: three positive integers, e.g. 2048,576,576") from None
    if min(s, k, n) < 1:
        raise click.BadParameter(f"{value!r} has a value < 1; allowed: three positive integers, e.g. 2048,576,576")
    if max(s, k, n) > hw_models.MAX_DIM or s * k * n > hw_models.MAX_MACS:
        raise click.BadParameter(f"{value[:60]!r} is too large; allowed: each number <= {hw_models.MAX_DIM} and "
                                 f"s*K*N <= {hw_models.MAX_MACS} MACs (larger counts would overflow int64)")
    return s, k, n


def _default_tokens(model: str) -> int | None:
    """2048 tokens for a text model; None (the model's own input: 257 for a 224 px ViT-S/14, a DiT
    card's latent grid) for a ViT or a DiT."""
    from stamp_sim.models import ModelKind, model_spec

    return None if model_spec(model).kind in (ModelKind.VIT, ModelKind.DIT) else 2048


def _presets(names, model) -> list:
    """The presets, each adapted to the model (a DiT's DWT runs 2D over its latent grid)."""
    from stamp_sim.config_eval import adapt_config
    from stamp_sim.models import model_spec

    configs = [get_preset(c) for c in names]
    return configs if model is None else [adapt_config(c, model_spec(model).kind) for c in configs]


def _workload(shape, model, tokens) -> pd.DataFrame:
    if shape is not None:
        if tokens is not None:
            raise click.UsageError("--tokens goes with --model; with --shape give the tokens as its first number")
        s, k, n = shape
        return pd.DataFrame({"layer": ["gemm"], "tokens": [s], "k": [k], "n": [n]})
    from stamp_sim.models import workload

    frame = workload(model, tokens)
    return frame[["layer", "tokens", "k", "n"]]


@click.command("cost")
@click.option("--hw", "profile", default="npu", show_default=True,
              help="Hardware profile: a built-in name (stamp-sim profiles) or a YAML path.")
@click.option("--shape", callback=_parse_shape, default=None, help="One GEMM as s,K,N (tokens, in, out features).")
@click.option("--model", default=None,
              help="Price every linear layer of a model: a name or card (stamp-sim models), a Hugging Face "
                   "folder, a .gguf file or a config.json (no weights needed).")
@click.option("--config", "configs", multiple=True, default=("w4a4-stamp",), show_default=True,
              type=click.Choice(sorted(PRESETS)), help="Precision preset (repeatable).")
@click.option("--tokens", type=click.IntRange(1, 1 << 20), default=None,
              help="Sequence length for --model (default 2048; a ViT: its input size).")
@click.option("--phase", type=click.Choice(["prefill", "decode"]), default="prefill", show_default=True,
              help="prefill prices all tokens (STaMP applies); decode one token (it does not).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write every column of the priced table to this CSV file.")
def cost(profile, shape, model, configs, tokens, phase, csv_path):
    """Per-layer bytes, energy by component (pJ), latency and bound of presets on a profile."""
    if (shape is None) == (model is None):
        raise click.UsageError("give exactly one of --shape s,K,N or --model NAME")
    with one_line_errors():
        prof = hw_models.load_profile(profile)
        work = _workload(shape, model, _default_tokens(model) if model is not None and tokens is None else tokens)
        table = price_workload(work, _presets(configs, model), [prof], [phase])
    table["latency_us"] = convert(table["latency_s"], "s", column("latency_us").unit)
    if csv_path:
        with one_line_errors():
            write_csv_atomic(table, csv_path)
    for name in configs:
        rows = table[table.config == name]
        click.echo(f"\n{name} on {prof.name}, {phase}: {get_preset(name).description}")
        shown = rows[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
        total = {TABLE_COLUMNS[c]: rows[c].sum() for c in SUM_COLUMNS}
        total.update(layer="TOTAL", bound=_bound(rows, hw_models.totals(rows)))
        shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True)
        click.echo(shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))
    if len(configs) > 1:
        click.echo("\nTotals")
        click.echo(hw_models.totals(table)[["config", "energy_pj", "latency_s", "dram_bytes", "seq_transform_pj",
                                            "seq_transform_s"]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _bound(rows: pd.DataFrame, total: pd.DataFrame) -> str:
    """The model's bound (hw_models.totals) and how many layers are memory bound."""
    memory = (rows["bound"] == "memory").sum()
    return f"{total['bound'].iloc[0]} ({memory}/{len(rows)} layers memory)"
