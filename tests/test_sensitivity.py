"""stamp_sim.sensitivity and `stamp-sim sensitivity` on the tiny Llama (seconds)."""

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner

pytest.importorskip("transformers")

from stamp_sim.cli import main  # noqa: E402
from stamp_sim.config import ConfigError, get_preset, load_mixed  # noqa: E402
from stamp_sim.models import workload  # noqa: E402
from stamp_sim.models.tiny import tiny_llama  # noqa: E402
from stamp_sim.workflows.sensitivity import SensitivityConfig  # noqa: E402
from stamp_sim.sensitivity import (  # noqa: E402
    METRICS,
    allocation_at,
    allocation_curve,
    budget_points,
    kendall_table,
    layer_groups,
    parse_blocks,
    reference,
    score_group,
    score_groups,
    sensitivity_score,
)

CANDIDATES = [get_preset(c) for c in ("w4a4", "w4a4-stamp", "w4a8")]
OUTLIER = "model.layers.1.mlp.down_proj"


def _work(model, tokens=64):
    return workload(model, tokens)


# -- groups ------------------------------------------------------------------------------------
def test_groups_fuse_qkv_and_gate_up():
    groups = layer_groups(_work("tiny-llama"))
    assert [g.kind for g in groups] == ["qkv", "o", "gate_up", "down"] * 2
    assert groups[0].name == "model.layers.0.self_attn.q_proj+k_proj+v_proj"
    assert groups[0].layers == tuple(f"model.layers.0.self_attn.{p}_proj" for p in "qkv")
    assert groups[3].layers == ("model.layers.0.mlp.down_proj",) and groups[7].block == 1
    assert [g.block for g in layer_groups(_work("tiny-llama"), blocks=(1,))] == [1] * 4
    assert len(layer_groups(_work("tiny-llama"), max_groups=3)) == 3


def test_block_selection_errors_name_the_value():
    assert parse_blocks("0-2, 5,5") == (0, 1, 2, 5)
    with pytest.raises(ValueError, match="part 'x'"):
        parse_blocks("1,x")
    with pytest.raises(ValueError, match=r"blocks \[7\].*allowed: 0\.\.1"):
        layer_groups(_work("tiny-llama"), blocks=(0, 7))


# -- ranking ----------------------------------------------------------------------------------
def test_kendall_tau_on_a_hand_example():
    # truth 1 2 3 4 vs 1 3 2 4: of the 6 pairs one (2,3) is discordant -> (5 - 1) / 6.
    # vs 4 3 2 1: every pair discordant -> -1. SQNR counts inverted: higher dB = less sensitive.
    sens = pd.DataFrame({"config": ["a"] * 4, "ppl_increase": [1.0, 2.0, 3.0, 4.0],
                         "kl": [1.0, 3.0, 2.0, 4.0], "mse": [4.0, 3.0, 2.0, 1.0],
                         "sqnr_db": [40.0, 20.0, 30.0, 10.0], "delta_ce": [0.1, 0.1, 0.2, 0.3]})
    tau = kendall_table(sens).set_index(["metric", "candidate"])["tau"]
    assert tau["kl", "all"] == pytest.approx(2 / 3)
    assert tau["mse", "all"] == pytest.approx(-1.0)
    assert tau["sqnr", "all"] == pytest.approx(2 / 3)
    # tau-b with one tie in x: (5 concordant - 0 discordant) / sqrt(5 * 6)
    assert tau["delta_ce", "a"] == pytest.approx(5 / math.sqrt(30))
    assert set(METRICS) >= {"kl", "mse", "sqnr", "delta_ce", "oracle"}


# -- allocation -------------------------------------------------------------------------------
def _random_moves(rng, groups=12, cands=3):
    base_cost = {f"g{i}": float(rng.uniform(5, 10)) for i in range(groups)}
    rows = [{"group": g, "config": f"c{j}", "score": float(rng.normal()),
             "cost": base_cost[g] * float(rng.uniform(0.3, 1.2))} for g in base_cost for j in range(cands)]
    return pd.DataFrame(rows), base_cost


