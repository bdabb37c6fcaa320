"""Hand-computed costs on the `tiny` profile; every number is derived beside it.

tiny: one 4x4 weight-stationary array at 1 GHz (1 cycle = 1 ns); packing int4 2,
int8 1, fp16 0.5; accumulators 16 and 32 bits; SRAM 65,536 bytes; DRAM 1 byte/ns;
vector unit 1 op/ns. Energy (pJ): 8x8 multiply 1.0 (a x b bits: a*b/64), 32-bit add
0.32 (0.01 per bit), fp16 multiply 2.0, fp32 add 1.0, SRAM 1/byte, DRAM 100/byte,
vector op 0.5. Scales are fp16 (2 bytes).
"""

import pandas as pd
import pytest

from stamp_sim import hw_models
from stamp_sim.hw_models import LayerPrecision, price, price_layer

W8A8 = LayerPrecision(w_bits=8, a_bits=8)
FP16 = LayerPrecision()


def one(tokens, k, n, precision, phase="prefill", profile="tiny"):
    frame = price(pd.DataFrame({"tokens": [tokens], "k": [k], "n": [n]}), {"p": precision}, [profile], [phase])
    return frame.iloc[0]


def test_w8a8_8x8x8_by_hand():
    c = price_layer(8, 8, 8, W8A8, "tiny")
    assert c.macs == 512  # 8 tokens x 8 x 8
    assert c.mac_pj == 512.0  # 512 int8 multiplies x 1.0 pJ
    assert c.accumulate_pj == pytest.approx(163.84)  # 64 outputs x 8 adds x 0.32 pJ (32-bit)
    # ws: folds ceil(8/4) x ceil(8/4) = 4, each 2*4 + 4 + 8 - 2 = 18 cycles; 4*18 - 1 = 71 ns.
    assert c.mac_s == pytest.approx(71e-9)
    # requant: quantize 3 ops x 64 inputs = 192, dequantize 2 ops x 64 outputs = 128 -> 320 ops.
    assert c.requant_pj == pytest.approx(160.0)  # 320 x 0.5 pJ
    assert c.requant_s == pytest.approx(320e-9)  # 320 ops at 1 op/ns
    assert c.weight_bytes == 80  # 64 x 1 byte + 8 per-channel scales x 2 bytes
    assert c.act_bytes == 80  # 64 x 1 byte + 8 per-token scales x 2 bytes
    assert c.out_bytes == 128  # 64 fp16 outputs x 2 bytes
    assert c.dram_bytes == 288  # all fit in 64 KiB: each crosses DRAM once
    assert c.dram_pj == 28_800  # 288 x 100 pJ
    assert c.memory_s == pytest.approx(288e-9)  # 288 bytes at 1 byte/ns
    # SRAM: inputs 8*8*ceil(8/4) = 128 x 1 byte, weights 64 x 1 byte, partial sums
    # 8*8*ceil(8/4) = 128 x 4 bytes = 512; plus the 288 DRAM bytes once: 992.
    assert c.sram_bytes == 992
    assert c.sram_pj == 992
    assert c.seq_transform_pj == c.feature_transform_pj == 0
    assert c.energy_pj == pytest.approx(512 + 163.84 + 992 + 28_800 + 160)  # 30,627.84
    assert c.latency_s == pytest.approx(391e-9)  # compute 71 + 320 ns > memory 288 ns
    assert c.bound == "compute"


