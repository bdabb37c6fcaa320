"""The cost formulas over arrays: one entry per (layer, precision, profile, phase) row.

Every result is a sum of named terms (see ENERGY_TERMS / TIME_TERMS); the public
wrappers in ``hw_models.cost`` build the inputs and the DataFrame. Units: bytes, pJ,
seconds, MACs, vector-unit element ops. Assumptions (also in hw_models/README.md):

- Layers run one after another; each reads its weights and its input activations from
  DRAM and writes its output to DRAM (no cross-layer fusion). Inputs are read at their
  quantized widths (the quantizer and the forward sequence transform are fused into
  the op that produces them, and priced here); outputs are written as float16 after the
  inverse transform, because residual adds and norms follow.
- Tiling: if weights + input + output fit in SRAM, each crosses DRAM once. Otherwise half
  the SRAM holds a block of tokens (input and output rows) or a block of weight columns
  while the other operand streams through the other half; the cheaper order is taken:
  token blocks re-read the weights once per block, weight blocks re-read the input.
- SRAM traffic is SCALE-Sim's operand access count for one GEMM of all rows (each row's
  input at its own width, partial sums at the accumulator width) plus every DRAM byte
  once (filled into or drained from SRAM).
- Mixed-precision rows run as separate GEMMs when their modes differ (cycles add up);
  compute time = MAC-array time + vector-unit time (transforms, requantization), no
  overlap between the two; latency = max(compute, memory). latency_overlap_s is the
  optimistic end: the vector unit pipelined with the MAC array, max(MAC, vector, memory).
"""

from __future__ import annotations

import numpy as np

from hw_models._tables import FP16, GRAN_CODES, ProfileTables
from hw_models.mac_array import gemm_cycles_float, operand_accesses
from hw_models.precision import Granularity
from hw_models.transform_ops import (
    SEQ_CODES,
    feature_transform_ops,
    klt_macs,
    padded_rows,
    seq_transform_ops_per_feature,
)

__all__ = ["ENERGY_TERMS", "TIME_TERMS", "price_arrays"]

ENERGY_TERMS = ("mac_pj", "accumulate_pj", "sram_pj", "dram_pj", "seq_transform_pj", "feature_transform_pj", "requant_pj")
TIME_TERMS = ("mac_s", "seq_transform_s", "feature_transform_s", "requant_s")

_PER_GROUP = GRAN_CODES[Granularity.PER_GROUP]
_PER_TENSOR = GRAN_CODES[Granularity.PER_TENSOR]
_IDENTITY = SEQ_CODES[next(iter(SEQ_CODES))]
_KLT = max(SEQ_CODES.values())
# Vector ops per element: quantizing an input (abs-max compare, scale, round/clamp);
# dequantizing an output per scale group (multiply by s_x*s_w, add); one more per
# zero point (row/column-sum correction); dequantizing a weight (scale, add).
_QUANT_OPS, _DEQUANT_OPS, _ZP_OPS, _WEIGHT_DEQUANT_OPS = 3.0, 2.0, 1.0, 2.0


def _ceil_div(a, b):
    return np.ceil(np.asarray(a, dtype=np.float64) / b)