@pytest.mark.parametrize("order", ["sensitivity", "per-cost"])
@pytest.mark.parametrize("seed", range(5))
def test_curve_cost_is_monotone_and_allocations_stay_under_budget(order, seed):
    rng = np.random.default_rng(seed)
    moves, base_cost = _random_moves(rng)
    fixed = 3.0
    curve = allocation_curve(moves, base_cost, fixed, "base", order)
    cost = curve["cost"].to_numpy()
    assert cost[0] == pytest.approx(fixed + sum(base_cost.values()))
    assert np.all(np.diff(cost) < 0)
    cheapest = moves.groupby("group").cost.min().clip(upper=pd.Series(base_cost))
    assert cost[-1] == pytest.approx(fixed + cheapest.sum())
    for budget in budget_points(cost[-1], cost[0], 7):
        assignment, at = allocation_at(curve, budget, "base")
        assert at <= budget
        recomputed = fixed + sum(base_cost[g] for g in base_cost if g not in assignment) + sum(
            float(moves[(moves.group == g) & (moves.config == c)].cost.iloc[0]) for g, c in assignment.items())
        assert recomputed == pytest.approx(at)
    with pytest.raises(ValueError, match="below the cheapest"):
        allocation_at(curve, cost[-1] * 0.99, "base")


def test_budget_points_lie_strictly_between():
    assert budget_points(1.0, 2.0, 3) == [1.25, 1.5, 1.75]
    with pytest.raises(ValueError, match="budgets=0"):
        budget_points(1.0, 2.0, 0)


# -- scoring on a tiny Llama with one layer made the most sensitive -----------------------------
def _outlier_model():
    """Column 0 of layer 1's down_proj x 100, row 0 of its up_proj / 100: the float function is
    unchanged, but every down_proj row now holds one weight 100x its others, so the per-channel
    4-bit scale (max |w| / 7) rounds the rest of the row to zero at every candidate."""
    model = tiny_llama(seed=0)
    mlp = model.model.layers[1].mlp
    with torch.no_grad():
        mlp.up_proj.weight[0] /= 100.0
        mlp.down_proj.weight[:, 0] *= 100.0
    return model


