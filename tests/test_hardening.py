"""Hostile and careless input: one clear error per problem, nothing written, no traceback,
no silent wrong number, results files that read back exactly (issue 16)."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim import hw_models
from stamp_sim.hw_models import ProfileError, load_profile
from stamp_sim.hw_models.yaml_io import MAX_NODES, loads_yaml, short_repr
from stamp_sim.kernels import AccumulatorSpec, int_matmul
from stamp_sim.cli import main
from stamp_sim.config import ConfigError, load_configs
from stamp_sim.quant import quantize
from stamp_sim.report import append_rows_atomic, read_table, write_csv_atomic

TRICKY_NAMES = ["NA", "007", "None", "1e3", "nan", "TRUE", "-0"]


# -- YAML limits ------------------------------------------------------------------------

def _laughs(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, match", [
    (_laughs(9), f"expand to more than {MAX_NODES}"),
    ("[" * 5000 + "]" * 5000, "nested deeper"),
    ("? [1, 2]\n: 3\n", "a list used as a mapping key at line 1"),
    ("? {a: 1}\n: 3\n", "a mapping used as a mapping key"),
    ("&a [*a]\n", "recursive alias"),
    ("a: *nothing\n", "undefined alias"),
    ("a: 1\na: 2\n", "key 'a' repeated at line 2"),
    ("a: 2024-13-40\n", "a value cannot be read"),
    ("!!python/object:os.system x\n", "not valid YAML"),
])
def test_yaml_limits_refuse_with_one_error_naming_the_file(text, match):
    with pytest.raises(ValueError, match=match) as info:
        loads_yaml(text, "f.yaml")
    assert str(info.value).startswith("f.yaml: ")


def test_aliases_within_limits_still_load():
    assert loads_yaml(_laughs(3), "f.yaml")["a2"] == [[["x"] * 9] * 9] * 9


def test_short_repr_never_expands_big_values():
    assert short_repr("y" * 10_000).endswith("...") and len(short_repr("y" * 10_000)) == 60
    assert short_repr([[1]] * 10_000) == "<list of 10000 items>"


@pytest.mark.parametrize("text", [_laughs(9), "[" * 5000 + "]" * 5000, "? [1]\n: 2\n"])
def test_profile_and_configs_files_refuse_hostile_yaml(tmp_path, text):
    path = tmp_path / "evil.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=str(path)):
        load_profile(path)
    with pytest.raises(ConfigError, match=str(path)):
        load_configs(path)


def test_a_mapping_that_is_not_a_profile_is_not_echoed(tmp_path):
    secret = "root: '$6$saltsalt$secrethash:19000:0:99999:7:::'\ndaemon: '*:19000:0:99999:7:::'\n"
    path = tmp_path / "shadow"
    path.write_text(secret)
    with pytest.raises(ProfileError, match="not a stamp-sim profile") as info:
        load_profile(str(path))  # a path with a separator is read as a file
    message = str(info.value).removeprefix(str(path))
    assert "root" not in message and "secrethash" not in message and "daemon" not in message


def test_yaml_errors_name_line_and_column_not_the_text(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("clock_mhz: 1000\nmemory: {sram_kib: 1, dram_gbps: [secret-token\n")
    with pytest.raises(ProfileError, match=r"not valid YAML \(.*line \d+, column \d+\)") as info:
        load_profile(path)
    assert "secret-token" not in str(info.value)


# -- configs: every problem, one line each ---------------------------------------------

def test_three_bad_fields_give_three_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- {name: a, allowed_bits: 4, w_clip: [1, 2], smoothquant_alpha: x}\n")
    with pytest.raises(ConfigError) as info:
        load_configs(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    for field, value in (("allowed_bits", "4"), ("w_clip", "[1, 2]"), ("smoothquant_alpha", "'x'")):
        assert any(f"{path}: item 0: PrecisionConfig.{field}={value}" in line for line in lines), (field, lines)


@pytest.mark.parametrize("name", ["$x^2$", "a|b", "<b>", "", " lead", "new\nline", "x" * 81])
def test_names_unsafe_for_a_report_are_refused_at_load(tmp_path, name):
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps([{"name": name, "extends": "w4a4"}]))
    with pytest.raises(ConfigError, match="PrecisionConfig.name="):
        load_configs(path)


def test_truncated_or_keyless_run_json_names_the_file(tmp_path):
    from stamp_sim.workflows.run import load_run

    (tmp_path / "run.json").write_text('{"run": {"model": "tiny-llama", "tok')
    with pytest.raises(ConfigError, match=f"{tmp_path / 'run.json'}: cannot be read as JSON"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text('{"model": "x"}')
    with pytest.raises(ConfigError, match="has no 'run' mapping"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text('{"run": {"configs": 5, "tokens": "many"}}')
    with pytest.raises(ConfigError, match="run.configs: got 5"):
        load_run(tmp_path)


# -- the CLI: every line, exit 1, tracebacks to a file ---------------------------------

def test_cli_prints_every_problem_of_a_profile(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("extends: npu\nmemory: {dram_gbp: 70}\nclock_mhz: -5\nmac_array: {rows: x}\n")
    result = CliRunner().invoke(main, ["cost", "--hw", str(path), "--shape", "16,16,16"])
    assert result.exit_code == 1
    assert "memory.dram_gbp: unknown field; allowed: dram_gbps, sram_kib" in result.output
    assert "clock_mhz: got -5" in result.output and "mac_array.rows: got 'x'" in result.output
    assert "Traceback" not in result.output


def test_an_internal_error_is_one_line_and_a_saved_traceback(tmp_path, monkeypatch):
    import tempfile

    def broken(*args, **kwargs):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    import sys

    monkeypatch.setattr(sys.modules["stamp_sim.commands.cost"], "price_config", broken)
    result = CliRunner().invoke(main, ["cost", "--shape", "16,16,16"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = result.output.strip().splitlines()[-1]
    assert "internal error" in line and "RuntimeError: something inside broke" in line
    saved = Path(line.split("full traceback saved to ")[1])
    assert saved.parent == tmp_path and "def broken" not in line
    assert "Traceback (most recent call last)" in saved.read_text() and "broken" in saved.read_text()


@pytest.mark.parametrize("shape", ["9223372036854775807,4,4", "16777217,1,1", "16777216,16777216,16"])
def test_cost_refuses_shapes_whose_counts_overflow(shape):
    result = CliRunner().invoke(main, ["cost", "--shape", shape])
    assert result.exit_code == 2 and "would overflow int64" in result.output


def test_the_largest_allowed_gemm_prices_to_finite_positive_numbers():
    # tokens * K * N at MAX_MACS and each dim at MAX_DIM: no count wraps to a negative number
    work = pd.DataFrame({"layer": ["a", "b"], "tokens": [hw_models.MAX_DIM, 1 << 16],
                         "k": [1 << 13, hw_models.MAX_DIM], "n": [1 << 13, 1 << 10]})
    from stamp_sim.config import get_preset
    from stamp_sim.pricing import price_workload

    for profile in hw_models.builtin_names():
        table = price_workload(work, [get_preset("w4a4-stamp"), get_preset("fp")], [load_profile(profile)],
                               ["prefill", "decode"])
        # (an fp layer's widths are NaN by design: not counts)
        numbers = table.select_dtypes("number").drop(columns=["w_bits", "a_bits", "avg_a_bits"])
        assert np.isfinite(numbers.to_numpy(dtype=float)).all() and (numbers.to_numpy(dtype=float) >= 0).all()
    with pytest.raises(ValueError, match="would overflow int64"):
        hw_models.price(pd.DataFrame({"tokens": [1 << 24], "k": [1 << 24], "n": [8]}),
                        {"x": hw_models.LayerPrecision()}, "npu")


def test_cost_csv_into_a_missing_folder_creates_it(tmp_path):
    target = tmp_path / "a" / "b" / "cost.csv"
    result = CliRunner().invoke(main, ["cost", "--shape", "16,16,16", "--csv", str(target)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(target)) == 1


# -- numbers: quantizers and byte order -------------------------------------------------

_F32 = torch.finfo(torch.float32)


@settings(max_examples=60, deadline=None)
@given(scale=st.sampled_from([1e-45, 1e-42, 1e-39, _F32.tiny, 1.0, 1e30, _F32.max / 2, _F32.max]),
       signs=st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.25, 1.0]), min_size=2, max_size=9),
       bits=st.sampled_from([2, 4, 8, 16]), symmetric=st.booleans())
def test_quantize_is_finite_on_subnormal_and_near_maximum_rows(scale, signs, bits, symmetric):
    x = (torch.tensor([signs], dtype=torch.float64) * scale).to(torch.float32)
    qt = quantize(x, bits, "per-token", symmetric=symmetric)
    out = qt.dequantize()
    assert torch.isfinite(qt.scale).all() and torch.isfinite(out).all()
    # The error stays within one quantization step (or the smallest normal step for subnormals).
    step = qt.scale.double().max()
    assert (out.double() - x.double()).abs().max() <= step * (1 + 1e-6) + _F32.tiny


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from([">i2", ">i4", ">i8", ">u2", ">u4", "<i2", "=u8"]),
       backend=st.sampled_from(["numba", "reference", "torch"]),
       mode=st.sampled_from(["wrap", "saturate"]), seed=st.integers(0, 2**16))
def test_int_matmul_takes_any_integer_byte_order(dtype, backend, mode, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.integers(0, 8, (9, 70)), rng.integers(0, 8, (70, 5))
    spec = AccumulatorSpec(10, mode)
    want = int_matmul(x.astype(np.int8), w.astype(np.int8), spec, backend="reference", x_bits=4, w_bits=4)
    got = int_matmul(x.astype(dtype), w.astype(dtype), spec, backend=backend, x_bits=4, w_bits=4)
    assert (got.values == want.values).all() and (got.overflows == want.overflows).all()


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64, torch.int16, torch.int64])
@pytest.mark.parametrize("backend", ["numba", "reference", "torch"])
def test_int_matmul_takes_torch_integer_dtypes_without_min_max(dtype, backend):
    rng = np.random.default_rng(1)
    x, w = rng.integers(0, 8, (5, 40)), rng.integers(0, 8, (40, 3))
    spec = AccumulatorSpec(9, "saturate")
    want = int_matmul(x.astype(np.uint8), w.astype(np.uint8), spec, backend="reference", x_bits=4, w_bits=4)
    got = int_matmul(torch.from_numpy(x).to(dtype), torch.from_numpy(w).to(dtype), spec, backend=backend,
                     x_bits=4, w_bits=4)
    assert (got.values == want.values).all() and (got.overflows == want.overflows).all()


# -- results files ---------------------------------------------------------------------

def test_text_columns_round_trip_exactly(tmp_path):
    rows = pd.DataFrame({"config": TRICKY_NAMES, "hw": ["NA", "null", "", "1", "2", "3", "4"],
                         "baseline": ["", "007", "None", "", "NA", "", ""], "ppl": [1.5, np.nan, 3, 4, 5, 6, 7]})
    path = write_csv_atomic(rows, tmp_path / "results.csv")
    back = read_table(path)
    assert back["config"].tolist() == TRICKY_NAMES
    assert back["hw"].tolist() == rows["hw"].tolist() and back["baseline"].tolist() == rows["baseline"].tolist()
    assert np.isnan(back["ppl"][1]) and back["ppl"][0] == 1.5
    append_rows_atomic(rows.iloc[:2].assign(ppl=[9.0, 9.0]), path, key=["config", "hw"])
    again = read_table(path)
    assert sorted(again["config"]) == sorted(TRICKY_NAMES) and len(again) == len(TRICKY_NAMES)
    assert again.set_index("config").loc["NA", "ppl"] == 9.0


def _files(run_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def _tiny_run(tmp_path, configs: str, *extra):
    path = tmp_path / "configs.yaml"
    path.write_text(configs)
    return CliRunner().invoke(main, ["run", "--model", "tiny-llama", "--tokens", "32", "--windows", "1",
                                     "--calib-windows", "1", "--configs", str(path), "--hw", "tiny",
                                     "--out", str(tmp_path / "reports"), "--no-progress", *extra])


_TRICKY_CONFIGS = "".join(f"- {{extends: w4a4, name: '{n}'}}\n" for n in ("NA", "007", "None", "1e3"))


def test_tricky_names_survive_a_run_and_resuming_a_finished_run_changes_nothing(tmp_path):
    pytest.importorskip("transformers")
    result = _tiny_run(tmp_path, _TRICKY_CONFIGS)
    assert result.exit_code == 0, result.output
    run_dir = Path(result.stdout.strip().splitlines()[-1].removeprefix("report: ")).parent
    results = read_table(run_dir / "results.csv")
    assert results["config"].tolist() == ["NA", "007", "None", "1e3"]
    assert sorted(set(read_table(run_dir / "layers.csv")["config"])) == sorted(["NA", "007", "None", "1e3"])
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    before = _files(run_dir)
    again = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert _files(run_dir) == before


def test_a_failed_run_says_so_and_resume_finishes_it(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    import stamp_sim.workflows.units as workflow  # where each config is evaluated

    real = workflow.evaluate_config

    def fail_on_second(model, cfg, *args, **kwargs):
        if cfg.name == "second":
            raise RuntimeError("power cut")
        return real(model, cfg, *args, **kwargs)

    monkeypatch.setattr(workflow, "evaluate_config", fail_on_second)
    configs = "- {extends: w4a4, name: first}\n- {extends: w8a8, name: second}\n"
    result = _tiny_run(tmp_path, configs)
    assert result.exit_code == 1 and "internal error" in result.output
    (run_dir,) = (tmp_path / "reports").iterdir()
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed" and "power cut" in meta["error"]
    assert read_table(run_dir / "results.csv")["config"].tolist() == ["first"]
    monkeypatch.setattr(workflow, "evaluate_config", real)
    resumed = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--no-progress"])
    assert resumed.exit_code == 0, resumed.output
    assert read_table(run_dir / "results.csv")["config"].tolist() == ["first", "second"]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"


@pytest.mark.parametrize("configs, match", [
    ("- {name: g7, w_bits: 4, a_bits: 8, w_granularity: per-group, w_group_size: 7}\n",
     "group_size=7 does not divide features=64"),
    ("- {name: a7, w_bits: 4, a_bits: 8, a_granularity: per-group, a_group_size: 7}\n",
     "does not divide"),
])
def test_problems_known_before_the_first_forward_pass_write_nothing(tmp_path, configs, match):
    pytest.importorskip("transformers")
    result = _tiny_run(tmp_path, configs)
    assert result.exit_code == 1 and match in result.output, result.output
    assert not (tmp_path / "reports").exists()


def test_mixed_layers_the_model_lacks_are_refused_before_the_run(tmp_path):
    pytest.importorskip("transformers")
    (tmp_path / "mx.yaml").write_text("name: mx\ndefault: w8a8\nlayers:\n  model.layers.99.mlp.down_proj: w4a4\n")
    result = _tiny_run(tmp_path, "- w4a4\n- mixed:mx.yaml\n")
    assert result.exit_code == 1 and "model.layers.99.mlp.down_proj" in result.output
    assert "are not linear layers of the model" in result.output
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("extra, match", [
    (["--tokens", "4096"], "more than tiny-llama has positions; allowed: 2..2048"),
    (["--tokens", "2048", "--windows", "100000"], "GiB"),
])
def test_token_counts_are_checked_against_the_model_before_the_run(tmp_path, monkeypatch, extra, match):
    pytest.importorskip("transformers")
    # the estimate (2048 tokens x 100000 windows of logits: hundreds of GiB) against a fixed 16 GiB machine
    monkeypatch.setattr("stamp_sim.preflight.available_memory_bytes", lambda: 16 << 30)
    result = _tiny_run(tmp_path, "- w4a4\n", *extra)
    assert result.exit_code == 1 and match in result.output, result.output
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("text, file, match", [
    ("extends: tiny\nname: '$x^2$'\n", "p.yaml", r"name: got '\$x\^2\$'"),
    ("extends: tiny\n", "$chip$.yaml", "from the file name; give a name: field"),
])
def test_profile_names_unsafe_for_a_report_are_refused(tmp_path, text, file, match):
    path = tmp_path / file
    path.write_text(text)
    with pytest.raises(ProfileError, match=match):
        load_profile(path)
    path.write_text(text.replace("'$x^2$'", "chip-2") + ("name: chip-3\n" if "name" not in text else ""))
    assert load_profile(path).name in ("chip-2", "chip-3")


def test_keys_with_control_characters_never_split_an_error_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text('- {extends: w4a4, name: x, "a\\x1eb\\nc": 1}\n')
    with pytest.raises(ConfigError) as info:
        load_configs(path)
    assert len(str(info.value).splitlines()) == 1 and "'a\\x1eb\\nc'" in str(info.value)


def test_the_edge_check_passes_every_preset_and_calibrated_configs_on_tiny_llama():
    pytest.importorskip("transformers")
    from stamp_sim.config import PRESETS, PrecisionConfig, get_preset
    from stamp_sim.config_eval import adapt_config
    from stamp_sim.evaluation import prepare_data
    from stamp_sim.models import load_model, workload
    from stamp_sim.preflight import config_problems

    loaded = load_model("tiny-llama")
    data = prepare_data(loaded, 48, 1, 1, 0)
    extra = [get_preset("w4a8").replace(name="gptq", weight_method="gptq"),
             get_preset("w4a4-stamp-acc16").replace(name="axe", weight_method="gpfq", weight_l1="a2q", w_bits=4,
                                                    a_bits=4),
             PrecisionConfig(name="g32", w_bits=4, a_bits=8, w_granularity="per-group", w_group_size=32,
                             a_granularity="per-group", a_group_size=16)]
    configs = [adapt_config(c, loaded.kind) for c in (*PRESETS.values(), *extra)]
    assert config_problems(configs, loaded, workload(loaded, data.tokens), data.tokens, data.grid) == []