def price_arrays(tokens, k, n, decode, prec: dict, prof, t: ProfileTables) -> dict[str, np.ndarray]:
    """Cost of every row. tokens, k, n : int64 arrays; decode : bool array; prec : per-row
    precision codes; prof : profile index per row, or one int for all rows (broadcast)."""
    kf, nf = k.astype(np.float64), n.astype(np.float64)
    s = np.where(decode, 1, tokens)
    # Decode has one token: no sequence transform, and no row is "first" (plain per-token).
    seq = np.where(decode, _IDENTITY, prec["seq"])
    rows = padded_rows(s, seq, prec["levels"])
    w, a, ah = prec["w"], prec["a"], prec["ah"]
    w_int, a_int = w > 0, a > 0
    high = np.where(a_int & (ah > a) & ~decode, np.minimum(prec["high_rows"], rows), 0)
    low = rows - high
    lowf, highf, rowsf = low.astype(np.float64), high.astype(np.float64), rows.astype(np.float64)

    # --- operand modes ------------------------------------------------------------
    mode_lo = t.mode_lut[prof, w, a]
    mode_hi = np.where(high > 0, t.mode_lut[prof, w, ah], mode_lo)
    float_lo, float_hi = mode_lo == FP16, mode_hi == FP16

    # --- MACs: multiplies and accumulates --------------------------------------------
    kn = kf * nf
    macs_lo, macs_hi = lowf * kn, highf * kn
    mac_pj = macs_lo * t.mult_pj[prof, mode_lo] + macs_hi * t.mult_pj[prof, mode_hi]
    tiled = prec["tile"] > 0
    acc_in = t.acc_lut[prof, prec["acc"]]
    acc_out = t.acc_lut[prof, np.where(prec["outer"] > 0, prec["outer"], t.widest_acc[prof])]
    add32 = t.int_add_32b_pj[prof]
    outer_adds = np.where(tiled, _ceil_div(k, np.maximum(prec["tile"], 1)), 0.0)
    int_acc_per_out = kf * add32 * acc_in / 32.0 + outer_adds * add32 * acc_out / 32.0
    float_acc_per_out = kf * t.fp32_add_pj[prof]
    accumulate_pj = nf * (
        lowf * np.where(float_lo, float_acc_per_out, int_acc_per_out)
        + highf * np.where(float_hi, float_acc_per_out, int_acc_per_out)
    )

    # --- MAC-array cycles -----------------------------------------------------------
    R, C, count, df = t.rows[prof], t.cols[prof], t.count[prof], t.dataflow[prof]
    same_mode = mode_lo == mode_hi
    # Rows in the same mode stream through the array as one GEMM.
    m_lo = np.where(same_mode, rows, low)
    m_hi = np.where(same_mode, 0, high)
    cyc_lo = gemm_cycles_float(m_lo, k, n, R, C, df, count)
    cyc_hi = gemm_cycles_float(m_hi, k, n, R, C, df, count)
    eff_cycles = cyc_lo / t.packing[prof, mode_lo] + cyc_hi / t.packing[prof, mode_hi]
    clock = t.clock_hz[prof]
    mac_s = eff_cycles / clock
    # Cycle slots: SCALE-Sim's count is the index of the last cycle of each GEMM.
    slots = np.where(m_lo > 0, cyc_lo + 1.0, 0.0) + np.where(m_hi > 0, cyc_hi + 1.0, 0.0)
    pe_slots = R * C * count * slots
    utilization = np.divide(rowsf * kn, pe_slots, out=np.zeros_like(pe_slots), where=pe_slots > 0)

    # --- sequence transform: forward on rows x K, inverse on rows x N ---------------
    vec_rate, vec_pj = t.vector_ops_per_s[prof], t.vector_op_pj[prof]
    seq_ops = seq_transform_ops_per_feature(rows, seq, prec["levels"]) * (kf + nf)
    klt = seq == _KLT
    k_macs = klt_macs(rows, k, n, seq)
    klt_cycles = np.zeros_like(kf)
    if klt.any():  # one branch for the whole batch, not per row
        klt_rows = np.where(klt, rows, 0)
        klt_cycles = (
            gemm_cycles_float(klt_rows, rows, k, R, C, df, count) + gemm_cycles_float(klt_rows, rows, n, R, C, df, count)
        ) / t.packing[prof, FP16]
    seq_transform_pj = seq_ops * vec_pj + k_macs * (t.fp16_multiply_pj[prof] + t.fp32_add_pj[prof])
    seq_transform_s = seq_ops / vec_rate + klt_cycles / clock

    # --- feature transform ------------------------------------------------------------
    feat_ops = feature_transform_ops(s, k, prec["feat"])
    feature_transform_pj = feat_ops * vec_pj
    feature_transform_s = feat_ops / vec_rate

    # --- (re)quantization ---------------------------------------------------------------
    gk_w = np.where(prec["wg"] == _PER_GROUP, _ceil_div(k, prec["wgs"]), 1)
    gk_a = np.where(prec["ag"] == _PER_GROUP, _ceil_div(k, prec["ags"]), 1)
    k_groups = np.maximum(gk_w, gk_a)
    zp_ops = _ZP_OPS * (prec["wzp"] + prec["azp"])
    requant_ops = (
        np.where(a_int, _QUANT_OPS * rowsf * kf, 0.0)
        + np.where(w_int & a_int, rowsf * nf * (_DEQUANT_OPS * k_groups + zp_ops), 0.0)
        + np.where(w_int & ~a_int, _WEIGHT_DEQUANT_OPS * kn, 0.0)
        + np.where(a_int & ~w_int, _WEIGHT_DEQUANT_OPS * rowsf * kf, 0.0)
    )
    requant_pj = requant_ops * vec_pj
    requant_s = requant_ops / vec_rate

    # --- bytes --------------------------------------------------------------------------
    scale_bits = prec["scale_bits"].astype(np.float64)
    w_groups = np.select([prec["wg"] == _PER_GROUP, prec["wg"] == _PER_TENSOR], [nf * gk_w, 1.0], default=nf)
    weight_bytes = np.where(
        w_int, kn * w / 8.0 + w_groups * (scale_bits + prec["wzp"] * w) / 8.0, kn * 2.0
    )
    a_groups = np.select([prec["ag"] == _PER_GROUP, prec["ag"] == _PER_TENSOR], [rowsf * gk_a, 1.0], default=rowsf)
    in_bits_total = lowf * a + highf * ah
    act_bytes = np.where(
        a_int, in_bits_total * kf / 8.0 + a_groups * (scale_bits + prec["azp"] * a) / 8.0, rowsf * kf * 2.0
    )
    out_bytes = s.astype(np.float64) * nf * 2.0
    transform_bytes = np.where(klt, rowsf * rowsf * 2.0, 0.0)

    sram = t.sram_bytes[prof]
    half = sram / 2.0
    fits = weight_bytes + act_bytes + out_bytes <= sram
    token_blocks = np.maximum(np.ceil((act_bytes + out_bytes) / half), 1.0)
    weight_blocks = np.maximum(np.ceil(weight_bytes / half), 1.0)
    by_tokens = token_blocks * weight_bytes + act_bytes
    by_weights = weight_bytes + weight_blocks * act_bytes
    use_tokens = by_tokens <= by_weights
    weight_reads = np.where(fits | ~use_tokens, 1.0, token_blocks)
    act_reads = np.where(fits | use_tokens, 1.0, weight_blocks)
    dram_bytes = weight_reads * weight_bytes + act_reads * act_bytes + out_bytes + transform_bytes

    in_reads, w_reads, out_writes = operand_accesses(rows, k, n, R, C, df)
    avg_in_bits = np.where(a_int, np.divide(in_bits_total, rowsf, out=np.zeros_like(rowsf), where=rowsf > 0), 16.0)
    w_bits_stored = np.where(w_int, w, 16).astype(np.float64)
    psum_bits = np.where(float_lo & float_hi, 32, np.where(tiled, acc_out, acc_in)).astype(np.float64)
    sram_bytes = (in_reads * avg_in_bits + w_reads * w_bits_stored + out_writes * psum_bits) / 8.0 + dram_bytes

    sram_pj = sram_bytes * t.sram_pj_per_byte[prof]
    dram_pj = dram_bytes * t.dram_pj_per_byte[prof]

    # --- latency --------------------------------------------------------------------------
    compute_s = mac_s + seq_transform_s + feature_transform_s + requant_s
    memory_s = dram_bytes / t.dram_bytes_per_s[prof]
    latency_s = np.maximum(compute_s, memory_s)
    # The other end of the range: a vector unit pipelined with the MAC array (as an NPU's
    # vector and tensor units can be) hides transform and quantization time behind MACs.
    latency_overlap_s = np.maximum(np.maximum(mac_s, seq_transform_s + feature_transform_s + requant_s), memory_s)

    out = {
        "rows": rows,
        "high_rows": high,
        "avg_a_bits": np.where(a_int, avg_in_bits, np.nan),
        "mode_low": mode_lo,
        "mode_high": mode_hi,
        "acc_hw_bits": np.where(float_lo & float_hi, 32, acc_in),
        "macs": rowsf * kn,
        "macs_high": macs_hi,
        "cycles": eff_cycles,
        "utilization": utilization,
        "weight_bytes": weight_bytes,
        "act_bytes": act_bytes,
        "out_bytes": out_bytes,
        "transform_bytes": transform_bytes,
        "weight_reads": weight_reads,
        "act_reads": act_reads,
        "fits_sram": fits,
        "dram_bytes": dram_bytes,
        "sram_bytes": sram_bytes,
        "seq_transform_ops": seq_ops,
        "klt_macs": k_macs,
        "feature_transform_ops": feat_ops,
        "requant_ops": requant_ops,
        "mac_pj": mac_pj,
        "accumulate_pj": accumulate_pj,
        "sram_pj": sram_pj,
        "dram_pj": dram_pj,
        "seq_transform_pj": seq_transform_pj,
        "feature_transform_pj": feature_transform_pj,
        "requant_pj": requant_pj,
        "mac_s": mac_s,
        "seq_transform_s": seq_transform_s,
        "feature_transform_s": feature_transform_s,
        "requant_s": requant_s,
        "compute_s": compute_s,
        "memory_s": memory_s,
        "latency_s": latency_s,
        "latency_overlap_s": latency_overlap_s,
        "memory_bound": memory_s > compute_s,
    }
    out["energy_pj"] = sum(out[term] for term in ENERGY_TERMS)
    return out
