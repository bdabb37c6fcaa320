"""Achieved efficiency and execution policies of a profile, on `tiny` variants written as YAML."""

import pytest

from stamp_sim import hw_models
from stamp_sim.hw_models import LayerPrecision, price_layer


def _profile(tmp_path, text, name="chip"):
    path = tmp_path / f"{name}.yaml"
    path.write_text("extends: tiny\nname: " + name + "\n" + text)
    return hw_models.load_profile(path)


def test_defaults_are_a_pure_roofline_with_a_default_source():
    tiny = hw_models.load_profile("tiny")
    assert tiny.efficiency == hw_models.Efficiency()
    assert tiny.modes[hw_models.OperandMode.INT8].large_m_efficiency == 1.0
    assert tiny.source("efficiency.dram").startswith("default: 1.0, a pure roofline")


def test_efficiencies_stretch_mac_and_memory_time(tmp_path):
    tiny = hw_models.load_profile("tiny")
    half = _profile(tmp_path, "modes:\n  int8: {large_m_efficiency: 0.5, small_m_efficiency: 0.25}\n"
                              "efficiency: {dram: 0.5, vector: 0.5}\n")
    w8a8 = LayerPrecision(w_bits=8, a_bits=8)
    base, slow = price_layer(64, 64, 64, w8a8, tiny), price_layer(64, 64, 64, w8a8, half)
    assert slow.mac_s == pytest.approx(2 * base.mac_s)
    assert slow.memory_s == pytest.approx(2 * base.memory_s)
    assert slow.requant_s == pytest.approx(2 * base.requant_s)
    # 16 rows or fewer: small M.
    base1, slow1 = price_layer(16, 64, 64, w8a8, tiny), price_layer(16, 64, 64, w8a8, half)
    assert slow1.mac_s == pytest.approx(4 * base1.mac_s)


def test_kernel_overhead_adds_to_every_layer(tmp_path):
    tiny = hw_models.load_profile("tiny")
    slow = _profile(tmp_path, "efficiency: {kernel_overhead_us: 3}\n")
    p = LayerPrecision(w_bits=8, a_bits=8)
    assert price_layer(8, 8, 8, p, slow).latency_s == pytest.approx(price_layer(8, 8, 8, p, tiny).latency_s + 3e-6)


def test_bad_efficiency_is_refused_with_file_field_and_allowed(tmp_path):
    with pytest.raises(hw_models.ProfileError, match=r"efficiency.dram: got 1.5; allowed: a number > 0 and <= 1"):
        _profile(tmp_path, "efficiency: {dram: 1.5}\n")
    with pytest.raises(hw_models.ProfileError, match=r"execution.weight_only: got 'fast'; allowed: dequantize, native"):
        _profile(tmp_path, "execution: {weight_only: fast}\n")


def test_weight_only_native_runs_in_w4a16_and_dequantize_expands_every_weight_read(tmp_path):
    native = _profile(tmp_path, "modes:\n  w4a16: {peak_tops: {value: 0.016, source: x}}\n"
                                "execution: {weight_only: native}\n", "native")
    deq = _profile(tmp_path, "modes:\n  w4a16: {peak_tops: {value: 0.016, source: x}}\n", "deq")
    w4a16 = LayerPrecision(w_bits=4)
    work = __import__("pandas").DataFrame({"tokens": [8], "k": [8], "n": [8]})
    a = hw_models.price(work, {"w4a16": w4a16}, [native, deq]).set_index("hw")
    assert str(a.loc["native", "mode_low"]) == "w4a16" and str(a.loc["deq", "mode_low"]) == "fp16"
    # Native: quantize 8 x 8 inputs (3 ops) and dequantize 8 x 8 outputs (2 ops); dequantize: 2 ops per weight read.
    assert a.loc["native", "requant_ops"] == 3 * 64 + 2 * 64
    assert a.loc["deq", "requant_ops"] == 2 * 64 * a.loc["deq", "weight_reads"]


def test_two_pass_mixed_rows_stream_the_weights_once_per_pass(tmp_path):
    one = hw_models.load_profile("tiny")  # the default: one pass
    two = _profile(tmp_path, "execution: {mixed_rows: two-pass}\n", "two")
    # 48 KiB of INT4 weights and 128 rows of inputs do not fit 64 KiB of SRAM.
    stamp = LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=16)
    a, b = price_layer(128, 512, 768, stamp, two), price_layer(128, 512, 768, stamp, one)
    assert a.dram_bytes >= b.dram_bytes + a.weight_bytes
    assert a.mac_s == pytest.approx(b.mac_s)  # the same cycles, only the weight traffic differs


def test_a_two_pass_layer_pays_the_kernel_overhead_twice(tmp_path):
    slow = _profile(tmp_path, "efficiency: {kernel_overhead_us: 3}\nexecution: {mixed_rows: two-pass}\n", "slow")
    tiny = _profile(tmp_path, "execution: {mixed_rows: two-pass}\n", "two")
    stamp = LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=4)
    assert price_layer(16, 8, 8, stamp, slow).latency_s == pytest.approx(price_layer(16, 8, 8, stamp, tiny).latency_s
                                                                          + 6e-6)
