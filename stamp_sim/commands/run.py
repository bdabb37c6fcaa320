"""`stamp-sim run`: cost/accuracy trade-off report of precision configs on hardware profiles."""

from __future__ import annotations

import time
from pathlib import Path

import click
from click.core import ParameterSource

from stamp_sim.commands._cluster import cluster_options, executor_for
from stamp_sim.commands._errors import one_line_errors
from stamp_sim.config import DEFAULT_CALIB_WINDOWS, DEFAULT_INT_LAYERS, PRESETS, RunConfig, load_configs
from stamp_sim.progress import Stages

# CLI option -> RunConfig field, for the options a resumed run must not contradict.
_RUN_OPTIONS = {"profiles": "profiles", "model": "model", "configs_file": "configs", "tokens": "tokens",
                "windows": "windows", "calib_windows": "calib_windows", "seed": "seed", "out": "out",
                "device": "device", "int_layers": "int_layers", "data": "data", "data_field": "data_field"}


class _IntOrAll(click.ParamType):
    """A layer count 0..100000, or 'all' (None)."""

    name = "N|all"

    def convert(self, value, param, ctx):
        if value is None or value == "all":
            return None
        try:
            count = int(value)
        except (TypeError, ValueError):
            count = -1
        if not 0 <= count <= 100_000:
            self.fail(f"{value!r} is not a layer count; allowed: an integer 0..100000 or 'all'", param, ctx)
        return count


def _option_name(ctx: click.Context, param: str) -> str:
    return next(p.opts[0] for p in ctx.command.params if p.name == param)


def _resumed(ctx: click.Context, resume_dir: str, options: dict) -> RunConfig:
    """run.json's RunConfig; refuses any option given on the command line that differs from it."""
    from stamp_sim.workflows.run import load_run, resume_conflicts

    saved, _ = load_run(resume_dir)
    given = {}
    for param, field in _RUN_OPTIONS.items():
        if ctx.get_parameter_source(param) is ParameterSource.COMMANDLINE:
            value = options[param]
            given[field] = tuple(load_configs(value)) if field == "configs" else value
    for field, have, want in resume_conflicts(saved, given):
        param = next(p for p, f in _RUN_OPTIONS.items() if f == field)
        raise click.ClickException(f"{_option_name(ctx, param)} {want!r} differs from the run being resumed "
                               f"({have!r} in {Path(resume_dir) / 'run.json'}); drop the option or start a new run")
    return saved


@click.command("run")
@click.option("--hw", "profiles", multiple=True, default=("npu",), show_default=True,
              help="Hardware profile: a built-in name or a YAML path (repeatable).")
@click.option("--model", default="smollm2-135m", show_default=True,
              help="A registered model or card (stamp-sim models), a Hugging Face folder, a .gguf file or a "
                   "config.json; without weights the report is cost only.")
@click.option("--data", default=None, type=click.Path(dir_okay=False),
              help="Evaluation/calibration text: a .txt, .jsonl or .parquet file (default: the Wikipedia sample).")
@click.option("--data-field", default="text", show_default=True, help="Field holding the text in .jsonl / .parquet.")
@click.option("--configs", "configs_file", default=None,
              help="YAML list of preset names / PrecisionConfig mappings (default: every preset).")