def test_stamp_mixed_rows_padding_and_fallback_by_hand():
    stamp = LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=2, seq_transform="dwt", seq_levels=1)
    r = one(5, 4, 4, stamp)
    assert r.rows == 6  # 5 tokens padded to a multiple of 2^1
    assert r.high_rows == 2  # 2 rows at 8 bits, 4 rows at 4 bits
    assert r.mode_low == "int4"
    assert r.mode_high == "int8 (w4a8 unsupported)"  # tiny has no w4a8: the next wider mode
    assert r.macs == 96  # 6 rows x 4 x 4
    assert r.mac_pj == pytest.approx(48.0)  # 4 rows x 16 x 0.25 pJ (4x4) + 2 rows x 16 x 1.0 pJ (8x8)
    assert r.accumulate_pj == pytest.approx(30.72)  # 24 outputs x 4 adds x 0.32 pJ
    # int4 GEMM, 4 rows: 1 fold x (8 + 4 + 4 - 2) - 1 = 13 cycles / packing 2 = 6.5;
    # int8 GEMM, 2 rows: 1 fold x (8 + 4 + 2 - 2) - 1 = 11 cycles / packing 1 = 11.
    assert r.cycles == pytest.approx(17.5)
    # Haar, 1 level: an add and a scale per element, 2 x 6 rows per feature, on K + N = 8 features.
    assert r.seq_transform_ops == 96
    assert r.seq_transform_pj == pytest.approx(48.0)  # 96 x 0.5 pJ
    assert r.seq_transform_s == pytest.approx(96e-9)
    assert r.requant_ops == 120  # quantize 3 x 6 x 4 = 72 + dequantize 2 x 6 x 4 = 48
    assert r.weight_bytes == 16  # 16 weights x 0.5 byte + 4 scales x 2 bytes
    assert r.act_bytes == 28  # (4 rows x 4 bits + 2 rows x 8 bits) x 4 / 8 = 16, + 6 row scales x 2
    assert r.out_bytes == 40  # 5 real tokens x 4 x 2 bytes after the inverse transform crops
    assert r.dram_bytes == 84
    # SRAM: inputs 6*4*1 = 24 at 32/6 bits average = 16 bytes, weights 16 x 0.5 = 8,
    # partial sums 6*4*1 x 4 bytes = 96; plus 84 DRAM bytes = 204.
    assert r.sram_bytes == pytest.approx(204.0)
    assert r.energy_pj == pytest.approx(48 + 30.72 + 204 + 8_400 + 48 + 60)  # 8,790.72
    assert r.latency_s == pytest.approx(233.5e-9)  # 17.5 + 96 + 120 ns > 84 ns
    assert r.bound == "compute"


def test_decode_same_precision_by_hand():
    stamp = LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=2, seq_transform="dwt", seq_levels=1)
    r = one(5, 4, 4, stamp, phase="decode")
    assert (r.rows, r.high_rows, r.seq_transform) == (1, 0, "identity")  # one token, no STaMP
    assert r.mac_pj == pytest.approx(4.0)  # 16 MACs x 0.25 pJ
    assert r.accumulate_pj == pytest.approx(5.12)  # 4 outputs x 4 adds x 0.32
    assert r.cycles == pytest.approx(5.0)  # (8 + 4 + 1 - 2) - 1 = 10 cycles / packing 2
    assert r.requant_ops == 20  # 3 x 4 inputs + 2 x 4 outputs
    assert r.dram_bytes == 28  # weights 16 + input 4 x 0.5 + 1 scale x 2 = 4 + output 8
    assert r.sram_bytes == pytest.approx(54.0)  # inputs 4 x 0.5 + weights 8 + psums 4 x 4 + 28
    assert r.energy_pj == pytest.approx(4 + 5.12 + 54 + 2_800 + 10)
    assert r.latency_s == pytest.approx(28e-9)  # memory 28 ns > compute 5 + 20 ns
    assert r.bound == "memory"


def test_tiling_rereads_when_sram_too_small():
    r = one(64, 256, 256, FP16)
    # fp16: weights 256*256*2 = 131,072, input 64*256*2 = 32,768, output 32,768 bytes:
    # 196,608 > 65,536. Half the SRAM (32,768): token blocks would re-read weights
    # ceil(65,536 / 32,768) = 2 times (2*131,072 + 32,768 = 294,912); weight blocks
    # re-read the input ceil(131,072 / 32,768) = 4 times (131,072 + 4*32,768 = 262,144).
    assert not r.fits_sram
    assert (r.weight_reads, r.act_reads) == (1, 4)
    assert r.dram_bytes == 131_072 + 4 * 32_768 + 32_768


