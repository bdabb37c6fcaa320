"""Deployment presets: precisions as shipping runtimes run LLMs, priced and simulated by name."""

import pandas as pd
import pytest
from click.testing import CliRunner

from stamp_sim.cli import main
from stamp_sim.config import ALL_PRESETS, DEPLOYMENTS, PRESETS, PrecisionConfig, RunConfig, get_preset
from stamp_sim.workflows.run import run_experiment


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_a_deployment_resolves_by_name_and_round_trips(name):
    cfg = get_preset(name)
    assert cfg is ALL_PRESETS[name] and PrecisionConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.description and cfg.w_bits == 4


def test_deployments_stay_out_of_the_default_run():
    assert not set(DEPLOYMENTS) & set(PRESETS)
    assert {c.name for c in RunConfig().configs} == set(PRESETS)


def test_genie_prices_its_8_bit_lm_head_and_cache_below_plain_w4a16(tmp_path):
    """Genie keeps lm_head and the K / V cache at 8 bits where w4a16 keeps them at 16: fewer
    weight bytes (lm_head is 128256 x 3072 on Llama-3.2-3B) and a smaller cache."""
    csv = tmp_path / "c.csv"
    result = CliRunner().invoke(main, ["cost", "--hw", "snapdragon-8-elite", "--model", "llama-3.2-3b", "--config",
                                       "genie-w4a16", "--config", "w4a16", "--phase", "decode", "--context", "1024",
                                       "--csv", str(csv)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(csv)
    head = rows[rows.layer.str.contains("lm_head")].set_index("config").weight_bytes
    assert head["genie-w4a16"] == pytest.approx(head["w4a16"] / 2, rel=0.02)  # 8 bits vs 16 (scales aside)


def test_each_deployment_runs_through_the_simulator(tmp_path):
    run = RunConfig(model="tiny-llama", configs=tuple(get_preset(n) for n in sorted(DEPLOYMENTS)), profiles=("tiny",),
                    tokens=64, windows=1, calib_windows=1, out=str(tmp_path))
    results = pd.read_csv(run_experiment(run, progress=False) / "results.csv").set_index("config")
    assert set(results.index) == set(DEPLOYMENTS)
    assert results.ppl.notna().all() and (results.ppl > 0).all()
    assert results.loc["llamacpp-q4_0", "avg_a_bits"] == 8 and results.loc["executorch-8da4w", "avg_a_bits"] == 8
