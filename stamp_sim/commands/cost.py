"""`stamp-sim cost`: what precision configs cost on a hardware profile, one line per config
(mJ, ms, MB, the bound; tokens/s for decode), or the per-layer table with --per-layer."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

import hw_models
from stamp_sim.commands._errors import one_line_errors
from stamp_sim.config import PRESETS, ConfigError, get_preset, load_configs
from stamp_sim.pricing import price_config
from stamp_sim.report import write_csv_atomic
from stamp_sim.report.tables import text_table
from stamp_sim.schema import PRICE_COLUMNS, column, convert

# The per-layer table's columns and headers, from the schema; every column but the labels and the bound sums.
TABLE_COLUMNS = {c.name: c.header for c in PRICE_COLUMNS}
SUM_COLUMNS = [c.name for c in PRICE_COLUMNS
               if c.name not in ("layer", "tokens", "k", "n", "rows", "mode_low", "mode_high", "bound")]
#: Tokens per sequence for --model when --tokens is not given: the same as `stamp-sim run`.
DEFAULT_TOKENS = 512


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


def _parse_configs(ctx, param, values):
    """Preset names, configs YAML files (the `run --configs` format) and mixed:PATH files, in order."""
    out = []
    for value in values:
        if value in PRESETS:
            out.append(get_preset(value))
        elif value.startswith("mixed:") or Path(value).is_file():
            try:
                out.extend(load_configs(value))
            except ConfigError as exc:
                raise click.BadParameter(str(exc)) from None
        else:
            raise click.BadParameter(f"{value!r} is neither a preset nor a file; allowed: a preset "
                                     f"({', '.join(sorted(PRESETS))}), a configs YAML file or mixed:PATH")
    names = [c.name for c in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise click.BadParameter(f"config names must be unique; repeated: {repeated}")
    return tuple(out)


def _default_tokens(model: str) -> int | None:
    """DEFAULT_TOKENS for a text model; None (the model's own input: 257 for a 224 px ViT-S/14, a DiT
    card's latent grid) for a ViT or a DiT."""
    from stamp_sim.models import ModelKind, model_spec

    return None if model_spec(model).kind in (ModelKind.VIT, ModelKind.DIT) else DEFAULT_TOKENS


def _adapted(configs, model) -> list:
    """The configs, each adapted to the model (a DiT's or ViT's DWT runs 2D over its token grid)."""
    from stamp_sim.config_eval import adapt_config
    from stamp_sim.models import model_spec

    return list(configs) if model is None else [adapt_config(c, model_spec(model).kind) for c in configs]


def _workload(shape, model, tokens) -> pd.DataFrame:
    """The GEMMs to price: one --shape, or every linear layer of --model (the one place a model is resolved)."""
    if shape is not None:
        if tokens is not None:
            raise click.UsageError("--tokens goes with --model; with --shape give the tokens as its first number")
        s, k, n = shape
        return pd.DataFrame({"layer": ["gemm"], "tokens": [s], "k": [k], "n": [n]})
    from stamp_sim.models import workload

    frame = workload(model, _default_tokens(model) if tokens is None else tokens)
    return frame[["layer", "tokens", "k", "n"]]


@click.command("cost")
@click.option("--hw", "profile", default="npu", show_default=True,
              help="Hardware profile: a built-in name (stamp-sim profiles) or a YAML path.")
@click.option("--shape", callback=_parse_shape, default=None, help="One GEMM as s,K,N (tokens, in, out features).")
@click.option("--model", default=None,
              help="Price every linear layer of a model: a name or card (stamp-sim models), a Hugging Face "
                   "folder, a .gguf file or a config.json (no weights needed).")
@click.option("--config", "configs", multiple=True, default=("w4a4-stamp",), show_default=True,
              callback=_parse_configs, metavar="PRESET|FILE",
              help="A preset, a configs YAML file (as run --configs) or mixed:PATH (repeatable).")
@click.option("--tokens", type=click.IntRange(1, 1 << 20), default=None,
              help=f"Sequence length for --model (default {DEFAULT_TOKENS}, as stamp-sim run; a ViT or DiT: its input).")
@click.option("--phase", type=click.Choice(["prefill", "decode"]), default="prefill", show_default=True,
              help="prefill prices all tokens (STaMP applies); decode one token (it does not).")
@click.option("--per-layer", is_flag=True, help="Also print each layer's bytes, energy by component (pJ), "
                                                 "latency (us) and bound.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write every column of the per-layer priced table to this CSV file.")
def cost(profile, shape, model, configs, tokens, phase, per_layer, csv_path):
    """Energy, latency, DRAM traffic and bound of precision configs on a profile, one line per config."""
    if (shape is None) == (model is None):
        raise click.UsageError("give exactly one of --shape s,K,N or --model NAME")
    with one_line_errors():
        prof = hw_models.load_profile(profile)
        work = _workload(shape, model, tokens)
        configs = _adapted(configs, model)
        table = pd.concat([price_config(work, c, [prof], [phase]) for c in configs], ignore_index=True)
    table["latency_us"] = convert(table["latency_s"], "s", column("latency_us").unit)
    if csv_path:
        with one_line_errors():
            write_csv_atomic(table, csv_path)
    what = f"{model}, {len(work)} linear layers" if model is not None else f"one GEMM {shape[0]}x{shape[1]}x{shape[2]}"
    rows = int(work["tokens"].max())
    click.echo(f"{prof.name}, {phase}" + (f" of {rows} tokens" if phase == "prefill" else " (one token)")
               + f": {what}")
    click.echo(text_table(*summary_rows(table, phase)))
    click.echo("covers the linear layers only (attention's two products, norms, embeddings and lm_head are not "
               "priced)" + (": tokens/s is an upper bound" if phase == "decode" else ""))
    if per_layer:
        for cfg in configs:
            _print_layers(table[table.config == cfg.name], cfg, prof.name, phase)
    else:
        click.echo("per-layer bytes, energy by component and bound: --per-layer")


def summary_rows(table: pd.DataFrame, phase: str) -> tuple[list[str], list[list[str]]]:
    """Headers and text rows of one line per config: energy (mJ, per token for decode), latency
    (serial and overlapped, ms), tokens/s for decode, DRAM and weight MB, the bound and how many
    layers are memory bound on their own."""
    tot = hw_models.totals(table)
    per = "/token" if phase == "decode" else ""
    headers = ["config", f"energy (mJ{per})", f"latency (ms{per})", f"overlapped (ms{per})"]
    headers += ["tokens/s"] if phase == "decode" else []
    headers += ["DRAM (MB)", "weights (MB)", "bound"]
    out = []
    for _, row in tot.iterrows():
        layers = table[table.config == row["config"]]
        latency_ms = hw_models.units.s_to_ms(row["latency_s"])
        cells = [str(row["config"]), f"{hw_models.units.pj_to_mj(row['energy_pj']):.4g}", f"{latency_ms:.4g}",
                 f"{hw_models.units.s_to_ms(row['latency_overlap_s']):.4g}"]
        cells += [f"{1e3 / latency_ms:,.0f}"] if phase == "decode" else []
        cells += [f"{hw_models.units.bytes_to_mb(row['dram_bytes']):.4g}",
                  f"{hw_models.units.bytes_to_mb(row['weight_bytes']):.4g}", _bound(layers, row["bound"])]
        out.append(cells)
    return headers, out


def _print_layers(rows: pd.DataFrame, cfg, profile: str, phase: str) -> None:
    description = getattr(cfg, "description", "") or "per-layer allocation"
    click.echo(f"\n{cfg.name} on {profile}, {phase}: {description}")
    shown = rows[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
    total = {TABLE_COLUMNS[c]: rows[c].sum() for c in SUM_COLUMNS}
    total.update(layer="TOTAL", bound=_bound(rows, hw_models.totals(rows)["bound"].iloc[0]))
    shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True)
    click.echo(shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))


def _bound(rows: pd.DataFrame, bound: str) -> str:
    """The whole model's bound (hw_models.totals), and how many layers are memory bound on their own."""
    memory = int((rows["bound"] == "memory").sum())
    return f"{bound} ({memory} of {len(rows)} layers memory bound)"
