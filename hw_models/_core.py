"""The cost formulas over arrays: one entry per (layer, precision, profile, phase) row.

Every result is a sum of named terms (see ENERGY_TERMS / TIME_TERMS), and each term is
one function below, composed by ``price_arrays``; the public wrappers in
``hw_models.cost`` build the inputs and the DataFrame. Units: bytes, pJ, seconds, MACs,
vector-unit element ops. Assumptions (also in hw_models/README.md):

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
  in one pass over the weights, or in two (each re-reading the weights from DRAM when
  the layer does not fit SRAM) where the profile's ``execution.mixed_rows`` is two-pass. Weight-only layers
  (integer weights, float activations) run in a native wXa16 mode or dequantize each
  weight read to fp16 (``execution.weight_only``).
- Achieved efficiency: MAC cycles are divided by the mode's achieved fraction of peak
  (small- or large-M), DRAM and vector time use the achieved bandwidth and rate.
- MAC-array cycles follow the profile's ``mac_array.fill`` (hw_models.mac_array): SCALE-
  Sim's serial count, or double-buffered tiles whose loads hide behind the previous
  fold's stream.
- Weight tiles the vector unit dequantizes when they are loaded (a weight-only layer on
  a ``dequantize`` chip; group scales on a ``per-tile`` chip) are produced ahead of the
  MACs on a double-buffered array: only the part of that dequantization longer than the
  MAC time is on the critical path (requant_s holds it; requant_ops and requant_pj hold
  all of it). On a serial array it adds up like every other vector op.
- Compute time = MAC-array time + vector-unit time (transforms, requantization), no
  overlap between the two beyond the weight tiles above; latency = max(compute, memory).
  latency_overlap_s is the optimistic end: the vector unit pipelined with the MAC array,
  max(MAC, vector, memory).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._tables import FP16, GRAN_CODES, SCALE_CODES, ProfileTables
from .bound import is_memory_bound
from .mac_array import FILL_CODES, gemm_cycles_float, operand_accesses
from .precision import Granularity
from .profile import Fill, WeightScales
from .transform_ops import (
    SEQ_CODES,
    feature_transform_ops,
    klt_macs,
    padded_rows,
    prefix_applies,
    seq_transform_ops_per_feature,
)

__all__ = [
    "COLUMNS",
    "ENERGY_TERMS",
    "TIME_TERMS",
    "Rows",
    "accumulator_energy",
    "dram_traffic",
    "feature_transform_cost",
    "latency",
    "mac_energy",
    "mac_time",
    "memory_time",
    "operand_bytes",
    "price_arrays",
    "requant_cost",
    "row_geometry",
    "seq_transform_cost",
    "sram_traffic",
    "vector_time",
]

ENERGY_TERMS = ("mac_pj", "accumulate_pj", "sram_pj", "dram_pj", "seq_transform_pj", "feature_transform_pj", "requant_pj")
TIME_TERMS = ("mac_s", "seq_transform_s", "feature_transform_s", "requant_s")
# price_arrays' result, in this order (the order of `price`'s columns).
COLUMNS = (
    "rows", "high_rows", "avg_a_bits", "mode_low", "mode_high", "acc_hw_bits", "macs", "macs_high", "cycles",
    "utilization", "weight_bytes", "act_bytes", "out_bytes", "transform_bytes", "weight_reads", "act_reads",
    "fits_sram", "dram_bytes", "sram_bytes", "seq_transform_ops", "klt_macs", "feature_transform_ops", "requant_ops",
    *ENERGY_TERMS, *TIME_TERMS, "compute_s", "memory_s", "overhead_s", "latency_s", "latency_overlap_s",
    "memory_bound",
    "energy_pj",
)  # fmt: skip

_PER_GROUP = GRAN_CODES[Granularity.PER_GROUP]
_PER_TENSOR = GRAN_CODES[Granularity.PER_TENSOR]
_PER_TILE = SCALE_CODES[WeightScales.PER_TILE]
_PER_PARTIAL_SUM = SCALE_CODES[WeightScales.PER_PARTIAL_SUM]
_OVERLAP = FILL_CODES[Fill.OVERLAP]
_IDENTITY = SEQ_CODES[next(iter(SEQ_CODES))]
_KLT = max(SEQ_CODES.values())
# Vector ops per element: quantizing an input (abs-max compare, scale, round/clamp);
# dequantizing an output per scale group (multiply by s_x*s_w, add); one more per
# zero point (row/column-sum correction); dequantizing a weight (scale, add).
_QUANT_OPS, _DEQUANT_OPS, _ZP_OPS, _WEIGHT_DEQUANT_OPS = 3.0, 2.0, 1.0, 2.0


def _ceil_div(a, b):
    return np.ceil(np.asarray(a, dtype=np.float64) / b)


@dataclass(frozen=True)
class Rows:
    """What every term needs about a batch of rows, decoded once (see ``row_geometry``).

    Shapes broadcast: arrays of one entry per row, or scalars where the whole batch
    shares a value (one profile, one precision). `*f` fields are the float64 copies the
    formulas run in.
    """

    k: np.ndarray  # in-features K, int64
    n: np.ndarray  # out-features N, int64
    kf: np.ndarray
    nf: np.ndarray
    kn: np.ndarray  # K * N, float64
    s: np.ndarray  # tokens actually run: 1 in decode
    seq: np.ndarray  # sequence-transform code that runs (identity in decode)
    rows: np.ndarray  # padded rows (padded_rows), int64
    pre: np.ndarray  # leading rows kept out of the transform (an attention sink), int64
    high: np.ndarray  # rows at a_high_bits, int64
    rowsf: np.ndarray
    lowf: np.ndarray
    highf: np.ndarray
    w: np.ndarray  # weight bits (0 = float)
    a: np.ndarray  # low-row activation bits (0 = float)
    ah: np.ndarray  # high-row activation bits
    w_int: np.ndarray
    a_int: np.ndarray
    mode_lo: np.ndarray  # operand mode (index into MODES) of the low rows
    mode_hi: np.ndarray  # ... and of the high rows (= mode_lo when there are none)
    wo_native: np.ndarray  # weight-only layer run in a native wXa16 mode (int16 activations)
    two_pass: np.ndarray  # high and low rows run as two GEMMs, each its own pass over the weights
    float_lo: np.ndarray
    float_hi: np.ndarray
    tiled: np.ndarray  # two-stage accumulator
    acc_in: np.ndarray  # hardware bits of the inner accumulator
    acc_out: np.ndarray  # hardware bits of the outer accumulator
    gk_w: np.ndarray  # weight scale groups along K (1 unless per-group)
    gk_a: np.ndarray  # activation scale groups along K (1 unless per-group)
    in_bits_total: np.ndarray  # sum over rows of each row's activation bits
    avg_in_bits: np.ndarray  # in_bits_total / rows (16 for float activations)
    prec: dict
    prof: np.ndarray | int
    t: ProfileTables


def row_geometry(tokens, k, n, decode, prec: dict, prof, t: ProfileTables) -> Rows:
    """Decode a batch: padded rows, the high/low row split, operand modes, widths, groups."""
    kf, nf = k.astype(np.float64), n.astype(np.float64)
    s = np.where(decode, 1, tokens)
    # Decode has one token: no sequence transform (one token is never transformed, in
    # prefill either), and in decode no row is "first" (plain per-token).
    seq = np.where(s <= 1, _IDENTITY, prec["seq"])
    rows = padded_rows(s, seq, prec["levels"], prec["filt"], prec["prefix"])
    pre = np.where(prefix_applies(s, seq, prec["prefix"]), prec["prefix"], 0)  # rows left untransformed
    w, a, ah = prec["w"], prec["a"], prec["ah"]
    w_int, a_int = w > 0, a > 0
    high = np.where(a_int & (ah > a) & ~decode, np.minimum(prec["high_rows"], rows), 0)
    low = rows - high
    lowf, highf, rowsf = low.astype(np.float64), high.astype(np.float64), rows.astype(np.float64)
    # Integer weights x float activations on a chip with native wXa16 modes: the
    # activations are quantized to int16 on the fly and the layer runs in that mode.
    a16_mode = t.mode_lut[prof, w, 16]
    wo_native = w_int & ~a_int & t.weight_only_native[prof] & (a16_mode != FP16)
    mode_lo = np.where(wo_native, a16_mode, t.mode_lut[prof, w, a])
    mode_hi = np.where(high > 0, t.mode_lut[prof, w, ah], mode_lo)
    # Rows in two modes run as two GEMMs (two passes over the weights) unless the chip
    # switches modes within one pass.
    two_pass = (high > 0) & (mode_hi != mode_lo) & ~t.one_pass[prof]
    in_bits_total = lowf * a + highf * ah
    avg_in_bits = np.where(a_int, np.divide(in_bits_total, rowsf, out=np.zeros_like(rowsf), where=rowsf > 0), 16.0)
    return Rows(
        k=k, n=n, kf=kf, nf=nf, kn=kf * nf, s=s, seq=seq, rows=rows, pre=pre, high=high, rowsf=rowsf, lowf=lowf, highf=highf,
        w=w, a=a, ah=ah, w_int=w_int, a_int=a_int, mode_lo=mode_lo, mode_hi=mode_hi, wo_native=wo_native,
        two_pass=two_pass,
        float_lo=mode_lo == FP16, float_hi=mode_hi == FP16,
        tiled=prec["tile"] > 0,
        acc_in=t.acc_lut[prof, prec["acc"]],
        acc_out=t.acc_lut[prof, np.where(prec["outer"] > 0, prec["outer"], t.widest_acc[prof])],
        gk_w=np.where(prec["wg"] == _PER_GROUP, _ceil_div(k, prec["wgs"]), 1),
        gk_a=np.where(prec["ag"] == _PER_GROUP, _ceil_div(k, prec["ags"]), 1),
        in_bits_total=in_bits_total, avg_in_bits=avg_in_bits, prec=prec, prof=prof, t=t,
    )  # fmt: skip


def mac_energy(r: Rows) -> dict[str, np.ndarray]:
    """mac_pj: every multiply at its rows' operand mode; macs, macs_high: their counts."""
    t, prof = r.t, r.prof
    macs_lo, macs_hi = r.lowf * r.kn, r.highf * r.kn
    mac_pj = macs_lo * t.mult_pj[prof, r.mode_lo] + macs_hi * t.mult_pj[prof, r.mode_hi]
    return {"macs": r.rowsf * r.kn, "macs_high": macs_hi, "mac_pj": mac_pj}