@click.option("--tokens", default=512, show_default=True, type=click.IntRange(2, 1 << 20), help="Tokens per evaluation window.")
@click.option("--windows", default=4, show_default=True, type=click.IntRange(1, 100_000), help="Evaluation windows (or images).")
@click.option("--calib-windows", default=DEFAULT_CALIB_WINDOWS, show_default=True, type=click.IntRange(0, 100_000),
              help="Calibration windows (KLT, SmoothQuant, GPTQ / GPFQ Hessians; disjoint from evaluation). GPTQ wants "
                   "more tokens than a layer's in-features: a run with fewer says so.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1), help="Seed for window choice and randomized rotations.")
@click.option("--out", default="reports", show_default=True, help="Root folder of run directories.")
@click.option("--resume", "resume_dir", default=None, type=click.Path(file_okay=False),
              help="Finish an interrupted run directory with its run.json options (others given must agree).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the model is evaluated.")
@click.option("--int-layers", default=str(DEFAULT_INT_LAYERS), type=_IntOrAll(), show_default=True,
              help="Layers per config in the exact-accumulator agreement check, evenly spaced over the model "
                   "(so every depth and layer role); 'all' checks every layer, 0 none. Accuracy always runs every "
                   "layer whose accumulator can overflow through the integer kernels.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr.")
@click.option("--profile-stages", is_flag=True, default=False,
              help="Print wall time and peak memory of every stage (per config) at the end, and write them to "
                   "the run directory's stages.csv (the local executor's stages; Dask units are in run.json).")
@cluster_options
@click.pass_context
def run(ctx, profiles, model, data, data_field, configs_file, tokens, windows, calib_windows, seed, out, resume_dir,
        device, int_layers, progress, profile_stages, executor, scheduler, workers):
    """Evaluate precision configs on a real model and price them on hardware profiles.

    Writes results.csv, layers.csv, run.json, figures, report.md and report.html into a
    new directory under --out, and prints a summary ending with the report's path.
    """
    with one_line_errors():
        if resume_dir is not None:
            run_cfg = _resumed(ctx, resume_dir, ctx.params)
        else:
            configs = tuple(load_configs(configs_file)) if configs_file else tuple(PRESETS.values())
            run_cfg = RunConfig(model=model, configs=configs, profiles=tuple(profiles), tokens=tokens,
                                windows=windows, calib_windows=calib_windows, seed=seed, out=out, device=device,
                                int_layers=int_layers, data=data, data_field=data_field)
        if run_cfg.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise click.BadParameter("no CUDA device is available here; use --device cpu", param_hint="--device")
        from stamp_sim.models import model_spec
        from stamp_sim.workflows.run import run_experiment

        model_spec(run_cfg.model)  # unknown names and bad paths fail before anything is written
        stages = Stages(enabled=progress, profile=profile_stages)
        start = time.perf_counter()
        with executor_for(executor, scheduler, workers) as ex:
            run_dir = run_experiment(run_cfg, Path(resume_dir) if resume_dir else None, stages=stages, executor=ex)
        wall_s = time.perf_counter() - start
    _print_summary(run_dir)
    if profile_stages:
        _print_profile(run_dir, stages, wall_s)


def _print_profile(run_dir: Path, stages: Stages, wall_s: float) -> None:
    from stamp_sim.report import write_csv_atomic
    from stamp_sim.stage_profile import profile_text, stage_table

    if stages.records:
        write_csv_atomic(stage_table(stages.records), run_dir / "stages.csv")
    click.echo("")
    click.echo(profile_text(stages.records or [], wall_s, stages.peak_overall_mb))
    if stages.records:
        click.echo(f"stage profile: {run_dir / 'stages.csv'}")


# Summary columns left to the report, so the screen stays under ~180 characters wide.
_NOT_ON_SCREEN = ("kl", "sqnr_db", "weight_mb", "act_mb", "decode_energy_mj")


def _print_summary(run_dir: Path) -> None:
    """The report's summary table (same columns and number formats), its usability rule, what
    the numbers cover, and the report's path."""
    import json

    import pandas as pd

    from stamp_sim.report import read_table
    from stamp_sim.report.tables import formatted, summary_table, text_table
    from stamp_sim.report.usability import coverage, unusable, usability_rule

    results = read_table(run_dir / "results.csv")
    meta = json.loads((run_dir / "run.json").read_text())
    table = summary_table(results)
    headers, rows = formatted(table.drop(columns=[c for c in _NOT_ON_SCREEN if c in table]))
    flags = unusable(results)
    if flags.any():
        headers, rows = headers + ["usable"], [r + ["no" if f else "yes"] for r, f in zip(rows, flags)]
    click.echo(text_table(headers, rows))
    click.echo("(KL, SQNR, bytes and decode energy: report.md and results.csv)")
    click.echo(usability_rule(results))
    click.echo(coverage(meta, results))
    click.echo(f"report: {run_dir / 'report.html'}")
