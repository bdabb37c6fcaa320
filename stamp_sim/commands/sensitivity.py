"""`stamp-sim sensitivity`: per-layer sensitivity, Kendall tau, budgeted mixed precision."""

from __future__ import annotations

import json

import click

from stamp_sim.commands._cluster import cluster_options, executor_for
from stamp_sim.commands._errors import one_line_errors


def _csv_list(ctx, param, value):
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise click.BadParameter(f"{value!r} names no preset; allowed: comma-separated preset names")
    return items


@click.command("sensitivity")
@click.option("--hw", "profile", default="npu", show_default=True,
              help="Hardware profile the budget is priced on: a built-in name or a YAML path.")
@click.option("--model", default="smollm2-135m", show_default=True,
              help="Causal LM: a registered name (smollm2-135m, tiny-llama), a Hugging Face folder or a .gguf file.")
@click.option("--data", default=None, type=click.Path(dir_okay=False),
              help="Scoring/evaluation text: a .txt, .jsonl or .parquet file (default: the Wikipedia sample).")
@click.option("--data-field", default="text", show_default=True, help="Field holding the text in .jsonl / .parquet.")
@click.option("--candidates", default="w4a4,w4a4-stamp,w4a8", show_default=True, callback=_csv_list,
              help="Comma-separated presets a layer group may be lowered to.")
@click.option("--base", default="w8a8", show_default=True, help="Preset every group starts at (the all-high end).")
@click.option("--budget-axis", "axis", type=click.Choice(["energy", "latency", "bytes"]), default="energy",
              show_default=True, help="Cost the budget limits (prefill, from hw_models).")
@click.option("--order", type=click.Choice(["sensitivity", "per-cost"]), default="sensitivity", show_default=True,
              help="Lower least-sensitive first, or least sensitivity per unit of cost saved first.")
@click.option("--tokens", default=256, show_default=True, type=int, help="Tokens per window.")
@click.option("--calib-windows", default=2, show_default=True, type=click.IntRange(1, 100_000), help="Windows the metrics are scored on.")
@click.option("--windows", default=2, show_default=True, type=click.IntRange(1, 100_000), help="Held-out windows for perplexity.")
@click.option("--budgets", default=3, show_default=True, type=click.IntRange(1, 1000),
              help="Budget points between the all-cheapest and all-base cost.")
@click.option("--blocks", default=None, help="Score only these transformer blocks, e.g. 0-3,29 (others stay at base).")
@click.option("--max-groups", default=None, type=click.IntRange(1, 100_000), help="Score at most this many groups, evenly spaced.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1), help="Seed for the window choice.")
@click.option("--out", default="reports", show_default=True, help="Root folder of run directories.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr.")
@cluster_options
def sensitivity(profile, model, data, data_field, candidates, base, axis, order, tokens, calib_windows, windows,
                budgets, blocks, max_groups, seed, out, progress, executor, scheduler, workers):
    """Score every linear layer group alone at each candidate (KL, logit MSE, layer SQNR,
    delta CE vs the true perplexity increase), then allocate precision under a hardware budget.

    Writes sensitivity.csv, kendall.csv, curve.csv, allocation.csv, allocations/*.yaml
    (usable as `stamp-sim run --configs mixed:PATH`), figures, run.json, report.md and
    report.html into a new directory under --out; prints a summary ending with the report path.
    """
    with one_line_errors():
        from stamp_sim.models import model_spec
        from stamp_sim.sensitivity import parse_blocks
        from stamp_sim.workflows.sensitivity import SensitivityConfig, run_sensitivity

        model_spec(model)  # unknown names fail before anything is written
        cfg = SensitivityConfig(model=model, profile=profile, candidates=candidates, base=base, axis=axis,
                                order=order, tokens=tokens, calib_windows=calib_windows, windows=windows,
                                budgets=budgets, seed=seed, out=out,
                                blocks=parse_blocks(blocks) if blocks is not None else None, max_groups=max_groups,
                                data=data, data_field=data_field)
        with executor_for(executor, scheduler, workers) as ex:
            run_dir = run_sensitivity(cfg, progress=progress, executor=ex)
    import pandas as pd

    from stamp_sim.sensitivity import ppl_pivot, tau_pivot

    meta = json.loads((run_dir / "run.json").read_text())
    tau = pd.read_csv(run_dir / "kendall.csv")
    alloc = pd.read_csv(run_dir / "allocation.csv")
    t = meta["timings_s"]
    click.echo(f"{model} on {meta['hw']}: {meta['groups']} groups x {len(cfg.candidates)} candidates, "
               f"float ppl {meta['float_ppl']:.4g}; wall {t['total']:.1f} s (scoring {t['scoring']:.1f} s)")
    click.echo("\nKendall tau vs perplexity increase")
    click.echo(tau_pivot(tau).to_string(float_format=lambda v: f"{v:.3f}"))
    click.echo(f"\nPerplexity by {axis} budget (share of all-{base} cost)")
    click.echo(ppl_pivot(alloc).to_string(float_format=lambda v: f"{v:.4g}"))
    ends = alloc[alloc.metric.isin(["base", "lowest"])]
    for _, row in ends.iterrows():
        click.echo(f"{row['config']}: cost {row['cost']:.4g} {row['unit']}, ppl {row['ppl']:.4g}")
    click.echo(f"report: {run_dir / 'report.html'}")
