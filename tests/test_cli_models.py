"""The CLI side of issue 13: `stamp-sim models`, --model PATH on run/cost/sensitivity, --data,
and each bad input as one line without a traceback."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("transformers")

from stamp_sim.cli import main  # noqa: E402
from stamp_sim.models import available_models  # noqa: E402
from stamp_sim.models.cards import card_names  # noqa: E402

from .models._local_fixtures import sample_text, save_tiny, tiny_config  # noqa: E402


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STAMP_SIM_CACHE", str(tmp_path / "cache"))


def _one_line_error(result, *parts):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    for part in parts:
        assert part in result.output


def test_models_lists_registered_and_cards():
    result = invoke("models")
    assert result.exit_code == 0, result.output
    for name in available_models():
        assert name in result.output
    for name in card_names():
        assert name in result.output
    assert "cost only" in result.output and "loadable" in result.output
    assert "card:smollm2-135m" in result.output  # shadowed by the registered model of that name


def test_cost_from_config_json_alone(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tiny_config("qwen2").to_dict()))
    out = tmp_path / "cost.csv"
    result = invoke("cost", "--model", path, "--tokens", "64", "--config", "w4a4", "--csv", out, "--linear-only")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 14 and (table.tokens == 64).all()
    # The whole forward of the same config.json: its 14 block linears, lm_head and the rest.
    whole = tmp_path / "whole.csv"
    assert invoke("cost", "--model", path, "--tokens", "64", "--config", "w4a4", "--csv", whole).exit_code == 0
    table = pd.read_csv(whole)
    assert (table.part == "linear").sum() == 14 and (table.kind == "lm_head").sum() == 1
    assert (table.kind == "scores").sum() == 2


def test_cost_on_a_card_uses_2d_dwt_for_a_dit(tmp_path):
    out = tmp_path / "cost.csv"
    result = invoke("cost", "--model", "pixart-sigma", "--config", "w4a4-stamp", "--csv", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    image = table[~table.layer.str.contains("attn2.to_[kv]")]
    assert (image.tokens == 4096).all() and (image.rows == 4096).all()  # 64 x 64 grid: no padding


def test_run_by_path_with_data(tmp_path):
    folder = save_tiny(tmp_path / "my-llama", "llama")
    text = tmp_path / "mine.txt"
    text.write_text(sample_text(800))
    configs = tmp_path / "configs.yaml"
    configs.write_text("- fp\n- w8a8\n")
    result = invoke("run", "--model", folder, "--data", text, "--tokens", "16", "--windows", "2",
                    "--calib-windows", "1", "--configs", configs, "--out", tmp_path / "reports", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "report: " in result.output and "my-llama-" in result.output


@pytest.mark.parametrize("model,parts", [
    ("./does/not/exist", ["does not exist"]),
    ("no-such-model", ["unknown model 'no-such-model'", "llama-3-8b"]),
])
def test_bad_model_is_one_line(tmp_path, model, parts):
    for command in (("run", "--out", tmp_path / "r", "--no-progress"), ("cost",),
                    ("sensitivity", "--out", tmp_path / "s", "--no-progress")):
        _one_line_error(invoke(*command, "--model", model), *parts)
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


def test_folder_without_config_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    _one_line_error(invoke("cost", "--model", tmp_path / "empty"), "has no config.json")


def test_config_missing_field_is_one_line(tmp_path):
    data = tiny_config("llama").to_dict()
    del data["num_attention_heads"]
    (tmp_path / "config.json").write_text(json.dumps(data))
    _one_line_error(invoke("cost", "--model", tmp_path / "config.json"), "'num_attention_heads' is missing")


def test_data_errors_are_one_line(tmp_path):
    folder = save_tiny(tmp_path / "m", "llama")
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"text": ""}\n')
    short = tmp_path / "short.txt"
    short.write_text("the cat sat.")
    base = ("run", "--model", folder, "--tokens", "16", "--windows", "2", "--calib-windows", "1",
            "--out", tmp_path / "reports", "--no-progress", "--data")
    _one_line_error(invoke(*base, empty), "has no text in field 'text'")
    _one_line_error(invoke(*base, short), "has 4 tokens", "need 48")
    assert not (tmp_path / "reports").exists()