def accumulator_energy(r: Rows) -> dict[str, np.ndarray]:
    """accumulate_pj: K adds per output at the inner accumulator's hardware width, plus
    ceil(K / tile) outer adds for a two-stage accumulator; fp16 MACs add in fp32."""
    t, prof = r.t, r.prof
    add32 = t.int_add_32b_pj[prof]
    outer_adds = np.where(r.tiled, _ceil_div(r.k, np.maximum(r.prec["tile"], 1)), 0.0)
    int_acc_per_out = r.kf * add32 * r.acc_in / 32.0 + outer_adds * add32 * r.acc_out / 32.0
    float_acc_per_out = r.kf * t.fp32_add_pj[prof]
    accumulate_pj = r.nf * (
        r.lowf * np.where(r.float_lo, float_acc_per_out, int_acc_per_out)
        + r.highf * np.where(r.float_hi, float_acc_per_out, int_acc_per_out)
    )
    return {"acc_hw_bits": np.where(r.float_lo & r.float_hi, 32, r.acc_in), "accumulate_pj": accumulate_pj}


def mac_time(r: Rows) -> dict[str, np.ndarray]:
    """cycles (mac_array's, at the profile's fill, divided by each mode's packing and achieved efficiency),
    utilization (of the PE slots, before efficiency) and mac_s.

    Rows in the same mode stream through the array as one GEMM; rows in different modes
    as two, whose cycles add up (in one pass or two: ``Rows.two_pass`` changes the
    weight traffic, not the cycles).
    """
    t, prof = r.t, r.prof
    R, C, count, df, fill = t.rows[prof], t.cols[prof], t.count[prof], t.dataflow[prof], t.fill[prof]
    same_mode = r.mode_lo == r.mode_hi
    m_lo = np.where(same_mode, r.rows, r.rows - r.high)
    m_hi = np.where(same_mode, 0, r.high)
    cyc_lo = gemm_cycles_float(m_lo, r.k, r.n, R, C, df, count, fill)
    cyc_hi = gemm_cycles_float(m_hi, r.k, r.n, R, C, df, count, fill)
    # Achieved fraction of each mode's peak: small-M GEMMs (decode) reach less of it.
    eff_lo = np.where(m_lo <= t.small_m_rows[prof], t.eff_small[prof, r.mode_lo], t.eff_large[prof, r.mode_lo])
    eff_hi = np.where(m_hi <= t.small_m_rows[prof], t.eff_small[prof, r.mode_hi], t.eff_large[prof, r.mode_hi])
    eff_cycles = cyc_lo / (t.packing[prof, r.mode_lo] * eff_lo) + cyc_hi / (t.packing[prof, r.mode_hi] * eff_hi)
    # Cycle slots: SCALE-Sim's count is the index of the last cycle of each GEMM.
    slots = np.where(m_lo > 0, cyc_lo + 1.0, 0.0) + np.where(m_hi > 0, cyc_hi + 1.0, 0.0)
    pe_slots = R * C * count * slots
    utilization = np.divide(r.rowsf * r.kn, pe_slots, out=np.zeros_like(pe_slots), where=pe_slots > 0)
    return {"cycles": eff_cycles, "utilization": utilization, "mac_s": eff_cycles / t.clock_hz[prof]}


