"""The Dask executor on tiny-llama: the same bytes as the local executor, faults, the sweep.

One LocalCluster of 2 worker processes (1 thread each) is shared by the module; it runs
in CI (`.ci/run` installs dask.distributed through the test extra).
"""

import dataclasses
import json
import math
import os
import signal
import socket
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("transformers")
pytest.importorskip("distributed")

import stamp_sim.workflows.units as units  # noqa: E402
from stamp_sim.cli import main  # noqa: E402
from stamp_sim.config import RunConfig, get_preset  # noqa: E402
from stamp_sim.workflows.executors import DaskExecutor, LocalExecutor, UnitsFailed  # noqa: E402
from stamp_sim.workflows.run import run_experiment  # noqa: E402
from stamp_sim.workflows.sensitivity import SensitivityConfig, run_sensitivity  # noqa: E402
from stamp_sim.workflows.sweep import run_sweep  # noqa: E402
from stamp_sim.workflows.sweep_plan import load_plan, plan_from_dict  # noqa: E402

CONFIGS = (get_preset("fp"), get_preset("w4a4"), get_preset("w4a4-stamp").replace(name="w4a4-stamp16", high_rows=16),
           get_preset("w4a8"))


def _run(tmp_path, name, executor=None):
    run = RunConfig(model="tiny-llama", configs=CONFIGS, profiles=("npu", "tiny"), tokens=64, windows=2,
                    calib_windows=1, seed=5, out=str(tmp_path / name))
    return run_experiment(run, progress=False, executor=executor)


@pytest.fixture(scope="module")
def cluster():
    with DaskExecutor(workers=2, echo=lambda line: None) as ex:
        yield ex


def test_dask_run_gives_the_local_bytes_even_when_a_worker_is_killed(tmp_path, cluster):
    local = _run(tmp_path, "local")

    class KillAfterFirst:
        """Kills a busy worker process once the first unit's rows are written."""

        @property
        def unit_times(self):
            return cluster.unit_times

        def map(self, fn, todo, on_result, **kw):
            def write_then_kill(unit, rows):
                on_result(unit, rows)
                if not killed:
                    written.append(set(pd.read_csv(next((tmp_path / "dask").glob("*/results.csv"))).config))
                    busy = cluster.client.processing()
                    addr = next((w for w, keys in busy.items() if keys), next(iter(busy)))
                    pid = cluster.worker_pids()[addr]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            return cluster.map(fn, todo, write_then_kill, **kw)

    killed, written = [], []
    remote = _run(tmp_path, "dask", KillAfterFirst())
    assert killed and len(written[0]) == 1
    for name in ("results.csv", "layers.csv", "token_energy.csv"):
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name


def test_dask_sensitivity_scores_equal_the_local_ones(tmp_path, cluster):
    cfg = SensitivityConfig(model="tiny-llama", candidates=("w4a4", "w4a8"), tokens=32, calib_windows=1, windows=1,
                            budgets=1, max_groups=3, out=str(tmp_path))
    here = pd.read_csv(run_sensitivity(cfg, progress=False) / "sensitivity.csv").drop(columns="seconds")
    there = pd.read_csv(run_sensitivity(cfg, progress=False, executor=cluster) / "sensitivity.csv")
    assert len(here) == 3 * 2
    pd.testing.assert_frame_equal(here, there.drop(columns="seconds"), check_exact=True)


def test_a_failing_unit_is_reported_and_the_others_finish(cluster):
    for executor in (cluster, LocalExecutor()):
        got = []
        failures = executor.map(math.sqrt, [4.0, -1.0, 9.0], lambda unit, value: got.append(value), progress=False)
        assert sorted(got) == [2.0, 3.0]
        assert [(f.unit, f.error) for f in failures] == [("-1.0", "ValueError: math domain error")]
    with pytest.raises(ValueError):
        LocalExecutor(fail_fast=True).map(math.sqrt, [-1.0], lambda u, v: None, progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line_and_exit_1(tmp_path):
    start = time.monotonic()
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--executor", "dask", "--scheduler",
                                       f"tcp://127.0.0.1:{_free_port()}", "--out", str(tmp_path), "--no-progress"])
    elapsed = time.monotonic() - start
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 and "cannot reach the Dask scheduler" in result.output
    assert elapsed < 30  # the bound; the connect timeout is 10 s
    assert not os.listdir(tmp_path)


PLAN = {"models": ["tiny-llama"], "configs": ["fp", "w4a4", "w4a8"], "profiles": ["npu", "tiny"],
        "tokens": [32, 48], "windows": 1, "calib_windows": 1}


