"""`stamp-sim cost`: what precision configs cost on a hardware profile, one line per config.

With --model a decoder is priced whole (stamp_sim.forward_cost: time to first token, ms per
token, tokens/s, energy per token, peak memory); a --shape, a ViT / encoder / DiT or
--linear-only prices linear layers (mJ, ms, MB, the bound). --per-layer prints every row."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from stamp_sim import hw_models
from stamp_sim.commands._errors import one_line_errors
from stamp_sim.config import ALL_PRESETS, ConfigError, get_preset, load_configs
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
        if value in ALL_PRESETS:
            out.append(get_preset(value))
        elif value.startswith("mixed:") or Path(value).is_file():
            try:
                out.extend(load_configs(value))
            except ConfigError as exc:
                raise click.BadParameter(str(exc)) from None
        else:
            raise click.BadParameter(f"{value!r} is neither a preset nor a file; allowed: a preset "
                                     f"({', '.join(sorted(ALL_PRESETS))}), a configs YAML file or mixed:PATH")
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
              help="Price a model's whole forward (a decoder: linear layers, lm_head, attention, KV cache, norms, "
                   "embedding; other models: their linear layers): a name or card (stamp-sim models), a Hugging "
                   "Face folder, a .gguf file or a config.json (no weights needed).")
@click.option("--config", "configs", multiple=True, default=("w4a4-stamp",), show_default=True,
              callback=_parse_configs, metavar="PRESET|FILE",
              help="A preset, a configs YAML file (as run --configs) or mixed:PATH (repeatable).")
@click.option("--tokens", type=click.IntRange(1, 1 << 20), default=None,
              help=f"Prompt length of prefill for --model (default {DEFAULT_TOKENS}, as stamp-sim run; a ViT or DiT: "
                   "its input).")
@click.option("--context", type=click.IntRange(0, 1 << 20), default=None,
              help=f"Decode: the tokens already in the KV cache that the new token attends to (default {DEFAULT_TOKENS}).")
@click.option("--phase", type=click.Choice(["prefill", "decode"]), default="prefill", show_default=True,
              help="prefill prices all prompt tokens (STaMP applies); decode one new token at --context.")
@click.option("--linear-only", is_flag=True, help="Price the linear layers of the blocks only (the cost model "
                                                   "before whole-model pricing; ViTs, encoders and DiTs always).")
@click.option("--per-layer", is_flag=True, help="Also print each row's bytes, energy by component (pJ), "
                                                 "latency (us) and bound.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write every column of the priced table (one row per kernel) to this CSV file; its "
                   "latency_s, energy_pj and weight_bytes columns sum to the totals.")
def cost(profile, shape, model, configs, tokens, context, phase, linear_only, per_layer, csv_path):
    """Energy, latency, memory and bound of precision configs on a profile, one line per config."""
    if (shape is None) == (model is None):
        raise click.UsageError("give exactly one of --shape s,K,N or --model NAME")
    if context is not None and (phase != "decode" or model is None):
        raise click.UsageError("--context goes with --model and --phase decode")
    with one_line_errors():
        prof = hw_models.load_profile(profile)
        whole = model is not None and not linear_only and _is_decoder(model)
        configs = _adapted(configs, model)
        if whole:
            context = DEFAULT_TOKENS if context is None else context
            table, summaries = _price_whole(model, configs, prof, phase, tokens, context)
        else:
            work = _workload(shape, model, tokens)
            table = pd.concat([price_config(work, c, [prof], [phase]) for c in configs], ignore_index=True)
    table["latency_us"] = convert(table["latency_s"], "s", column("latency_us").unit)
    if csv_path:
        with one_line_errors():
            write_csv_atomic(table, csv_path)
    if whole:
        _print_whole(model, prof.name, phase, context, summaries)
    else:
        _print_linear(shape, model, prof.name, phase, table, work)
    if per_layer:
        for cfg in configs:
            _print_layers(table[table.config == cfg.name], cfg, prof.name, phase)
    else:
        click.echo("per-row bytes, energy by component and bound: --per-layer")


def _is_decoder(model: str) -> bool:
    from stamp_sim.models import ModelKind, model_spec

    return model_spec(model).kind is ModelKind.CAUSAL_LM


def _price_whole(model, configs, prof, phase, tokens, context):
    """price_forward of every config, and its ForwardSummary."""
    from stamp_sim.forward_cost import forward_summary, price_forward

    tokens = DEFAULT_TOKENS if tokens is None else tokens
    tables = [price_forward(model, cfg, prof, phase, tokens, context) for cfg in configs]
    summaries = [(cfg.name, forward_summary(t, model)) for cfg, t in zip(configs, tables)]
    return pd.concat(tables, ignore_index=True), summaries


def _print_linear(shape, model, profile: str, phase: str, table: pd.DataFrame, work: pd.DataFrame) -> None:
    what = f"{model}, {len(work)} linear layers" if model is not None else f"one GEMM {shape[0]}x{shape[1]}x{shape[2]}"
    rows = int(work["tokens"].max())
    click.echo(f"{profile}, {phase}" + (f" of {rows} tokens" if phase == "prefill" else " (one token)") + f": {what}")
    click.echo(text_table(*summary_rows(table, phase)))
    click.echo("covers the linear layers only (attention's two products, norms, embeddings and lm_head are not "
               "priced)" + (": tokens/s is an upper bound" if phase == "decode" else "")
               + ("; a decoder's whole forward: drop --linear-only" if model is not None and _is_decoder(model) else ""))


def _print_whole(model, profile: str, phase: str, context: int, summaries) -> None:
    first = summaries[0][1]
    what = f"prefill of {first.tokens} tokens" if phase == "prefill" else f"decode of one token at context {context}"
    click.echo(f"{profile}, {what}: {model}, whole forward ({first.kernels} kernels)")
    click.echo(text_table(*whole_summary_rows(summaries, phase)))
    for name, summ in summaries:
        shares = ", ".join(f"{part} {100 * share:.1f}%" for part, share in
                           sorted(summ.latency_share.items(), key=lambda kv: -kv[1]))
        click.echo(f"{name}: latency by part: {shares}")
    click.echo("lm_head runs as simulated (a config's lm_head_bits, else fp16); prefill computes the last "
               "position's logits; peak memory = weights + KV cache + the largest layer's live activations")


def whole_summary_rows(summaries, phase: str) -> tuple[list[str], list[list[str]]]:
    """Headers and text rows of one line per config of a whole-forward price: time to first
    token (prefill) or ms per token and tokens/s (decode), energy and energy per token (mJ),
    weights, KV cache and peak memory (MB), and the bound."""
    u = hw_models.units
    if phase == "prefill":
        headers = ["config", "TTFT (ms)", "prompt tokens/s", "energy (mJ)", "mJ/token"]
    else:
        headers = ["config", "ms/token", "tokens/s", "mJ/token"]
    headers += ["weights (MB)", "KV cache (MB)", "peak memory (MB)", "bound"]
    out = []
    for name, s in summaries:
        cells = [name, f"{u.s_to_ms(s.latency_s):.4g}", f"{s.tokens_per_s:,.1f}"]
        cells += [f"{u.pj_to_mj(s.energy_pj):.4g}"] if phase == "prefill" else []
        cells += [f"{u.pj_to_mj(s.energy_per_token_pj):.4g}", f"{u.bytes_to_mb(s.weight_bytes):.4g}",
                  f"{u.bytes_to_mb(s.kv_cache_bytes):.4g}", f"{u.bytes_to_mb(s.peak_memory_bytes):.4g}", s.bound]
        out.append(cells)
    return headers, out


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
    # A linear-only table has no vector_pj (the decoder's ops): its column stays blank.
    rows = rows.reindex(columns=list(dict.fromkeys([*rows.columns, *TABLE_COLUMNS])))
    shown = rows[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
    total = {TABLE_COLUMNS[c]: rows[c].sum() for c in SUM_COLUMNS}
    total.update(layer="TOTAL", bound=_bound(rows, hw_models.totals(rows)["bound"].iloc[0]))
    shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True)
    click.echo(shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))
    rotations = _rotation_line(rows)
    if rotations:
        click.echo(rotations)


def _rotation_line(rows: pd.DataFrame) -> str:
    """Where a config's feature rotation runs online (feat_tf_pJ > 0) and where it is folded
    into the weights (pricing.online_rotation); '' when the config rotates nothing."""
    if "feature_transform" not in rows.columns:
        return ""
    notes = rows["feature_transform"].astype(str)
    online = rows.loc[notes.str.startswith("online"), "layer"].astype(str)
    folded = int(notes.str.startswith("Hadamard rotation folded").sum())
    qk = int((rows["kind"] == "qk_rotation").sum()) if "kind" in rows.columns else 0
    if online.empty and not folded and not qk:
        return ""
    names = ", ".join(sorted({n.rsplit(".", 1)[-1] for n in online})) or "none"
    line = f"rotation: online on {len(online)} linear layers ({names}), folded into the weights on {folded}"
    return line + (f"; online on queries and keys in {qk} blocks (quantized KV cache)" if qk else "")


def _bound(rows: pd.DataFrame, bound: str) -> str:
    """The whole model's bound (hw_models.totals), and how many layers are memory bound on their own."""
    memory = int((rows["bound"] == "memory").sum())
    return f"{bound} ({memory} of {len(rows)} layers memory bound)"
