"""`stamp-sim profiles` and `stamp-sim cost` through click's CliRunner, and the
PrecisionConfig -> hw_models.LayerPrecision mapping behind them."""

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from stamp_sim import hw_models
from stamp_sim.cli import main
from stamp_sim.config import PRESETS, get_preset
from stamp_sim.pricing import layer_precision, price_workload


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_profiles_lists_every_builtin_with_headline_numbers():
    result = invoke("profiles")
    assert result.exit_code == 0, result.output
    for name in hw_models.builtin_names():
        assert name in result.output
    assert "76.8" in result.output  # npu's LPDDR5X bandwidth
    assert "1979" in result.output  # H100 INT8 TOPS


def test_profiles_show_prints_values_and_sources():
    result = invoke("profiles", "show", "npu")
    assert result.exit_code == 0, result.output
    assert "memory.dram_gbps" in result.output
    assert "LPDDR5X-4800 x 64-bit bus" in result.output
    assert "int4 2, int8 1, fp16 0.5" in result.output


def test_profiles_show_unknown_is_one_line_error():
    result = invoke("profiles", "show", "tpu")
    assert result.exit_code != 0
    assert "'tpu' is not a built-in profile" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cost_shape_prints_the_library_numbers():
    result = invoke("cost", "--hw", "tiny", "--shape", "8,8,8", "--config", "w8a8", "--per-layer")
    assert result.exit_code == 0, result.output
    # The tiny hand-computed case (tests/hw_models/test_cost_tiny.py): 30,627.84 pJ, 0.391 us.
    assert "3.063e+04" in result.output
    assert "0.391" in result.output
    for header in ("MACs", "dram_B", "mac_pJ", "acc_pJ", "sram_pJ", "dram_pJ", "seq_tf_pJ", "requant_pJ",
                   "latency_us", "bound"):
        assert header in result.output