def test_sweep_reports_a_failed_unit_exits_1_and_resumes(tmp_path, monkeypatch):
    plan = tmp_path / "plan.yaml"
    plan.write_text(json.dumps({**PLAN, "out": str(tmp_path / "out")}))
    real = units.evaluate_config

    def broken(model, cfg, *args, **kwargs):
        if cfg.name == "w4a4" and args[0].tokens == 48:
            raise RuntimeError("simulated failure")
        return real(model, cfg, *args, **kwargs)

    monkeypatch.setattr(units, "evaluate_config", broken)
    first = CliRunner().invoke(main, ["sweep", str(plan), "--no-progress"])
    assert first.exit_code == 1
    assert "failed: tiny-llama/48/w4a4: RuntimeError: simulated failure" in first.output
    (run_dir,) = (tmp_path / "out").iterdir()
    kept = pd.read_csv(run_dir / "results.csv")
    assert len(kept) == 5 * 2 and "report.html" in os.listdir(run_dir)
    assert json.loads((run_dir / "run.json").read_text())["failed"][0]["unit"] == "tiny-llama/48/w4a4"

    monkeypatch.setattr(units, "evaluate_config", real)
    second = CliRunner().invoke(main, ["sweep", "--resume", str(run_dir), "--no-progress"])
    assert second.exit_code == 0, second.output
    assert "6 of 6 units done" in second.output
    final = pd.read_csv(run_dir / "results.csv")
    assert len(final) == 6 * 2 and not final.duplicated(["model", "tokens", "config", "hw"]).any()
    assert list(final.drop_duplicates(["tokens", "config"]).config) == ["fp", "w4a4", "w4a8"] * 2
    pd.testing.assert_frame_equal(final[final.config != "w4a4"].reset_index(drop=True),
                                  kept[kept.config != "w4a4"].reset_index(drop=True))


def test_sweep_on_dask_matches_run_numbers(tmp_path, cluster):
    plan = plan_from_dict({**PLAN, "tokens": [32], "out": str(tmp_path / "sweep")})
    outcome = run_sweep(plan, cluster, progress=False)
    assert outcome.done == 3 and not outcome.failures
    swept = pd.read_csv(outcome.run_dir / "results.csv")
    run = RunConfig(model="tiny-llama", configs=plan.configs, profiles=plan.profiles, tokens=32, windows=1,
                    calib_windows=1, out=str(tmp_path / "run"))
    alone = pd.read_csv(run_experiment(run, progress=False) / "results.csv")
    pd.testing.assert_frame_equal(swept[alone.columns], alone, check_exact=True)


@pytest.mark.parametrize("data, message", [
    ({"models": ["tiny-llama"]}, "field 'configs' is missing"),
    ({**PLAN, "colour": 1}, "unknown field 'colour'"),
    ({**PLAN, "tokens": ["many"]}, "tokens[0]='many' is invalid"),
    ({**PLAN, "configs": ["w9a9"]}, "configs[0]: preset 'w9a9' is unknown"),
    ({**PLAN, "models": ["tiny-llama", "tiny-llama"]}, "SweepPlan.models repeats"),
    ({**PLAN, "windows": 0}, "RunConfig.windows=0 is invalid"),
])
def test_plan_errors_name_the_file_field_and_value(data, message):
    with pytest.raises(ValueError) as info:
        plan_from_dict(data, source="p.yaml")
    assert message in str(info.value) and str(info.value).startswith("p.yaml: ")


def test_plan_lists_every_problem_and_round_trips():
    with pytest.raises(ValueError) as info:
        plan_from_dict({"models": [1], "configs": ["w9a9"], "colour": 1}, source="p.yaml")
    assert len(str(info.value).splitlines()) == 3
    plan = plan_from_dict({**PLAN, "configs": ["fp", {"extends": "w4a4", "name": "w4a6", "a_bits": 6}]})
    assert plan_from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert [(r.model, r.tokens) for r in plan.runs()] == [("tiny-llama", 32), ("tiny-llama", 48)]


def test_unit_seed_depends_on_values_only():
    assert units.unit_seed(0, "m", 64, "w4a4") == units.unit_seed(0, "m", 64, "w4a4")
    assert len({units.unit_seed(s, "m", t, c) for s in (0, 1) for t in (32, 64) for c in ("a", "b")}) == 8
    assert 0 <= units.unit_seed(2**40, "x") < 2**63