def test_fp16_layer_by_hand():
    r = one(4, 4, 4, FP16)
    assert r.mode_low == "fp16"
    assert r.mac_pj == pytest.approx(64 * 2.0)  # 64 fp16 multiplies
    assert r.accumulate_pj == pytest.approx(64 * 1.0)  # 64 fp32 adds
    assert r.cycles == pytest.approx(26.0)  # (8 + 4 + 4 - 2) - 1 = 13 cycles / packing 0.5
    assert r.requant_ops == 0
    assert r.weight_bytes == r.act_bytes == r.out_bytes == 32  # 16 elements x 2 bytes each


def test_two_stage_accumulator_by_hand():
    base = LayerPrecision(w_bits=4, a_bits=4, acc_bits=32)
    # 16 outputs (4 tokens x 4) x 8 adds x 0.32 pJ = 40.96
    assert one(4, 8, 4, base).accumulate_pj == pytest.approx(40.96)
    # 12 bits run on the 16-bit register: 8 adds x 0.16 = 1.28; tile 4 -> 2 outer adds
    # into 32 bits (20 requested) x 0.32 = 0.64; 16 outputs x 1.92 = 30.72.
    tiled = base.replace(acc_bits=12, acc_tile=4, acc_outer_bits=20)
    r = one(4, 8, 4, tiled)
    assert r.acc_hw_bits == 16
    assert r.accumulate_pj == pytest.approx(30.72)
    # Wider than any register (40 bits): emulated, priced at 40 bits: 16 x 8 x 0.4 = 51.2.
    assert one(4, 8, 4, base.replace(acc_bits=40)).accumulate_pj == pytest.approx(51.2)


def test_feature_transforms_by_hand():
    had = LayerPrecision(w_bits=4, a_bits=4, feature_transform="hadamard")
    r = one(3, 6, 4, had)
    # K = 6 padded to 8: 3 tokens x 8 x log2(8) = 72 adds x 0.5 pJ.
    assert r.feature_transform_ops == 72
    assert r.feature_transform_pj == pytest.approx(36.0)
    sq = one(3, 6, 4, had.replace(feature_transform="smoothquant"))
    assert sq.feature_transform_pj == 0
    assert "folded into weights" in sq.feature_transform


def test_klt_runs_on_the_mac_array_by_hand():
    klt = LayerPrecision(w_bits=4, a_bits=4, seq_transform="klt")
    r = one(4, 4, 4, klt)
    assert r.klt_macs == 128  # 4x4 matrix times 4x4 input and 4x4 output: 16 x (4 + 4)
    assert r.seq_transform_pj == pytest.approx(384.0)  # 128 x (fp16 multiply 2.0 + fp32 add 1.0)
    # two 4x4x4 GEMMs of 13 cycles each, in fp16 (packing 0.5): 52 ns
    assert r.seq_transform_s == pytest.approx(52e-9)
    assert r.transform_bytes == 32  # the 4x4 fp16 matrix