def test_cost_several_configs_and_csv(tmp_path):
    out = tmp_path / "cost.csv"
    result = invoke("cost", "--shape", "2048,576,576", "--config", "w4a4-first64", "--config", "w4a4-stamp",
                    "--csv", str(out))
    assert result.exit_code == 0, result.output
    summary = result.output.splitlines()
    assert [line.split()[0] for line in summary[2:4]] == ["w4a4-first64", "w4a4-stamp"]
    table = pd.read_csv(out)
    assert list(table.config) == ["w4a4-first64", "w4a4-stamp"]
    stamp, first = table.set_index("config").loc["w4a4-stamp"], table.set_index("config").loc["w4a4-first64"]
    assert stamp.seq_transform_pj > 0 and first.seq_transform_pj == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--shape", "2048,576"], "is not s,K,N"),
        (["--shape", "2048,0,576"], "has a value < 1"),
        (["--shape", "a,b,c"], "is not s,K,N"),
        (["--shape", "8,8,8", "--hw", "tpu"], "'tpu' is not a built-in profile"),
        (["--shape", "8,8,8", "--hw", "missing.yaml"], "no such profile file"),
        (["--shape", "8,8,8", "--config", "w3a3"], "Invalid value for '--config'"),
        (["--shape", "8,8,8", "--config", "w3a3"], "neither a preset nor a file"),
        (["--shape", "8,8,8", "--config", "w8a8", "--config", "w8a8"], "repeated: ['w8a8']"),
        (["--shape", "8,8,8", "--tokens", "16"], "--tokens goes with --model"),
        ([], "exactly one of --shape"),
        (["--shape", "8,8,8", "--model", "smollm2-135m"], "exactly one of --shape"),
    ],
)
def test_cost_bad_input_is_a_usage_error(args, message):
    result = invoke("cost", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_cost_bad_profile_file_names_the_field(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_text("extends: npu\nmemory:\n  dram_gbps: -1\n")
    result = invoke("cost", "--shape", "8,8,8", "--hw", str(path))
    assert result.exit_code != 0
    assert str(path) in result.output and "problem" in result.output


def test_cost_model_smollm2_prices_every_linear_layer():
    result = invoke("cost", "--model", "smollm2-135m", "--tokens", "64", "--config", "w8a8", "--hw", "npu",
                    "--per-layer", "--linear-only")
    assert result.exit_code == 0, result.output
    assert "model.layers.29.mlp.down_proj" in result.output
    assert "TOTAL" in result.output
    assert result.output.count("model.layers.") == 210  # 30 blocks x 7 linear layers


def test_layer_precision_of_presets():
    stamp = layer_precision(get_preset("w4a4-stamp"))
    assert (stamp.w_bits, stamp.a_bits, stamp.a_high_bits, stamp.high_rows) == (4, 4, 8, 64)
    assert (stamp.seq_transform.value, stamp.seq_levels) == ("dwt", 3)
    fp = layer_precision(get_preset("fp"))
    assert (fp.w_bits, fp.a_bits, fp.high_rows, fp.acc_bits) == (None, None, 0, 32)
    plain = layer_precision(get_preset("w4a4"))
    assert (plain.a_high_bits, plain.high_rows) == (None, 0)
    acc16 = layer_precision(get_preset("w4a4-stamp-acc16"))
    assert (acc16.acc_bits, acc16.acc_tile, acc16.acc_outer_bits) == (16, 64, 32)
    had = layer_precision(get_preset("w4a4-hadamard"))
    assert had.feature_transform.value == "hadamard"  # a layer of unknown role: rotated online
    # QuaRot's placement: folded into q/k/v, o, gate/up; online before down_proj; every-linear: online everywhere.
    assert layer_precision(get_preset("w4a4-hadamard"), "q").feature_transform.value == "hadamard-folded"
    assert layer_precision(get_preset("w4a4-hadamard"), "down").feature_transform.value == "hadamard"
    every = get_preset("w4a4-hadamard").replace(rotation_placement="every-linear")
    assert layer_precision(every, "q").feature_transform.value == "hadamard"
    asym = layer_precision(get_preset("w4a4").replace(w_symmetric=False, w_granularity="per-group", w_group_size=32))
    assert (asym.w_zero_points, asym.w_granularity.value, asym.w_group_size) == (True, "per-group", 32)


def test_every_preset_prices():
    work = pd.DataFrame({"layer": ["q"], "tokens": [256], "k": [576], "n": [576]})
    table = price_workload(work, list(PRESETS), ["npu", "lunar-lake-npu"])
    assert len(table) == len(PRESETS) * 2 * 2
    # Configs priced layer by layer (a folded rotation) keep the grid's order: profile, config, phase, layer.
    two = pd.DataFrame({"layer": ["b.mlp.down_proj", "b.self_attn.q_proj"], "tokens": [8, 8], "k": [64, 64],
                        "n": [64, 64]})
    grid = price_workload(two, ["w4a4-quarot", "w8a8"], ["npu", "tiny"])
    assert list(grid.hw.astype(str)) == ["npu"] * 8 + ["tiny"] * 8
    assert list(grid.config.astype(str)[:8]) == ["w4a4-quarot"] * 4 + ["w8a8"] * 4
    assert list(grid.layer[:4]) == ["b.mlp.down_proj", "b.self_attn.q_proj"] * 2
    assert list(grid.phase.astype(str)[:4]) == ["prefill", "prefill", "decode", "decode"]
    assert list(grid.feature_transform_pj[:2] > 0) == [True, False]
    acc16 = table[(table.config == "w4a4-stamp-acc16") & (table.hw == "npu") & (table.phase == "prefill")].iloc[0]
    acc32 = table[(table.config == "w4a4-stamp") & (table.hw == "npu") & (table.phase == "prefill")].iloc[0]
    assert acc16.accumulate_pj < acc32.accumulate_pj  # npu has a 16-bit accumulator
    with pytest.raises(ValueError, match="repeated"):
        price_workload(work, ["w8a8", "w8a8"], ["npu"])


def test_cost_of_a_vit_defaults_to_its_own_input_size():
    pytest.importorskip("transformers")
    result = CliRunner().invoke(main, ["cost", "--hw", "tiny", "--model", "dinov2-small", "--config", "w8a8",
                                        "--per-layer"])
    assert result.exit_code == 0, result.output
    assert " 257 " in result.output and "TOTAL" in result.output


def _summary(output: str) -> pd.DataFrame:
    """The summary lines of `cost` (header line 2, one line per config) as a table of strings."""
    lines = output.splitlines()
    header = [h for h in lines[1].split("  ") if h.strip()]
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.split("  ") if c.strip()]
        if len(cells) != len(header):
            break
        rows.append(cells)
    return pd.DataFrame(rows, columns=[h.strip() for h in header])


def test_cost_summary_is_one_line_per_config_in_mj_and_ms():
    result = invoke("cost", "--hw", "tiny", "--shape", "8,8,8", "--config", "w8a8")
    assert result.exit_code == 0, result.output
    table = _summary(result.output)
    assert list(table.columns) == ["config", "energy (mJ)", "latency (ms)", "overlapped (ms)", "DRAM (MB)",
                                   "weights (MB)", "bound"]
    # The hand-computed tiny case: 30,627.84 pJ = 3.063e-05 mJ, 0.391 us = 0.000391 ms, 288 DRAM bytes.
    row = table.iloc[0]
    assert (row["config"], row["energy (mJ)"], row["latency (ms)"], row["DRAM (MB)"]) == \
        ("w8a8", "3.063e-05", "0.000391", "0.000288")
    assert row["bound"] == "compute (0 of 1 layers memory bound)"
    assert "mac_pJ" not in result.output  # the per-layer table only with --per-layer


def test_cost_decode_gives_tokens_per_second_from_the_latency():
    work = pd.DataFrame({"layer": ["gemm"], "tokens": [64], "k": [576], "n": [576]})
    npu = hw_models.load_profile("npu")
    expected = hw_models.totals(price_workload(work, ["w4a4"], [npu], ["decode"]))
    result = invoke("cost", "--shape", "64,576,576", "--config", "w4a4", "--phase", "decode")
    assert result.exit_code == 0, result.output
    row = _summary(result.output).iloc[0]
    assert float(row["tokens/s"].replace(",", "")) == pytest.approx(1 / expected.latency_s.iloc[0], abs=0.5)
    assert "tokens/s is an upper bound" in result.output


def test_cost_model_defaults_to_512_tokens_like_run():
    result = invoke("cost", "--model", "tiny-llama", "--config", "w8a8")
    assert result.exit_code == 0, result.output
    assert "prefill of 512 tokens" in result.output


def test_cost_config_takes_a_configs_file_and_a_mixed_file(tmp_path):
    configs = tmp_path / "configs.yaml"
    configs.write_text("- w8a8\n- {extends: w4a4, name: w4a6, a_bits: 6}\n")
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text("name: half\ndefault: w8a8\nlayers:\n  model.layers.0.mlp.down_proj: w4a4\n")
    result = invoke("cost", "--model", "tiny-llama", "--tokens", "64", "--config", str(configs),
                    "--config", f"mixed:{mixed}", "--config", "fp")
    assert result.exit_code == 0, result.output
    table = _summary(result.output)
    assert list(table["config"]) == ["w8a8", "w4a6", "half", "fp"]
    energy = table.set_index("config")["energy (mJ)"].astype(float)
    assert energy["w4a6"] < energy["w8a8"] < energy["fp"]
    assert energy["half"] < energy["w8a8"]  # one layer lowered to w4a4


def test_profiles_lists_descriptions_and_explains_the_array_column():
    result = invoke("profiles")
    assert result.exit_code == 0, result.output
    for name in hw_models.builtin_names():
        description = hw_models.load_profile(name).description
        assert description and f"{name}" in result.output and description in result.output
    assert "5x64x64 ws" in result.output and "array: COUNTxROWSxCOLS DATAFLOW" in result.output


def test_an_extending_profile_without_description_says_what_it_extends(tmp_path):
    path = tmp_path / "my-phone.yaml"
    path.write_text("extends: npu\nname: my-phone\nmemory:\n  dram_gbps: 84.8\n")
    npu = hw_models.load_profile("npu")
    assert hw_models.load_profile(str(path)).description == f"extends npu: {npu.description}"
    result = invoke("profiles", "show", str(path))
    assert result.output.splitlines()[0] == f"my-phone: extends npu: {npu.description}"
    own = tmp_path / "own.yaml"
    own.write_text(f"extends: {path.name}\ndescription: mine\n")
    assert hw_models.load_profile(str(own)).description == "mine"
    bare = tmp_path / "bare.yaml"
    bare.write_text("\n".join(line for line in (Path(npu.path).read_text().splitlines())
                              if not line.startswith("description:")))
    result = invoke("profiles", "show", str(bare))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "npu: (no description)"


def test_per_layer_says_where_the_rotation_runs_online():
    result = invoke("cost", "--model", "tiny-llama", "--tokens", "32", "--config", "w4a4-quarot", "--hw", "tiny",
                    "--per-layer")
    assert result.exit_code == 0, result.output
    # tiny-llama: 2 blocks of 7 linear layers; only down_proj rotates its input online.
    assert "rotation: online on 2 linear layers (down_proj), folded into the weights on 12" in result.output
    plain = invoke("cost", "--model", "tiny-llama", "--tokens", "32", "--config", "w4a4", "--hw", "tiny", "--per-layer")
    assert "rotation:" not in plain.output