def seq_transform_cost(r: Rows) -> dict[str, np.ndarray]:
    """Sequence transform, forward on rows x K and inverse on rows x N: vector-unit ops
    (seq_transform_ops), or for the KLT fp16 MACs on the MAC array (klt_macs); energy and time."""
    t, prof = r.t, r.prof
    seq_ops = seq_transform_ops_per_feature(r.rows - r.pre, r.seq, r.prec["levels"], r.prec["filt"],
                                            r.s - r.pre) * (r.kf + r.nf)
    k_macs = klt_macs(r.rows, r.k, r.n, r.seq)
    klt = r.seq == _KLT
    klt_cycles = np.zeros_like(r.kf)
    if klt.any():  # one branch for the whole batch, not per row
        R, C, count, df, fill = t.rows[prof], t.cols[prof], t.count[prof], t.dataflow[prof], t.fill[prof]
        klt_rows = np.where(klt, r.rows, 0)
        klt_cycles = (
            gemm_cycles_float(klt_rows, r.rows, r.k, R, C, df, count, fill)
            + gemm_cycles_float(klt_rows, r.rows, r.n, R, C, df, count, fill)
        ) / t.packing[prof, FP16]
    return {
        "seq_transform_ops": seq_ops,
        "klt_macs": k_macs,
        "seq_transform_pj": seq_ops * t.vector_op_pj[prof] + k_macs * (t.fp16_multiply_pj[prof] + t.fp32_add_pj[prof]),
        "seq_transform_s": seq_ops / t.vector_ops_per_s[prof] + klt_cycles / t.clock_hz[prof],
    }


