"""A profile's mac_array.fill and execution.weight_scales, priced by hand on `tiny` variants.

tiny: one 4x4 weight-stationary array at 1 GHz (1 cycle = 1 ns), packing int8 1, fp16
0.5; DRAM 1 byte/ns; vector unit 1 op/ns at 0.5 pJ; fp16 scales (2 bytes); serial fill
and per-partial-sum group scales unless the variant says otherwise.
"""

from pathlib import Path

import pandas as pd
import pytest

from stamp_sim import hw_models
from stamp_sim.hw_models import LayerPrecision, price


def _profile(tmp_path, text, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text("extends: tiny\nname: " + name + "\n" + text)
    return hw_models.load_profile(path)


@pytest.fixture
def overlap(tmp_path):
    return _profile(tmp_path, "mac_array:\n  fill: {value: overlap, source: test}\n", "overlap")


def one(profile, tokens, k, n, precision, phase="prefill"):
    frame = price(pd.DataFrame({"tokens": [tokens], "k": [k], "n": [n]}), {"p": precision}, [profile], [phase])
    return frame.iloc[0]


def test_fill_is_read_from_the_profile_with_a_source(overlap):
    tiny = hw_models.load_profile("tiny")
    assert tiny.mac_array.fill is hw_models.Fill.SERIAL and "SCALE-Sim" in tiny.source("mac_array.fill")
    assert overlap.mac_array.fill is hw_models.Fill.OVERLAP
    for name in ("npu", "gpu", "edge-gpu", "lunar-lake-npu", "h200", "snapdragon-8-elite"):
        assert hw_models.load_profile(name).mac_array.fill is hw_models.Fill.OVERLAP, name


def test_w8a8_8x8x8_on_an_overlapped_array_by_hand(overlap):
    r = one(overlap, 8, 8, 8, LayerPrecision(w_bits=8, a_bits=8))
    # 4 folds, P = 10, T = 8: (10 + 8) + 3 * max(8, 4) - 1 = 41 cycles (serial: 71).
    assert r.cycles == pytest.approx(41.0) and r.mac_s == pytest.approx(41e-9)
    assert r.utilization == pytest.approx(512 / (16 * 42))
    # Requantization (320 ops) is not a weight tile: still in series. 41 + 320 ns > 288 ns of DRAM.
    assert r.requant_s == pytest.approx(320e-9)
    assert r.latency_s == pytest.approx(361e-9)
    # Energy does not depend on cycles: the serial array's 30,627.84 pJ (test_cost_tiny).
    assert r.energy_pj == pytest.approx(30_627.84)


def test_weight_only_dequantization_hides_behind_the_macs_on_an_overlapped_array(overlap):
    tiny = hw_models.load_profile("tiny")
    w4 = LayerPrecision(w_bits=4)  # w4a16: tiny dequantizes every weight read to fp16
    serial, over = one(tiny, 5, 8, 8, w4, "decode"), one(overlap, 5, 8, 8, w4, "decode")
    # Bytes: 64 weights x 0.5 + 8 channel scales x 2 = 48, input 8 x 2, output 8 x 2: 80 ns of DRAM.
    assert serial.dram_bytes == over.dram_bytes == 80
    # Dequantizing the tile: 2 ops x 64 weights, read once: 128 ops (64 pJ) on both arrays.
    assert serial.requant_ops == over.requant_ops == 128 and serial.requant_pj == over.requant_pj == 64
    # Serial: fp16 GEMV, 4 folds x (10 + 1) - 1 = 43 cycles / packing 0.5 = 86 ns, then 128 ns of dequantization.
    assert serial.mac_s == pytest.approx(86e-9) and serial.requant_s == pytest.approx(128e-9)
    assert serial.latency_s == pytest.approx(214e-9) and serial.bound == "compute"
    # Overlapped: (10 + 1) + 3 * 4 - 1 = 22 cycles / 0.5 = 44 ns; the tiles are dequantized ahead of the
    # MACs, so only 128 - 44 = 84 ns show: compute 128 ns = max(MAC, dequantization).
    assert over.mac_s == pytest.approx(44e-9) and over.requant_s == pytest.approx(84e-9)
    assert over.compute_s == pytest.approx(128e-9) and over.latency_s == pytest.approx(128e-9)


def _scales(tmp_path, mode, fill="serial"):
    return _profile(tmp_path, f"mac_array:\n  fill: {{value: {fill}, source: test}}\n"
                              f"execution:\n  weight_scales: {{value: {mode}, source: test}}\n", f"{mode}-{fill}")


GROUPED = LayerPrecision(w_bits=4, a_bits=8, w_granularity="per-group", w_group_size=4, w_zero_points=True)


def test_group_scales_per_partial_sum_folded_and_per_tile_by_hand(tmp_path):
    # 2 tokens x K 8 -> N 4, weight groups of 4 along K (2 groups), a zero point per group.
    # Every mode quantizes the 16 inputs: 3 x 16 = 48 ops.
    # per-partial-sum: 8 outputs x (2 groups x 2 ops + 1 zero-point op) = 40 -> 88 (test_cost_tiny).
    assert one(_scales(tmp_path, "per-partial-sum"), 2, 8, 4, GROUPED).requant_ops == 88
    # folded (LPBQ): one per-channel rescale per output, 8 x (2 + 1) = 24 -> 72.
    folded = one(_scales(tmp_path, "folded"), 2, 8, 4, GROUPED)
    assert folded.requant_ops == 72 and folded.requant_s == pytest.approx(72e-9)
    # per-tile: as folded, plus the 32-weight tile dequantized once: 2 x 32 = 64 -> 136, all serial here.
    tile = one(_scales(tmp_path, "per-tile"), 2, 8, 4, GROUPED)
    assert tile.requant_ops == 136 and tile.requant_s == pytest.approx(136e-9)
    # The bytes do not change with the execution: 32 x 0.5 + 8 groups x (2 + 0.5) = 36.
    assert folded.weight_bytes == tile.weight_bytes == 36


def test_per_tile_dequantization_overlaps_the_macs_and_is_paid_once_per_gemm_not_per_row(tmp_path):
    tile = _scales(tmp_path, "per-tile", fill="overlap")
    # 2 rows: int8 GEMM, 2 folds, (10 + 2) + 1 * max(2, 4) - 1 = 15 ns of MACs; the 64-op tile (64 ns)
    # shows 64 - 15 = 49 ns beyond them; 72 ops of quantize and output rescale stay in series.
    r = one(tile, 2, 8, 4, GROUPED)
    assert r.mac_s == pytest.approx(15e-9) and r.requant_s == pytest.approx(72e-9 + 49e-9)
    # 64 rows: (10 + 64) + 64 - 1 = 137 ns of MACs hide the tile; the tile's 64 ops do not grow with rows,
    # per-partial-sum's rescale does (64 rows x 4 outputs x 2 groups x 2 ops).
    r = one(tile, 64, 8, 4, GROUPED)
    quant, outputs = 3 * 64 * 8, 64 * 4 * (2 + 1)
    assert r.requant_ops == quant + outputs + 64 and r.requant_s == pytest.approx((quant + outputs) * 1e-9)
    dear = one(_scales(tmp_path, "per-partial-sum"), 64, 8, 4, GROUPED)
    assert dear.requant_ops == quant + 64 * 4 * (2 * 2 + 1)
    # Per-channel weights have no groups: no tile op in any mode.
    plain = GROUPED.replace(w_granularity="per-channel", w_group_size=None)
    assert one(tile, 64, 8, 4, plain).requant_ops == quant + outputs


def test_device_profiles_declare_how_their_runtime_applies_group_scales():
    expected = {"npu": "folded", "snapdragon-8-elite": "folded", "gpu": "per-tile", "h200": "per-tile",
                "edge-gpu": "per-tile", "lunar-lake-npu": "per-partial-sum", "tiny": "per-partial-sum"}
    for name, mode in expected.items():
        prof = hw_models.load_profile(name)
        assert prof.execution.weight_scales.value == mode, name
        assert "default:" not in prof.source("execution.weight_scales"), name


def test_bad_fill_and_weight_scales_name_file_field_and_choices(tmp_path):
    with pytest.raises(hw_models.ProfileError, match=r"mac_array.fill: got 'double'; allowed: overlap, serial"):
        _profile(tmp_path, "mac_array:\n  fill: double\n", "bad")
    with pytest.raises(hw_models.ProfileError,
                       match=r"execution.weight_scales: got 'lpbq'; allowed: folded, per-partial-sum, per-tile"):
        _profile(tmp_path, "execution:\n  weight_scales: lpbq\n", "bad2")
    # Left out: the defaults, each with its source.
    bare = _profile(tmp_path, "", "bare")
    assert bare.mac_array.fill is hw_models.Fill.SERIAL  # tiny's own value, inherited
    user = tmp_path / "user.yaml"
    tiny_text = Path(hw_models.load_profile("tiny").path).read_text()
    user.write_text("\n".join(line for line in tiny_text.splitlines()
                              if "fill:" not in line and "weight_scales:" not in line and line != "execution:"))
    prof = hw_models.load_profile(user)
    assert prof.mac_array.fill is hw_models.Fill.OVERLAP and prof.source("mac_array.fill").startswith("default:")
    assert prof.execution.weight_scales is hw_models.WeightScales.PER_PARTIAL_SUM
