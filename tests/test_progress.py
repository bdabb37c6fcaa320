"""Stage lines: one per stage, in the order the work happens, with the config's k of n and name."""

from __future__ import annotations

import io

import pytest

from stamp_sim.config import RunConfig, get_preset
from stamp_sim.progress import QUIET, Stages
from stamp_sim.workflows.run import run_experiment


def test_a_stage_without_steps_prints_its_name_then_its_time():
    out = io.StringIO()
    ticks = iter([10.0, 13.25])
    with Stages(file=out, clock=lambda: next(ticks)).stage("integer check"):
        pass
    assert out.getvalue() == "integer check ... 3.2 s\n"


def test_a_failing_stage_says_so_and_reraises():
    out = io.StringIO()
    with pytest.raises(KeyError), Stages(file=out).stage("loading model x"):
        raise KeyError("x")
    assert out.getvalue() == "loading model x ... failed\n"


def test_a_stage_with_steps_is_a_bar_counting_them():
    out = io.StringIO()
    with Stages(file=out).stage("config 1 of 2 fp: evaluating", total=3, unit="window") as bar:
        for _ in range(3):
            bar.update(1)
    assert "config 1 of 2 fp: evaluating: 3/3 window" in out.getvalue()


def test_quiet_prints_nothing(capsys):
    with QUIET.stage("x", total=2) as bar:
        bar.update(1)
    QUIET.say("y")
    assert capsys.readouterr() == ("", "")


def test_run_reports_each_stage_in_order(tmp_path):
    out = io.StringIO()
    run = RunConfig(model="tiny-llama", configs=(get_preset("fp"), get_preset("w4a4-stamp")), profiles=("tiny",),
                    tokens=32, windows=2, calib_windows=1, out=str(tmp_path))
    run_experiment(run, stages=Stages(file=out))
    text = out.getvalue()
    expected = ["stamp-sim run: 2 config(s) on tiny-llama, 2 window(s) of 32 tokens, priced on tiny",
                "loading model tiny-llama ...", "preparing data (2 evaluation + 1 calibration", "run directory:",
                "float reference: 2/2 window", "config 1 of 2 fp: evaluating: 2/2 window",
                "config 1 of 2 fp: pricing on tiny ...", "config 2 of 2 w4a4-stamp: evaluating",
                "config 2 of 2 w4a4-stamp: integer check: 14/14 layer", "config 2 of 2 w4a4-stamp: pricing on tiny ...",
                "writing the report"]
    positions = [text.find(line) for line in expected]
    assert -1 not in positions, [line for line, p in zip(expected, positions) if p == -1]
    assert positions == sorted(positions)