def test_cli_sweep_on_a_local_cluster_prints_the_dashboard_line(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(json.dumps({**PLAN, "configs": ["w4a4"], "tokens": [32], "out": str(tmp_path / "out")}))
    result = CliRunner().invoke(main, ["sweep", str(plan), "--executor", "dask", "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "dask: scheduler tcp://" in result.output and "dashboard" in result.output
    assert Path(result.output.strip().splitlines()[-1].removeprefix("report: ")).is_file()


def test_scheduler_without_the_dask_executor_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--scheduler", "tcp://127.0.0.1:1",
                                       "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code != 0 and "--scheduler" in result.output and "--executor dask" in result.output
    assert not os.listdir(tmp_path)


@pytest.mark.slow  # SmolLM2: tiny-llama has no tokenizer for a text file
def test_a_sweep_plan_evaluates_the_users_text_named_relative_to_the_plan(tmp_path):
    import torch

    from stamp_sim.workflows.units import run_context

    text = " ".join(f"word{i % 97} and more text number {i}." for i in range(3000))
    (tmp_path / "corpus.txt").write_text(text)
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(json.dumps({**PLAN, "models": ["smollm2-135m"], "tokens": [32], "windows": 1,
                                     "calib_windows": 1, "data": "corpus.txt", "out": str(tmp_path / "o")}))
    plan = load_plan(plan_file)
    (run,) = plan.runs()
    assert run.data == str(tmp_path / "corpus.txt") and run.data_field == "text"
    assert plan_from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    # The unit of work reads that file, not the built-in sample.
    default = run_context(dataclasses.replace(run, data=None))[0].data.evaluation[0]["input_ids"]
    own = run_context(run)[0].data.evaluation[0]["input_ids"]
    assert not torch.equal(own, default)


def test_each_worker_runs_its_units_on_its_share_of_the_cpus(cluster):
    from stamp_sim.workflows.threads import unit_threads

    share = unit_threads(share=2)
    pools = cluster.worker_threads()
    assert len(pools) == 2
    for pool in pools.values():
        assert pool["torch"] == share and pool["numba"] == share and pool["torch_interop"] == 1, pool
        assert pool["OMP_WAIT_POLICY"] == "PASSIVE"
        assert pool["MALLOC_TRIM_THRESHOLD_"] is None  # the nanny's default made units 2.3x slower


def test_restore_malloc_acts_only_where_a_trim_threshold_is_fixed():
    import subprocess
    import sys

    code = "from stamp_sim.workflows.threads import restore_malloc; print(restore_malloc())"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    fixed = subprocess.run([sys.executable, "-c", code], env={**env, "MALLOC_TRIM_THRESHOLD_": "65536"},
                           capture_output=True, text=True, check=True).stdout.strip()
    free = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert (fixed, free) == ("True", "False")


def test_run_json_has_a_per_unit_time_table(tmp_path, cluster):
    run_dir = _run(tmp_path, "timed", cluster)
    times = json.loads((run_dir / "run.json").read_text())["unit_times"]
    assert sorted(t["unit"] for t in times) == sorted(f"tiny-llama/64/{c.name}" for c in CONFIGS)
    assert {t["worker"] for t in times} <= set(cluster.worker_pids())
    assert all(t["seconds"] > 0 and 0 <= t["setup_s"] <= t["seconds"] for t in times)


def test_local_executor_records_unit_times_too(tmp_path):
    ex = LocalExecutor()
    run_dir = _run(tmp_path, "local-timed", ex)
    times = json.loads((run_dir / "run.json").read_text())["unit_times"]
    assert len(times) == len(CONFIGS) and {t["worker"] for t in times} == {"local"}
    assert times[0]["setup_s"] > 0  # the first unit built this process's context


def test_projection_is_the_lpt_schedule_plus_setup():
    from stamp_sim.workflows.executors import projected_wall_s

    # LPT of 5, 4, 3, 3, 2 on 2 workers: 5 | 4, then 3 to the 4 (7), 3 to the 5 (8), 2 to the 7 -> 8 and 9
    assert projected_wall_s([3, 5, 2, 4, 3], 2) == 9
    assert projected_wall_s([3, 5, 2, 4, 3], 2, setup_s=1.5) == 10.5
    assert projected_wall_s([3, 5, 2, 4, 3], 8) == 5
    assert projected_wall_s([3, 5, 2], 1) == 10
    with pytest.raises(ValueError, match="workers"):
        projected_wall_s([1.0], 0)


def test_unit_threads_reads_its_variable(monkeypatch):
    from stamp_sim.workflows.threads import ENV_VAR, available_cpus, unit_threads

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert unit_threads(share=1) == available_cpus()
    assert unit_threads(share=10_000) == 1
    monkeypatch.setenv(ENV_VAR, "3")
    assert unit_threads(share=2) == 3
    monkeypatch.setenv(ENV_VAR, "two")
    with pytest.raises(ValueError, match=ENV_VAR):
        unit_threads()
