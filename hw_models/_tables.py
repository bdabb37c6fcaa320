"""Profiles and precisions as small numpy tables, so pricing is fancy-indexing, not a loop."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .mac_array import DATAFLOW_CODES, FILL_CODES
from .precision import Granularity, LayerPrecision
from .profile import HardwareProfile, MixedRows, OperandMode, WeightOnly, WeightScales
from .transform_ops import FEATURE_CODES, SEQ_CODES

__all__ = ["GRAN_CODES", "MODES", "FP16", "SCALE_CODES", "ProfileTables", "encode_precisions", "natural_mode_table"]

MODES = tuple(OperandMode)
FP16 = MODES.index(OperandMode.FP16)
GRAN_CODES = {g: i for i, g in enumerate(Granularity)}
SCALE_CODES = {w: i for i, w in enumerate(WeightScales)}
MAX_BITS = 16
MAX_ACC_BITS = 64


@functools.lru_cache(maxsize=None)
def _mode_table(supported: tuple[OperandMode, ...], peak: tuple[float, ...]) -> np.ndarray:
    """lut[w, a] -> index into MODES; w or a = 0 means float.

    Integer operands run on the supported integer mode that holds both widths with the
    narrowest multiplier (smallest w_cap x a_cap; ties: higher peak); if none holds them,
    on fp16 (exact for integers up to 11 bits).
    """
    lut = np.full((MAX_BITS + 1, MAX_BITS + 1), FP16, dtype=np.int64)
    peak_of = dict(zip(supported, peak))
    ints = [m for m in supported if not m.is_float]
    for w in range(1, MAX_BITS + 1):
        for a in range(1, MAX_BITS + 1):
            fits = [m for m in ints if m.weight_bits >= w and m.act_bits >= a]
            if fits:
                best = min(fits, key=lambda m: (m.weight_bits * m.act_bits, -peak_of[m]))
                lut[w, a] = MODES.index(best)
    return lut


def natural_mode_table() -> np.ndarray:
    """The mode each (w, a) would use on a chip that supported every mode."""
    return _mode_table(MODES, (0.0,) * len(MODES))


@dataclass(frozen=True)
class ProfileTables:
    """Per-profile parameters as arrays indexed by profile position (P profiles)."""

    names: tuple[str, ...]
    rows: np.ndarray  # float64 like every other per-profile number: the formulas run in float64
    cols: np.ndarray
    count: np.ndarray
    dataflow: np.ndarray
    fill: np.ndarray  # FILL_CODES: 0 serial (SCALE-Sim), 1 overlapped tile loads
    clock_hz: np.ndarray
    sram_bytes: np.ndarray
    dram_bytes_per_s: np.ndarray  # achieved: peak x efficiency.dram
    vector_ops_per_s: np.ndarray  # achieved: peak x efficiency.vector
    packing: np.ndarray  # (P, modes), NaN where unsupported
    eff_large: np.ndarray  # (P, modes), achieved fraction of peak on large-M GEMMs (NaN where unsupported)
    eff_small: np.ndarray  # (P, modes), ... on GEMMs of at most small_m_rows rows
    small_m_rows: np.ndarray
    overhead_s: np.ndarray  # fixed seconds per kernel (efficiency.kernel_overhead_us)
    weight_only_native: np.ndarray  # bool: integer weights x float activations run in a wXa16 mode
    one_pass: np.ndarray  # bool: mixed-width rows share one pass over the weights
    weight_scales: np.ndarray  # SCALE_CODES: how group-wise weight scales are applied
    mult_pj: np.ndarray  # (P, modes), energy of one multiply in that mode
    mode_lut: np.ndarray  # (P, 17, 17)
    acc_lut: np.ndarray  # (P, 65): requested bits -> hardware accumulator bits
    widest_acc: np.ndarray
    int_add_32b_pj: np.ndarray
    fp32_add_pj: np.ndarray
    fp16_multiply_pj: np.ndarray
    sram_pj_per_byte: np.ndarray
    dram_pj_per_byte: np.ndarray
    vector_op_pj: np.ndarray

    @classmethod
    def build(cls, profiles: Sequence[HardwareProfile]) -> "ProfileTables":
        return _build_tables(tuple(profiles))

    @classmethod
    def _build(cls, profiles: tuple[HardwareProfile, ...]) -> "ProfileTables":
        P = len(profiles)
        packing = np.full((P, len(MODES)), np.nan)
        eff_large = np.full((P, len(MODES)), np.nan)
        eff_small = np.full((P, len(MODES)), np.nan)
        mult = np.full((P, len(MODES)), np.nan)
        mode_lut = np.empty((P, MAX_BITS + 1, MAX_BITS + 1), dtype=np.int64)
        acc_lut = np.empty((P, MAX_ACC_BITS + 1), dtype=np.int64)
        for i, prof in enumerate(profiles):
            for mode in prof.modes:
                j = MODES.index(mode)
                packing[i, j] = prof.packing(mode)
                eff_large[i, j] = prof.modes[mode].large_m_efficiency
                eff_small[i, j] = prof.modes[mode].small_m_efficiency
                mult[i, j] = (
                    prof.energy.fp16_multiply_pj
                    if mode.is_float
                    else prof.energy.int_multiply_pj(mode.weight_bits, mode.act_bits)
                )
            mode_lut[i] = _mode_table(tuple(prof.modes), tuple(s.peak_tops for s in prof.modes.values()))
            widths = np.asarray(prof.accumulator.widths_bits)
            for b in range(MAX_ACC_BITS + 1):
                wider = widths[widths >= b]
                # Wider than any register: emulated, priced at the requested width.
                acc_lut[i, b] = wider[0] if wider.size else b

        def arr(get):
            return np.array([float(get(p)) for p in profiles])

        return cls(
            names=tuple(p.name for p in profiles),
            rows=arr(lambda p: p.mac_array.rows),
            cols=arr(lambda p: p.mac_array.cols),
            count=arr(lambda p: p.mac_array.count),
            dataflow=np.array([DATAFLOW_CODES[p.mac_array.dataflow] for p in profiles], dtype=np.int64),
            fill=np.array([FILL_CODES[p.mac_array.fill] for p in profiles], dtype=np.int64),
            clock_hz=arr(lambda p: p.clock_hz),
            sram_bytes=arr(lambda p: p.memory.sram_bytes),
            dram_bytes_per_s=arr(lambda p: p.dram_bytes_per_s),
            vector_ops_per_s=arr(lambda p: p.vector_ops_per_s),
            packing=packing,
            eff_large=eff_large,
            eff_small=eff_small,
            small_m_rows=arr(lambda p: p.efficiency.small_m_rows),
            overhead_s=arr(lambda p: p.efficiency.kernel_overhead_us * 1e-6),
            weight_only_native=np.array([p.execution.weight_only is WeightOnly.NATIVE for p in profiles]),
            one_pass=np.array([p.execution.mixed_rows is MixedRows.ONE_PASS for p in profiles]),
            weight_scales=np.array([SCALE_CODES[p.execution.weight_scales] for p in profiles], dtype=np.int64),
            mult_pj=mult,
            mode_lut=mode_lut,
            acc_lut=acc_lut,
            widest_acc=arr(lambda p: p.accumulator.widths_bits[-1]).astype(np.int64),
            int_add_32b_pj=arr(lambda p: p.energy.int_add_32b_pj),
            fp32_add_pj=arr(lambda p: p.energy.fp32_add_pj),
            fp16_multiply_pj=arr(lambda p: p.energy.fp16_multiply_pj),
            sram_pj_per_byte=arr(lambda p: p.energy.sram_pj_per_byte),
            dram_pj_per_byte=arr(lambda p: p.energy.dram_pj_per_byte),
            vector_op_pj=arr(lambda p: p.energy.vector_op_pj),
        )


@functools.lru_cache(maxsize=64)
def _build_tables(profiles: tuple[HardwareProfile, ...]) -> ProfileTables:
    # Profiles are frozen, so the tables of a given tuple never change: build them once
    # and make the arrays read-only, since every caller shares them.
    tables = ProfileTables._build(profiles)
    for value in vars(tables).values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return tables


def encode_precisions(precisions: Sequence[LayerPrecision]) -> dict[str, np.ndarray]:
    """One int64 array per field, one entry per precision; None -> 0 (float / none)."""

    def col(get):
        return np.array([get(p) for p in precisions], dtype=np.int64)

    return {
        "w": col(lambda p: p.w_bits or 0),
        "a": col(lambda p: p.a_bits or 0),
        "ah": col(lambda p: p.effective_high_bits or 0),
        "high_rows": col(lambda p: p.high_rows),
        "acc": col(lambda p: p.acc_bits),
        "tile": col(lambda p: p.acc_tile or 0),
        "outer": col(lambda p: p.acc_outer_bits or 0),
        "seq": col(lambda p: SEQ_CODES[p.seq_transform]),
        "levels": col(lambda p: p.seq_levels),
        "filt": col(lambda p: p.seq_filter_length),
        "prefix": col(lambda p: p.seq_prefix_rows),
        "feat": col(lambda p: FEATURE_CODES[p.feature_transform]),
        "wg": col(lambda p: GRAN_CODES[p.w_granularity]),
        "wgs": col(lambda p: p.w_group_size or 1),
        "ag": col(lambda p: GRAN_CODES[p.a_granularity]),
        "ags": col(lambda p: p.a_group_size or 1),
        "wzp": col(lambda p: int(p.w_zero_points)),
        "azp": col(lambda p: int(p.a_zero_points)),
        "scale_bits": col(lambda p: p.scale_bits),
    }