def test_other_transforms_op_counts_by_hand():
    base = LayerPrecision(w_bits=4, a_bits=4)
    # wht: 5 tokens padded to 8, 8 log2 8 = 24 adds per feature, K + N = 8 features.
    r = one(5, 4, 4, base.replace(seq_transform="wht"))
    assert (r.rows, r.seq_transform_ops) == (8, 192)
    # dct: 5 rows, 2 x 5 x ceil(log2 5) = 30 ops per feature.
    r = one(5, 4, 4, base.replace(seq_transform="dct"))
    assert (r.rows, r.seq_transform_ops) == (5, 240)
    # dwt2d, 1 level: 6 tokens -> 3x3 grid -> 4x4 = 16 rows; (16/3) x 16 x (1 - 1/4) = 64 per feature.
    r = one(6, 4, 4, base.replace(seq_transform="dwt2d", seq_levels=1))
    assert (r.rows, r.seq_transform_ops) == (16, 512)
    # dwt2d, 1 level: 5 tokens = a CLS row + a 2x2 patch grid -> 1 + 4 = 5 rows;
    # (16/3) x 5 x (1 - 1/4) = 20 per feature, x (K + N = 8) = 160.
    r = one(5, 4, 4, base.replace(seq_transform="dwt2d", seq_levels=1))
    assert (r.rows, r.seq_transform_ops) == (5, 160)
    # dwt2d, 3 levels, a ViT-S/14 at 224 px: 257 = CLS + 16x16 -> 1 + 256 rows (16 is a multiple of 8).
    assert one(257, 4, 4, base.replace(seq_transform="dwt2d", seq_levels=3)).rows == 257
    # dwt, 3 levels: 16 rows; 2 x (16 + 8 + 4) = 56 per feature.
    r = one(16, 4, 4, base.replace(seq_transform="dwt", seq_levels=3))
    assert (r.rows, r.seq_transform_ops) == (16, 448)


def test_group_scales_and_zero_points_by_hand():
    p = LayerPrecision(w_bits=4, a_bits=8, w_granularity="per-group", w_group_size=4, w_zero_points=True)
    r = one(2, 8, 4, p)
    # weights: 32 x 0.5 byte = 16; 4 channels x 2 groups = 8 groups x (2-byte scale + 4-bit zero point) = 20.
    assert r.weight_bytes == 36
    # dequantize per group along K: 2 groups x 2 ops + 1 zero-point op, per output (8 outputs);
    # quantize 3 x 16 inputs: 48 + 40 = 88.
    assert r.requant_ops == 88


def test_unsupported_int4_runs_as_int8_and_says_so():
    r = one(64, 64, 64, LayerPrecision(w_bits=4, a_bits=4), profile="lunar-lake-npu")
    assert r.mode_low == "int8 (int4 unsupported)"
    npu = one(64, 64, 64, LayerPrecision(w_bits=4, a_bits=4), profile="npu")
    assert npu.mode_low == "int4"


def test_price_grid_order_and_columns():
    wl = pd.DataFrame({"layer": ["a", "b"], "tokens": [4, 8], "k": [4, 4], "n": [4, 8]})
    frame = price(wl, {"fp": FP16, "w8a8": W8A8}, ["tiny", "npu"], ["prefill", "decode"])
    assert len(frame) == 2 * 2 * 2 * 2
    assert list(frame.columns[:5]) == ["hw", "config", "phase", "layer", "tokens"]
    assert list(frame["hw"][:8]) == ["tiny"] * 8
    assert list(frame["layer"][:4]) == ["a", "b", "a", "b"]
    assert list(frame["phase"][:4]) == ["prefill", "prefill", "decode", "decode"]


def test_bad_inputs_name_the_field():
    with pytest.raises(ValueError, match="missing column"):
        price(pd.DataFrame({"tokens": [1], "k": [1]}), {"p": FP16}, ["tiny"])
    with pytest.raises(ValueError, match=r"workload\['k'\] must hold integers >= 1"):
        price(pd.DataFrame({"tokens": [1], "k": [0], "n": [1]}), {"p": FP16}, ["tiny"])
    with pytest.raises(ValueError, match="phase='train'.*allowed: prefill, decode"):
        price(pd.DataFrame({"tokens": [1], "k": [1], "n": [1]}), {"p": FP16}, ["tiny"], ["train"])
    with pytest.raises(ValueError, match="LayerPrecision.seq_transform='fft' is not allowed; allowed: dct, dwt"):
        LayerPrecision(seq_transform="fft")
    with pytest.raises(ValueError, match="w_group_size=None with per-group"):
        LayerPrecision(w_bits=4, w_granularity="per-group")
    with pytest.raises(hw_models.ProfileError):
        price(pd.DataFrame({"tokens": [1], "k": [1], "n": [1]}), {"p": FP16}, ["tpu"])