def feature_transform_cost(r: Rows) -> dict[str, np.ndarray]:
    """Feature transform on the tokens x K input (vector unit): ops, energy and time."""
    feat_ops = feature_transform_ops(r.s, r.k, r.prec["feat"])
    return {
        "feature_transform_ops": feat_ops,
        "feature_transform_pj": feat_ops * r.t.vector_op_pj[r.prof],
        "feature_transform_s": feat_ops / r.t.vector_ops_per_s[r.prof],
    }


def requant_cost(r: Rows, weight_reads: np.ndarray, mac_s: np.ndarray) -> dict[str, np.ndarray]:
    """(Re)quantization on the vector unit: ops, energy and time.

    Every layer with integer inputs quantizes each input element (3 ops). An integer-
    weight layer with integer inputs (or a weight-only layer run in a native wXa16 mode)
    dequantizes each output, with its K-group scales applied as the profile's
    ``execution.weight_scales`` says:
        per-partial-sum : rows x N x (2 x max(weight groups, activation groups) + zp) ops;
        folded : rows x N x (2 x activation groups + zp) (the weight groups are one grid);
        per-tile : as folded, plus 2 ops per weight each time a per-group weight tile is
            read from DRAM (K x N x weight_reads), once per GEMM, not per row.
    A weight-only layer on a ``dequantize`` chip expands every weight read to fp16 (2 ops
    x K x N x weight_reads); an activation-only layer dequantizes its inputs (2 ops each).

    Weight-tile dequantization (the K x N x weight_reads terms) runs ahead of the MACs on
    a double-buffered array (``mac_array.fill`` overlap): requant_s then holds only its
    excess over mac_s; on a serial array all of it. requant_ops, requant_pj: all ops.
    """
    prec, kf, nf, t, prof = r.prec, r.kf, r.nf, r.t, r.prof
    zp_ops = _ZP_OPS * (prec["wzp"] + prec["azp"])
    int_inputs = r.a_int | r.wo_native
    scales = t.weight_scales[prof]
    grouped_w = r.gk_w > 1
    # Folded and per-tile weight groups leave one rescale per output (per activation group).
    out_groups = np.where(scales == _PER_PARTIAL_SUM, np.maximum(r.gk_w, r.gk_a), r.gk_a)
    weight_dequant = _WEIGHT_DEQUANT_OPS * r.kn * weight_reads
    serial_ops = (
        np.where(int_inputs, _QUANT_OPS * r.rowsf * kf, 0.0)
        + np.where(r.w_int & int_inputs, r.rowsf * nf * (_DEQUANT_OPS * out_groups + zp_ops), 0.0)
        + np.where(r.a_int & ~r.w_int, _WEIGHT_DEQUANT_OPS * r.rowsf * kf, 0.0)
    )
    tile_ops = (
        np.where(r.w_int & ~int_inputs, weight_dequant, 0.0)
        + np.where(r.w_int & int_inputs & grouped_w & (scales == _PER_TILE), weight_dequant, 0.0)
    )
    rate = t.vector_ops_per_s[prof]
    tile_s = tile_ops / rate
    exposed = np.where(t.fill[prof] == _OVERLAP, np.maximum(tile_s - mac_s, 0.0), tile_s)
    requant_ops = serial_ops + tile_ops
    return {
        "requant_ops": requant_ops,
        "requant_pj": requant_ops * t.vector_op_pj[prof],
        "requant_s": serial_ops / rate + exposed,
    }