def _sampled_windows(model, windows: int, tokens: int, seed: int) -> torch.Tensor:
    """Windows sampled from the model itself, so that its cross-entropy is its entropy and any
    perturbation raises the expected cross-entropy (by the KL): a random model scored on
    arbitrary ids could gain perplexity from noise."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (windows, 1), generator=g)
    with torch.no_grad():
        for _ in range(tokens - 1):
            logits = model(input_ids=ids, use_cache=False).logits[:, -1].double()
            ids = torch.cat([ids, torch.multinomial(logits.softmax(-1), 1, generator=g)], dim=1)
    return ids


@pytest.fixture(scope="module")
def outlier_scores():
    model = _outlier_model()
    ids = _sampled_windows(model, 6, 64, seed=1)
    ref = reference(model, ids[:3], ids[3:])
    groups = layer_groups(_work(model))
    return model, ref, groups, score_groups(model, ref, groups, CANDIDATES)


def test_every_metric_ranks_the_outlier_layer_first(outlier_scores):
    _, _, _, sens = outlier_scores
    assert len(sens) == 8 * 3 and sens.seconds.gt(0).all()
    for metric in METRICS:
        score = sensitivity_score(sens, metric)
        for cfg in CANDIDATES:
            rows = (sens.config == cfg.name).to_numpy()
            top = sens.group[rows].iloc[int(np.argmax(score[rows]))]
            assert top == OUTLIER, (metric, cfg.name, sens[rows][["group", METRICS[metric][0]]])


def test_allocation_lowers_the_outlier_layer_last(outlier_scores):
    _, _, groups, sens = outlier_scores
    base_cost = {g.name: 10.0 for g in groups}
    for metric in METRICS:
        moves = pd.DataFrame({"group": sens.group, "config": sens.config,
                              "score": sensitivity_score(sens, metric), "cost": 5.0})
        moves.loc[moves.config == "w4a4", "cost"] = 4.0
        curve = allocation_curve(moves, base_cost, 0.0, "w8a8")
        changed = curve.group.iloc[1:].tolist()
        assert changed[-1] == OUTLIER and changed.index(OUTLIER) >= len(groups) - 1, (metric, changed)


def test_replayed_blocks_give_the_same_scores(outlier_scores):
    model, ref, groups, _ = outlier_scores
    group = groups[-2]  # block 1: block 0 is replayed
    fast = score_group(model, ref, group, CANDIDATES[0])
    full = score_group(model, dataclasses.replace(ref, blocks=[]), group, CANDIDATES[0])
    for key in ("kl", "mse", "sqnr_db", "delta_ce", "ppl"):
        assert fast[key] == full[key], key
    assert not any(type(m).__name__ == "StampLinear" for m in model.modules())


# -- the command ------------------------------------------------------------------------------
def _sensitivity(tmp_path, *extra):
    args = ["sensitivity", "--model", "tiny-llama", "--tokens", "64", "--calib-windows", "1", "--windows", "1",
            "--hw", "tiny", "--out", str(tmp_path / "reports"), "--no-progress", *extra]
    return CliRunner().invoke(main, args)


def _run_dir(result) -> Path:
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("report: ")
    return Path(line.removeprefix("report: ")).parent


def test_command_writes_files_and_an_allocation_runs_as_a_config(tmp_path):
    result = _sensitivity(tmp_path, "--budgets", "2")
    assert result.exit_code == 0, result.output
    run_dir = _run_dir(result)
    for name in ("sensitivity.csv", "kendall.csv", "curve.csv", "allocation.csv", "run.json", "report.md",
                 "report.html", "results.csv", "figures/budget_vs_ppl.png"):
        assert (run_dir / name).is_file(), name
    sens = pd.read_csv(run_dir / "sensitivity.csv")
    assert {"group", "config", "kl", "mse", "sqnr_db", "delta_ce", "ppl_increase", "energy_mj", "latency_ms",
            "bytes_mb", "cost", "base_cost", "saving"} <= set(sens.columns)
    assert len(sens) == 8 * 3
    alloc = pd.read_csv(run_dir / "allocation.csv")
    picks = alloc[~alloc.metric.isin(["base", "lowest"])]
    assert sorted(set(picks.metric)) == ["delta_ce", "kl", "mse", "oracle", "sqnr"] and len(picks) == 10
    assert (picks.cost <= picks.budget).all()
    html = (run_dir / "report.html").read_text()
    assert "Kendall tau" in html and "data:image/png;base64," in html
    assert "## Sensitivity and budgeted allocation" in (run_dir / "report.md").read_text()

    row = picks[picks.metric == "kl"].iloc[0]
    mixed = load_mixed(run_dir / row.file)
    assert mixed.name == row.config and mixed.default.name == "w8a8"
    assert yaml.safe_load((run_dir / row.file).read_text())["default"] == "w8a8"
    out = tmp_path / "run"
    ran = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--tokens", "64", "--windows", "1",
                                    "--calib-windows", "1", "--configs", f"mixed:{run_dir / row.file}", "--hw",
                                    "tiny", "--out", str(out), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    results = pd.read_csv(_run_dir(ran) / "results.csv").set_index("config")
    # the same cost model prices the same per-layer allocation, and the same window scores the same
    assert results.loc[row.config, "energy_mj"] == pytest.approx(row.cost, rel=1e-9)
    assert results.loc[row.config, "ppl"] == pytest.approx(row.ppl, rel=1e-4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--candidates", "w4a4,bogus"], "preset 'bogus' is unknown"),
        (["--base", "w4a4"], "base='w4a4' is also a candidate"),
        (["--blocks", "0-9"], "blocks [2, 3, 4, 5, 6, 7, 8, 9]"),
        (["--hw", "no-such-chip"], "no-such-chip"),
        (["--tokens", "1"], "tokens=1"),
        (["--model", "gpt5"], "unknown model 'gpt5'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    result = _sensitivity(tmp_path, *args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    out = tmp_path / "reports"
    assert not out.exists() or not os.listdir(out)


def test_config_checks_and_round_trip():
    cfg = SensitivityConfig(model="tiny-llama", axis="latency", order="per-cost", blocks=[1, 0])
    assert cfg.to_dict()["axis"] == "latency" and cfg.to_dict()["blocks"] == [1, 0]
    assert SensitivityConfig(**{**cfg.to_dict(), "candidates": tuple(cfg.candidates)}) == cfg
    with pytest.raises(ConfigError, match="axis='joules'.*allowed: bytes, energy, latency"):
        SensitivityConfig(axis="joules")
    with pytest.raises(ConfigError, match="repeats"):
        SensitivityConfig(candidates=("w4a4", "w4a4"))


def test_group_costs_add_up_to_the_model_cost():
    from stamp_sim import hw_models
    from stamp_sim.pricing import price_workload
    from stamp_sim.sensitivity import group_costs

    work = _work("tiny-llama")
    groups = layer_groups(work, blocks=(1,))  # block 0 stays outside every group
    configs = [get_preset("w8a8"), *CANDIDATES]
    per_group, rest = group_costs(work, groups, configs, hw_models.load_profile("npu"))
    total = price_workload(work, configs, ["npu"], ["prefill"]).groupby("config", observed=True).energy_pj.sum()
    for cfg in configs:
        summed = per_group[per_group.config == cfg.name].energy_mj.sum() + rest.set_index("config").energy_mj[cfg.name]
        assert summed == pytest.approx(total[cfg.name] / 1e9, rel=1e-12)
    assert len(per_group) == 4 * len(configs) and (rest.energy_mj > 0).all()


def test_command_on_a_latency_budget_with_a_subsample(tmp_path):
    result = _sensitivity(tmp_path, "--max-groups", "2", "--budget-axis", "latency", "--order", "per-cost",
                          "--budgets", "1", "--candidates", "w4a4,w4a8")
    assert result.exit_code == 0, result.output
    run_dir = _run_dir(result)
    sens = pd.read_csv(run_dir / "sensitivity.csv")
    assert len(sens) == 2 * 2 and (sens.cost == sens.latency_ms).all()
    alloc = pd.read_csv(run_dir / "allocation.csv")
    assert set(alloc.unit) == {"ms"} and (alloc[alloc.metric == "kl"].cost <= alloc[alloc.metric == "kl"].budget).all()
    # groups outside the subsample stay at the base: at most 2 groups are ever lowered
    assert alloc.lowered.max() <= 2


def test_run_and_sensitivity_report_the_same_accuracy_for_one_config(tmp_path):
    """Both workflows evaluate a whole-model config through config_eval and stamp_sim.metrics."""
    from stamp_sim.config import RunConfig
    from stamp_sim.workflows.run import run_experiment
    from stamp_sim.workflows.sensitivity import run_sensitivity

    common = dict(model="tiny-llama", tokens=64, windows=2, calib_windows=2, seed=3, out=str(tmp_path))
    run_dir = run_experiment(RunConfig(configs=(get_preset("w4a8"),), profiles=("tiny",), **common),
                             progress=False)
    ran = pd.read_csv(run_dir / "results.csv").iloc[0]
    sens_dir = run_sensitivity(SensitivityConfig(profile="tiny", base="w4a8", candidates=("w4a4",), budgets=1,
                                                 max_groups=2, **common), progress=False)
    base = pd.read_csv(sens_dir / "allocation.csv").set_index("metric").loc["base"]
    assert base["config"] == "w4a8"
    for key in ("ppl", "kl", "top1"):
        assert base[key] == pytest.approx(ran[key], rel=1e-6), key
