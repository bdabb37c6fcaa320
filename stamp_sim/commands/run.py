"""`stamp-sim run`: cost/accuracy trade-off report of precision configs on hardware profiles."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from stamp_sim.commands._cluster import cluster_options, executor_for
from stamp_sim.commands._errors import one_line_errors
from stamp_sim.config import PRESETS, RunConfig, load_configs
from stamp_sim.schema import RUN_SUMMARY

# CLI option -> RunConfig field, for the options a resumed run must not contradict.
_RUN_OPTIONS = {"profiles": "profiles", "model": "model", "configs_file": "configs", "tokens": "tokens",
                "windows": "windows", "calib_windows": "calib_windows", "seed": "seed", "out": "out",
                "device": "device", "int_layers": "int_layers"}


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
              help="Model: smollm2-135m, minilm-l6, dinov2-small or tiny-llama.")
@click.option("--configs", "configs_file", default=None,
              help="YAML list of preset names / PrecisionConfig mappings (default: every preset).")
@click.option("--tokens", default=512, show_default=True, type=int, help="Tokens per evaluation window.")
@click.option("--windows", default=4, show_default=True, type=int, help="Evaluation windows (or images).")
@click.option("--calib-windows", default=2, show_default=True, type=int, help="Calibration windows (KLT, SmoothQuant).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for window choice and randomized rotations.")
@click.option("--out", default="reports", show_default=True, help="Root folder of run directories.")
@click.option("--resume", "resume_dir", default=None, type=click.Path(file_okay=False),
              help="Finish an interrupted run directory with its run.json options (others given must agree).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the model is evaluated.")
@click.option("--int-layers", default=None, type=int, show_default="all",
              help="Layers per config in the exact-accumulator agreement check (evenly spaced). Accuracy always "
                   "runs every layer whose accumulator can overflow through the integer kernels.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr.")
@cluster_options
@click.pass_context
def run(ctx, profiles, model, configs_file, tokens, windows, calib_windows, seed, out, resume_dir, device,
        int_layers, progress, executor, scheduler, workers):
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
                                int_layers=int_layers)
        if run_cfg.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise click.BadParameter("no CUDA device is available here; use --device cpu", param_hint="--device")
        from stamp_sim.models import model_spec
        from stamp_sim.workflows.run import run_experiment

        model_spec(run_cfg.model)  # unknown names fail before anything is written
        with executor_for(executor, scheduler, workers) as ex:
            run_dir = run_experiment(run_cfg, Path(resume_dir) if resume_dir else None, progress=progress,
                                     executor=ex)
    import pandas as pd

    results = pd.read_csv(run_dir / "results.csv")
    cols = [c for c in RUN_SUMMARY if c in results and results[c].notna().any()]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        click.echo(results[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    click.echo(f"report: {run_dir / 'report.html'}")