def operand_bytes(r: Rows) -> dict[str, np.ndarray]:
    """Bytes of each operand: weights and inputs at their widths plus their scales (and
    zero points), outputs as fp16, and the KLT's rows x rows fp16 matrix."""
    prec, nf, kf, rowsf = r.prec, r.nf, r.kf, r.rowsf
    scale_bits = prec["scale_bits"].astype(np.float64)
    w_groups = np.select([prec["wg"] == _PER_GROUP, prec["wg"] == _PER_TENSOR], [nf * r.gk_w, 1.0], default=nf)
    weight_bytes = np.where(
        r.w_int, r.kn * r.w / 8.0 + w_groups * (scale_bits + prec["wzp"] * r.w) / 8.0, r.kn * 2.0
    )
    a_groups = np.select([prec["ag"] == _PER_GROUP, prec["ag"] == _PER_TENSOR], [rowsf * r.gk_a, 1.0], default=rowsf)
    act_bytes = np.where(
        r.a_int, r.in_bits_total * kf / 8.0 + a_groups * (scale_bits + prec["azp"] * r.a) / 8.0, rowsf * kf * 2.0
    )
    return {
        "weight_bytes": weight_bytes,
        "act_bytes": act_bytes,
        "out_bytes": r.s.astype(np.float64) * nf * 2.0,
        "transform_bytes": np.where(r.seq == _KLT, rowsf * rowsf * 2.0, 0.0),
    }


