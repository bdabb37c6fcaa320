"""`stamp-sim run`: cost/accuracy trade-off report of precision configs on hardware profiles."""

from __future__ import annotations

import json
from pathlib import Path

import click

from stamp_sim.commands._errors import one_line_errors
from stamp_sim.config import PRESETS, RunConfig, load_configs

SUMMARY_COLUMNS = ["config", "hw", "avg_a_bits", "ppl", "kl", "top1", "out_sqnr_db", "sqnr_db", "energy_mj",
                   "latency_ms", "weight_mb", "overflow_rate"]


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
              help="Finish an interrupted run directory (its run.json options are used).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the model is evaluated.")
@click.option("--int-layers", default=None, type=int, show_default="all",
              help="Layers per config also run through the integer kernels (evenly spaced).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr.")
def run(profiles, model, configs_file, tokens, windows, calib_windows, seed, out, resume_dir, device, int_layers,
        progress):
    """Evaluate precision configs on a real model and price them on hardware profiles.

    Writes results.csv, layers.csv, run.json, figures, report.md and report.html into a
    new directory under --out, and prints a summary ending with the report's path.
    """
    with one_line_errors():
        if resume_dir is not None:
            meta_path = Path(resume_dir) / "run.json"
            if not meta_path.is_file():
                raise click.BadParameter(f"{resume_dir} has no run.json; not a stamp-sim run directory",
                                         param_hint="--resume")
            run_cfg = RunConfig.from_dict(json.loads(meta_path.read_text())["run"], source=str(meta_path))
        else:
            configs = tuple(load_configs(configs_file)) if configs_file else tuple(PRESETS.values())
            run_cfg = RunConfig(model=model, configs=configs, profiles=tuple(profiles), tokens=tokens,
                                windows=windows, calib_windows=calib_windows, seed=seed, out=out, device=device,
                                int_layers=int_layers)
        if run_cfg.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise click.BadParameter("no CUDA device is available here; use --device cpu", param_hint="--device")
        from stamp_sim.experiment import run_experiment
        from stamp_sim.models import model_spec

        model_spec(run_cfg.model)  # unknown names fail before anything is written
        run_dir = run_experiment(run_cfg, Path(resume_dir) if resume_dir else None, progress=progress)
    import pandas as pd

    results = pd.read_csv(run_dir / "results.csv")
    cols = [c for c in SUMMARY_COLUMNS if c in results and results[c].notna().any()]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        click.echo(results[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    click.echo(f"report: {run_dir / 'report.html'}")
