"""`stamp-sim cost`: the per-layer cost table of a precision preset on a hardware profile."""

from __future__ import annotations

import click
import pandas as pd

import hw_models
from stamp_sim.commands._errors import one_line_errors
from stamp_sim.config import PRESETS, get_preset
from stamp_sim.costing import price_workload

TABLE_COLUMNS = {
    "layer": "layer", "tokens": "tokens", "k": "K", "n": "N", "rows": "rows", "mode_low": "mode",
    "mode_high": "mode_hi_rows",
    "macs": "MACs", "dram_bytes": "dram_B", "mac_pj": "mac_pJ", "accumulate_pj": "acc_pJ",
    "sram_pj": "sram_pJ", "dram_pj": "dram_pJ", "seq_transform_pj": "seq_tf_pJ",
    "feature_transform_pj": "feat_tf_pJ", "requant_pj": "requant_pJ", "energy_pj": "total_pJ",
    "latency_us": "latency_us", "bound": "bound",
}
SUM_COLUMNS = ["macs", "dram_bytes", "mac_pj", "accumulate_pj", "sram_pj", "dram_pj", "seq_transform_pj",
               "feature_transform_pj", "requant_pj", "energy_pj", "latency_us"]


def _parse_shape(ctx, param, value):
    if value is None:
        return None
    parts = value.split(",")
    try:
        s, k, n = (int(p) for p in parts)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not s,K,N; allowed: three positive integers, e.g. 2048,576,576") from None
    if min(s, k, n) < 1:
        raise click.BadParameter(f"{value!r} has a value < 1; allowed: three positive integers, e.g. 2048,576,576")
    return s, k, n


def _default_tokens(model: str) -> int | None:
    """2048 tokens for a text model; None (the model's own input: 257 for a 224 px ViT-S/14) for a ViT."""
    from stamp_sim.models import ModelKind, model_spec

    return None if model_spec(model).kind is ModelKind.VIT else 2048


def _workload(shape, model, tokens) -> pd.DataFrame:
    if shape is not None:
        if tokens is not None:
            raise click.UsageError("--tokens goes with --model; with --shape give the tokens as its first number")
        s, k, n = shape
        return pd.DataFrame({"layer": ["gemm"], "tokens": [s], "k": [k], "n": [n]})
    from stamp_sim.models import workload

    frame = workload(model, tokens)
    return frame[["layer", "s", "k", "n"]].rename(columns={"s": "tokens"})


@click.command("cost")
@click.option("--hw", "profile", default="npu", show_default=True,
              help="Hardware profile: a built-in name (stamp-sim profiles) or a YAML path.")
@click.option("--shape", callback=_parse_shape, default=None, help="One GEMM as s,K,N (tokens, in, out features).")
@click.option("--model", default=None, help="Price every linear layer of a model, e.g. smollm2-135m.")
@click.option("--config", "configs", multiple=True, default=("w4a4-stamp",), show_default=True,
              type=click.Choice(sorted(PRESETS)), help="Precision preset (repeatable).")
@click.option("--tokens", type=click.IntRange(min=1), default=None,
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
        table = price_workload(work, [get_preset(c) for c in configs], [prof], [phase])
    table["latency_us"] = table["latency_s"] * 1e6
    if csv_path:
        table.to_csv(csv_path, index=False)
    for name in configs:
        rows = table[table.config == name]
        click.echo(f"\n{name} on {prof.name}, {phase}: {get_preset(name).description}")
        shown = rows[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
        total = {TABLE_COLUMNS[c]: rows[c].sum() for c in SUM_COLUMNS}
        total.update(layer="TOTAL", bound=_bound(rows))
        shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True)
        click.echo(shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))
    if len(configs) > 1:
        click.echo("\nTotals")
        click.echo(hw_models.totals(table)[["config", "energy_pj", "latency_s", "dram_bytes", "seq_transform_pj",
                                            "seq_transform_s"]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _bound(rows: pd.DataFrame) -> str:
    memory = (rows["bound"] == "memory").sum()
    return f"{memory}/{len(rows)} memory"