def dram_traffic(r: Rows, sizes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """DRAM bytes under the tiling rule (module docstring), how often weights and inputs
    are read (weight_reads, act_reads: a two-pass layer streams its weights once per
    pass), whether the layer fits SRAM, and dram_pj."""
    weight_bytes, act_bytes, out_bytes = sizes["weight_bytes"], sizes["act_bytes"], sizes["out_bytes"]
    sram = r.t.sram_bytes[r.prof]
    half = sram / 2.0
    fits = weight_bytes + act_bytes + out_bytes <= sram
    # Two passes (two GEMMs) each tile their own rows: the high rows' blocks, then the low rows'.
    high_bytes = np.where(r.two_pass, r.highf * (r.kf * r.ah / 8.0 + r.nf * 2.0), 0.0)
    low_bytes = act_bytes + out_bytes - high_bytes
    token_blocks = np.maximum(np.ceil(low_bytes / half), 1.0) + np.where(r.two_pass, np.ceil(high_bytes / half), 0.0)
    weight_blocks = np.maximum(np.ceil(weight_bytes / half), 1.0)
    passes = np.where(r.two_pass, 2.0, 1.0)
    by_tokens = token_blocks * weight_bytes + act_bytes
    by_weights = passes * weight_bytes + weight_blocks * act_bytes
    use_tokens = by_tokens <= by_weights
    weight_reads = np.where(fits, 1.0, np.where(use_tokens, token_blocks, passes))
    act_reads = np.where(fits | use_tokens, 1.0, weight_blocks)
    dram_bytes = weight_reads * weight_bytes + act_reads * act_bytes + out_bytes + sizes["transform_bytes"]
    return {
        "weight_reads": weight_reads,
        "act_reads": act_reads,
        "fits_sram": fits,
        "dram_bytes": dram_bytes,
        "dram_pj": dram_bytes * r.t.dram_pj_per_byte[r.prof],
    }


def sram_traffic(r: Rows, dram_bytes: np.ndarray) -> dict[str, np.ndarray]:
    """SRAM bytes: SCALE-Sim's operand accesses (each row's input at its width, partial
    sums at the accumulator width) plus every DRAM byte once; and sram_pj."""
    t, prof = r.t, r.prof
    in_reads, w_reads, out_writes = operand_accesses(r.rows, r.k, r.n, t.rows[prof], t.cols[prof], t.dataflow[prof])
    w_bits_stored = np.where(r.w_int, r.w, 16).astype(np.float64)
    psum_bits = np.where(r.float_lo & r.float_hi, 32, np.where(r.tiled, r.acc_out, r.acc_in)).astype(np.float64)
    sram_bytes = (in_reads * r.avg_in_bits + w_reads * w_bits_stored + out_writes * psum_bits) / 8.0 + dram_bytes
    return {"sram_bytes": sram_bytes, "sram_pj": sram_bytes * t.sram_pj_per_byte[prof]}


def vector_time(seq_transform_s, feature_transform_s, requant_s) -> np.ndarray:
    """Seconds the vector unit is busy: transforms plus (re)quantization."""
    return seq_transform_s + feature_transform_s + requant_s


def memory_time(r: Rows, dram_bytes: np.ndarray) -> np.ndarray:
    """Seconds to move the layer's DRAM bytes at the profile's bandwidth."""
    return dram_bytes / r.t.dram_bytes_per_s[r.prof]


def latency(times: dict[str, np.ndarray], memory_s: np.ndarray, overhead_s) -> dict[str, np.ndarray]:
    """compute_s (MAC + vector time, serial), latency_s = max(compute, memory) + the
    kernel's fixed overhead_s, latency_overlap_s = max(MAC, vector, memory) + overhead_s,
    and which of compute and memory bounds the layer."""
    mac_s = times["mac_s"]
    compute_s = mac_s + times["seq_transform_s"] + times["feature_transform_s"] + times["requant_s"]
    # The other end of the range: a vector unit pipelined with the MAC array (as an NPU's
    # vector and tensor units can be) hides transform and quantization time behind MACs.
    vector_s = vector_time(times["seq_transform_s"], times["feature_transform_s"], times["requant_s"])
    return {
        "compute_s": compute_s,
        "memory_s": memory_s,
        "overhead_s": np.broadcast_to(overhead_s, np.shape(compute_s)).astype(np.float64),
        "latency_s": np.maximum(compute_s, memory_s) + overhead_s,
        "latency_overlap_s": np.maximum(np.maximum(mac_s, vector_s), memory_s) + overhead_s,
        "memory_bound": is_memory_bound(memory_s, compute_s),
    }


def price_arrays(tokens, k, n, decode, prec: dict, prof, t: ProfileTables) -> dict[str, np.ndarray]:
    """Cost of every row, keyed by COLUMNS. tokens, k, n : int64 arrays; decode : bool
    array; prec : per-row precision codes; prof : profile index per row, or one int for
    all rows (broadcast)."""
    r = row_geometry(tokens, k, n, decode, prec, prof, t)
    out = {"rows": r.rows, "high_rows": r.high, "avg_a_bits": np.where(r.a_int, r.avg_in_bits, np.nan),
           "mode_low": r.mode_lo, "mode_high": r.mode_hi}  # fmt: skip
    for term in (mac_energy, accumulator_energy, mac_time, seq_transform_cost, feature_transform_cost,
                 operand_bytes):  # fmt: skip
        out.update(term(r))
    out.update(dram_traffic(r, out))
    out.update(requant_cost(r, out["weight_reads"], out["mac_s"]))
    out.update(sram_traffic(r, out["dram_bytes"]))
    # A two-pass layer is two kernels, each with its fixed overhead.
    out.update(latency(out, memory_time(r, out["dram_bytes"]), r.t.overhead_s[r.prof] * np.where(r.two_pass, 2.0, 1.0)))
    out["energy_pj"] = sum(out[term] for term in ENERGY_TERMS)
    return {key: out[key] for key in COLUMNS}
