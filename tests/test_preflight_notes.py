"""The one-line note a run prints when GPTQ / GPFQ calibrate on fewer tokens than a layer's width."""

import io

import pandas as pd

from stamp_sim.config import MixedConfig, RunConfig, get_preset
from stamp_sim.preflight import calibration_note
from stamp_sim.progress import Stages
from stamp_sim.workflows.run import run_experiment

WORK = pd.DataFrame({"layer": ["a.q_proj", "a.down_proj"], "k": [576, 1536]})


def test_note_names_the_configs_the_tokens_and_the_widest_layer():
    gptq = get_preset("w4a4-quarot")
    note = calibration_note([get_preset("w4a4"), gptq], WORK, 1024)
    assert note.startswith("note: w4a4-quarot calibrate weights on 1024 tokens, fewer than the widest layer's 1536")
    assert "--calib-windows x --tokens >= 1536" in note and "\n" not in note


def test_no_note_with_enough_tokens_or_without_calibrated_weights():
    assert calibration_note([get_preset("w4a4-quarot")], WORK, 1536) == ""
    assert calibration_note([get_preset("w4a4"), get_preset("w4a4-stamp")], WORK, 16) == ""


def test_a_mixed_config_with_a_gptq_layer_counts():
    mixed = MixedConfig("m", get_preset("w4a8"), (("a.q_proj", get_preset("w4a4-quarot")),))
    assert calibration_note([mixed], WORK, 100).startswith("note: m calibrate weights on 100 tokens")


def test_a_run_prints_the_note_before_it_starts(tmp_path):
    out = io.StringIO()
    run = RunConfig(model="tiny-llama", configs=(get_preset("w4a4-quarot"),), profiles=("tiny",), tokens=16,
                    windows=1, calib_windows=1, out=str(tmp_path))
    run_experiment(run, stages=Stages(file=out))
    assert "note: w4a4-quarot calibrate weights on 16 tokens, fewer than the widest layer's" in out.getvalue()
