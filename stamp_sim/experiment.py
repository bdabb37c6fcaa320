"""The plan behind ``stamp-sim run``: model x precision configs x hardware -> tidy tables.

For each config: wrap the model's linear layers, calibrate, measure accuracy against the
float model, run a sample of layers through the integer kernels (overflow rates and an
integer-vs-float agreement check), price the workload on every profile, and append the
finished rows to results.csv / layers.csv atomically, so an interrupted sweep keeps them
and ``--resume`` skips them.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

import hw_models
from stamp_sim import __version__
from stamp_sim.config import MixedConfig, PrecisionConfig, RunConfig
from stamp_sim.costing import layer_precision
from stamp_sim.evaluation import EvalData, accuracy, model_outputs, prepare_data, run_calibration
from stamp_sim.models import LoadedModel, ModelKind, load_model, workload
from stamp_sim.nn import calibration, layer_stats, quantize_model, restore_model
from stamp_sim.nn.integer import EXACT, integer_forward, supports_integer
from stamp_sim.nn.linear import LayerStats
from stamp_sim.quant import row_energy
from stamp_sim.report import append_rows_atomic, new_run_dir, write_csv_atomic, write_json_atomic, write_report
from stamp_sim.transforms import sequence_transform

__all__ = ["adapt_config", "cost_rows", "run_experiment"]

RESULTS, LAYERS, TOKEN_ENERGY, RUN_JSON = "results.csv", "layers.csv", "token_energy.csv", "run.json"


def adapt_config(cfg: PrecisionConfig, loaded: LoadedModel) -> PrecisionConfig:
    """On a ViT, a 1D DWT preset becomes the 2D DWT over the patch grid (CLS row kept apart)."""
    if isinstance(cfg, MixedConfig):
        return MixedConfig(cfg.name, adapt_config(cfg.default, loaded),
                           tuple((n, adapt_config(c, loaded)) for n, c in cfg.layers))
    if loaded.kind is ModelKind.VIT and cfg.seq_transform == "dwt":
        return cfg.replace(seq_transform="dwt2d")
    return cfg


def _versions() -> dict:
    out = {"python": sys.version.split()[0], "stamp-sim": __version__}
    for pkg in ("torch", "numpy", "numba", "transformers", "pywavelets", "pandas"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def price_config(work: pd.DataFrame, cfg, profiles: list, phases=("prefill", "decode")) -> pd.DataFrame:
    """hw_models.price for one PrecisionConfig, or per layer for a MixedConfig."""
    if not isinstance(cfg, MixedConfig):
        return hw_models.price(work, {cfg.name: layer_precision(cfg)}, profiles, list(phases))
    per_layer = work.layer.map(lambda n: cfg.config_for(n).name)
    parts = []
    for sub in cfg.configs():
        rows = work[per_layer == sub.name]
        if len(rows):
            parts.append(hw_models.price(rows, {sub.name: layer_precision(sub)}, profiles, list(phases)))
    priced = pd.concat(parts, ignore_index=True)
    priced["config"] = cfg.name
    return priced


def cost_rows(work: pd.DataFrame, cfg, profiles: list) -> pd.DataFrame:
    """Totals per profile for one config: energy (mJ) by component, latency (ms), bytes (MB)."""
    priced = price_config(work, cfg, profiles)
    tot = hw_models.totals(priced)
    rows = []
    for hw, grp in tot.groupby("hw", observed=True, sort=False):
        pre = grp[grp.phase == "prefill"].iloc[0]
        dec = grp[grp.phase == "decode"].iloc[0]
        mem_layers = priced[(priced.hw == hw) & (priced.phase == "prefill")].bound.eq("memory").mean()
        rows.append({
            "hw": str(hw),
            "energy_mj": pre.energy_pj / 1e9,
            "latency_ms": pre.latency_s * 1e3,
            "latency_overlap_ms": pre.latency_overlap_s * 1e3,
            "weight_mb": pre.weight_bytes / 1e6,
            "act_mb": pre.act_bytes / 1e6,
            "e_mac_mj": pre.mac_pj / 1e9,
            "e_acc_mj": pre.accumulate_pj / 1e9,
            "e_sram_mj": pre.sram_pj / 1e9,
            "e_dram_mj": pre.dram_pj / 1e9,
            "e_transform_mj": (pre.seq_transform_pj + pre.feature_transform_pj) / 1e9,
            "e_requant_mj": pre.requant_pj / 1e9,
            "memory_bound_share": float(mem_layers),
            "bound": "memory" if mem_layers > 0.5 else "compute",
            "decode_energy_mj": dec.energy_pj / 1e9,
            "decode_latency_ms": dec.latency_s * 1e3,
        })
    return pd.DataFrame(rows)


def _sample_layers(names: list[str], count: int | None) -> list[str]:
    """`count` evenly spaced names (all of them when count is None)."""
    if count is None:
        return list(names)
    if count <= 0 or not names:
        return []
    idx = np.unique(np.linspace(0, len(names) - 1, min(count, len(names))).round().astype(int))
    return [names[i] for i in idx]


def _integer_check(layers: dict, data: EvalData, model, kind, device: str, count: int | None) -> tuple[dict, dict]:
    """Overflow rate with the config's accumulator, and integer (exact) vs fake-quant error.

    Returns (the results.csv fields, {layer: (overflows, overflowed outputs, outputs)} of the
    layers checked)."""
    integer = [n for n, m in layers.items() if supports_integer(m.config)]
    sample = _sample_layers(integer, count)
    if not sample:
        return {"overflow_rate": float("nan"), "int_max_rel_err": float("nan"), "int_layers": 0}, {}
    captured: dict[str, torch.Tensor] = {}
    hooks = [layers[n].register_forward_pre_hook(lambda m, a, n=n: captured.setdefault(n, a[0].detach()))
             for n in sample]
    try:
        model_outputs(model, data.evaluation[0], kind, device)
    finally:
        for h in hooks:
            h.remove()
    outputs = overflowed = 0
    worst = 0.0
    per_layer = {}
    for name in sample:
        layer, x = layers[name], captured[name].cpu()
        saved = layer.stats
        layer.stats = LayerStats()
        try:
            with torch.no_grad():
                fake = layer._fake_forward(x.double())
                integer_forward(layer, x)  # with the config's accumulator: overflow counts
                st = layer.stats
                outputs += st.outputs
                overflowed += st.overflowed_outputs
                per_layer[name] = (st.overflows, st.overflowed_outputs, st.outputs)
                exact = _exact_forward(layer, x.double())
        finally:
            layer.stats = saved
        scale = float(fake.abs().max()) or 1.0
        worst = max(worst, float((exact - fake).abs().max()) / scale)
    return {"overflow_rate": overflowed / outputs if outputs else float("nan"), "int_max_rel_err": worst,
            "int_layers": len(sample)}, per_layer


def _with_integer_counts(ldf: pd.DataFrame, per_layer: dict) -> pd.DataFrame:
    """layers.csv's overflow columns from the integer check; NaN for layers it did not run
    (the fake-quant evaluation simulates no accumulator)."""
    ldf = ldf.copy()
    counts = [per_layer.get(name) for name in ldf.layer]
    ldf["overflows"] = [c[0] if c else np.nan for c in counts]
    ldf["overflow_rate"] = [c[1] / c[2] if c and c[2] else np.nan for c in counts]
    ldf["outputs"] = [c[2] if c else np.nan for c in counts]
    return ldf


def _exact_forward(layer, x: torch.Tensor) -> torch.Tensor:
    """The integer path with an exact accumulator (for the agreement check)."""
    original = layer.config
    layer.config = original.replace(accumulator=EXACT)
    try:
        return integer_forward(layer, x)
    finally:
        layer.config = original


def _token_energy(loaded: LoadedModel, data: EvalData, layer_names: list[str], device: str) -> pd.DataFrame:
    """Row energy of one middle layer's input before and after a 3-level Haar DWT."""
    if not layer_names:
        return pd.DataFrame()
    target = [n for n in layer_names if n.endswith(("q_proj", "query", "qkv"))] or layer_names
    name = target[len(target) // 2]
    module = loaded.model.get_submodule(name)
    captured = {}
    handle = module.register_forward_pre_hook(lambda m, a: captured.setdefault("x", a[0].detach()))
    try:
        model_outputs(loaded.model, data.evaluation[0], data.kind, device)
    finally:
        handle.remove()
    x = captured["x"].double().cpu()
    if data.grid is not None:
        L = sequence_transform("dwt2d", grid=data.grid, levels=3)
        after = torch.cat([x[..., :1, :], L.forward(x[..., 1:, :])], dim=-2)
    else:
        after = sequence_transform("dwt", levels=3).forward(x)
    e0 = row_energy(x).sum(0).numpy()
    e1 = row_energy(after).sum(0).numpy()
    rows = max(len(e0), len(e1))
    return pd.DataFrame({
        "model": loaded.name, "layer": name, "row": np.arange(rows),
        "energy_before": np.pad(e0, (0, rows - len(e0)), constant_values=np.nan),
        "energy_after": np.pad(e1, (0, rows - len(e1)), constant_values=np.nan), "k": 64,
    })


def _mixed_fields(cfg: MixedConfig, work: pd.DataFrame) -> dict:
    """MAC-weighted mean widths of a per-layer allocation (16 stands for float)."""
    macs = (work.tokens * work.k * work.n).to_numpy(dtype=float)
    cfgs = [cfg.config_for(n) for n in work.layer]
    mean = lambda f: float(np.average([f(c) for c in cfgs], weights=macs))  # noqa: E731
    return {
        "w_bits": mean(lambda c: c.w_bits or 16), "a_bits": mean(lambda c: c.a_bits or 16),
        "acc_bits": mean(lambda c: c.accumulator.bits if c.accumulator and c.accumulator.mode.value != "exact"
                         else 32),
        "acc": "mixed", "seq_transform": "mixed", "feature_transform": "mixed",
    }


def _config_rows(cfg, acc: dict, layers_df: pd.DataFrame, icheck: dict, costs: pd.DataFrame,
                 run: RunConfig, tokens: int, work: pd.DataFrame) -> pd.DataFrame:
    if isinstance(cfg, MixedConfig):
        base = {"model": run.model, "config": cfg.name, **_mixed_fields(cfg, work)}
        return _finish_rows(base, cfg, acc, layers_df, icheck, costs, run, tokens)
    a = cfg.accumulator
    base = {
        "model": run.model, "config": cfg.name,
        "w_bits": cfg.w_bits if cfg.w_bits is not None else 16,
        "a_bits": cfg.a_bits if cfg.a_bits is not None else 16,
        "acc_bits": (a.bits if a is not None and a.mode.value != "exact" else 32) if cfg.w_bits is not None else 32,
        "acc": a.describe() if a is not None else ("fp32" if cfg.w_bits is None else "exact"),
        "seq_transform": cfg.seq_transform, "feature_transform": cfg.feature_transform,
    }
    return _finish_rows(base, cfg, acc, layers_df, icheck, costs, run, tokens)


def _finish_rows(base: dict, cfg, acc: dict, layers_df: pd.DataFrame, icheck: dict, costs: pd.DataFrame,
                 run: RunConfig, tokens: int) -> pd.DataFrame:
    if "avg_a_bits" not in base:
        base["avg_a_bits"] = (float(layers_df.avg_a_bits.mean()) if len(layers_df) and layers_df.avg_a_bits.notna().any()
                              else (cfg.average_activation_bits(tokens) if isinstance(cfg, PrecisionConfig) else 16.0))
    base.update({
        "ppl": acc.get("ppl", float("nan")), "kl": acc.get("kl", float("nan")),
        "top1": acc.get("top1", float("nan")),
        "sqnr_db": float(layers_df.act_sqnr_db.replace([math.inf], np.nan).mean()) if len(layers_df) else float("nan"),
        "out_sqnr_db": acc.get("out_sqnr_db", float("nan")), "cosine": acc.get("cosine", float("nan")),
        **icheck,
        "tokens": tokens, "windows": run.windows,
    })
    return pd.DataFrame([{**base, **c} for c in costs.to_dict("records")])


def run_experiment(run: RunConfig, run_dir: Path | None = None, progress: bool = True) -> Path:
    """Run (or, given an existing `run_dir`, resume) a sweep; returns the run directory.

    Finished configs (rows already in run_dir/results.csv) are skipped; each newly finished
    config is appended atomically before the next one starts.
    """
    profiles = [hw_models.load_profile(p) for p in run.profiles]  # fail fast on a bad profile
    loaded = load_model(run.model)
    if run_dir is None:
        run_dir = new_run_dir(Path(run.out), prefix=run.model)
    run_dir = Path(run_dir)
    meta = {
        "model": run.model, "tokens": run.tokens, "windows": run.windows, "calib_windows": run.calib_windows,
        "seed": run.seed, "profiles": list(run.profiles), "configs": [c.name for c in run.configs],
        "device": run.device, "git_revision": _git_revision(), "versions": _versions(),
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "notes": [
            loaded.notes,
            "latency_ms: MAC-array time and vector-unit time (transforms, quantization) add up with no "
            "overlap, so transform overheads are upper bounds; latency = max(compute, DRAM). "
            "latency_overlap_ms (results.csv) is the optimistic end: the vector unit pipelined with "
            "the MAC array, max(MAC, vector, DRAM) per layer.",
            "energy and latency cover the linear layers only (attention products, norms and lm_head "
            "are not in the workload).",
        ],
        "model_source": loaded.source, "run": run.to_dict(),
    }
    if (run_dir / RUN_JSON).exists():  # resuming: keep when the run began
        meta["started"] = json.loads((run_dir / RUN_JSON).read_text()).get("started", meta["started"])
        meta["resumed"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    else:
        write_json_atomic(meta, run_dir / RUN_JSON)
    done = set()
    if (run_dir / RESULTS).exists():
        done = set(pd.read_csv(run_dir / RESULTS).config.astype(str))
    model = loaded.model.to(run.device)
    data = prepare_data(loaded, run.tokens, run.windows, run.calib_windows, run.seed)
    meta["data"] = data.source
    work = workload(loaded, data.tokens).rename(columns={"s": "tokens"})
    todo = [c for c in run.configs if c.name not in done]
    bar = tqdm(total=len(data.evaluation) * (len(todo) + 1), desc=f"{run.model}", unit="window",
               disable=not progress, file=sys.stderr)
    restore_model(model)
    reference = []
    for batch in data.evaluation:
        reference.append(model_outputs(model, batch, data.kind, run.device))
        bar.update(1)
    token_path = run_dir / TOKEN_ENERGY
    if not token_path.exists():
        write_csv_atomic(_token_energy(loaded, data, list(work.layer), run.device), token_path)
    torch.manual_seed(run.seed)
    try:
        for cfg0 in todo:
            cfg = adapt_config(cfg0, loaded)
            bar.set_postfix_str(cfg.name)
            layers = quantize_model(model, cfg, grid=data.grid)
            for layer in layers.values():
                layer.record_stats = True
            if any(layer.needs_calibration for layer in layers.values()):
                with calibration(model):
                    run_calibration(model, data, run.device)
            acc = accuracy(model, data, reference, run.device, progress=bar)
            ldf = layer_stats(model)
            for layer in layers.values():
                layer.record_stats = False
            icheck, per_layer = _integer_check(layers, data, model, data.kind, run.device, run.int_layers)
            ldf = _with_integer_counts(ldf, per_layer)
            restore_model(model)
            ldf.insert(0, "config", cfg.name)
            ldf.insert(0, "model", run.model)
            ldf.insert(3, "layer_index", np.arange(len(ldf)))
            rows = _config_rows(cfg, acc, ldf, icheck, cost_rows(work, cfg, profiles), run, data.tokens, work)
            append_rows_atomic(ldf, run_dir / LAYERS, key=["config", "layer"])
            append_rows_atomic(rows, run_dir / RESULTS, key=["config", "hw"])
    finally:
        restore_model(model)
        bar.close()
    results = pd.read_csv(run_dir / RESULTS)
    layers_all = pd.read_csv(run_dir / LAYERS) if (run_dir / LAYERS).exists() else pd.DataFrame()
    token_energy = pd.read_csv(token_path) if token_path.exists() and token_path.stat().st_size > 1 else None
    order = {c.name: i for i, c in enumerate(run.configs)}
    results = results.sort_values(by="config", key=lambda s: s.map(order), kind="stable")
    meta["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    write_report(run_dir, results, layers_all, token_energy, meta)
    return run_dir
