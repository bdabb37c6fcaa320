"""HardwareProfile: the typed, frozen description of one chip that the cost model prices on.

Profiles are built from YAML by ``hw_models._loader`` (load, validate, build); this
module only holds the types. Units are in the field names: ``_mhz`` megahertz,
``_tops`` tera-operations per second (one MAC = 2 ops), ``_kib`` kibibytes (1024 bytes),
``_gbps`` gigabytes per second (1e9 bytes/s), ``_pj`` picojoules, ``_gops`` giga
element-operations per second.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from .units import BYTES_PER_GB, BYTES_PER_KIB, HZ_PER_MHZ, OPS_PER_GOPS, OPS_PER_TOPS

__all__ = [
    "AccBehaviour",
    "AccumulatorUnit",
    "Dataflow",
    "Efficiency",
    "EnergyTable",
    "Execution",
    "Fill",
    "HardwareProfile",
    "MixedRows",
    "MacArray",
    "MemorySystem",
    "ModeSpec",
    "OperandMode",
    "ProfileError",
    "VectorUnit",
    "WeightOnly",
    "WeightScales",
]


class ProfileError(ValueError):
    """A hardware profile is missing, unknown or malformed.

    The message names the file, every offending field with the value found and what
    is allowed (all problems of one file in one error).
    """


class Dataflow(str, enum.Enum):
    """Which operand stays in the MAC array while the others stream (SCALE-Sim's names)."""

    WS = "ws"  # weight-stationary
    OS = "os"  # output-stationary
    IS = "is"  # input-stationary


class Fill(str, enum.Enum):
    """Whether the array loads the next stationary tile while the current one computes.

    SERIAL: every fold pays its tile load, fill and drain before the next fold starts
    (SCALE-Sim's count). OVERLAP: the stationary operand is double-buffered, so the next
    tile loads behind the current fold's stream and fill/drain is paid once per GEMM
    (hw_models.mac_array states both formulas).
    """

    SERIAL = "serial"
    OVERLAP = "overlap"


class AccBehaviour(str, enum.Enum):
    """What the hardware accumulator does on overflow (same names as kernels.AccMode)."""

    WRAP = "wrap"
    SATURATE = "saturate"


class OperandMode(str, enum.Enum):
    """A MAC operand mode: widths the multiplier takes for weights and activations.

    ``weight_bits``/``act_bits`` are the widest integer operands the mode accepts;
    ``is_float`` modes take any float16-representable operand.
    """

    INT4 = "int4"
    W4A8 = "w4a8"
    INT8 = "int8"
    W4A16 = "w4a16"
    W8A16 = "w8a16"
    INT16 = "int16"
    FP16 = "fp16"

    @property
    def weight_bits(self) -> int:
        return _MODE_BITS[self][0]

    @property
    def act_bits(self) -> int:
        return _MODE_BITS[self][1]

    @property
    def is_float(self) -> bool:
        return self is OperandMode.FP16


# (weight bits, activation bits) of each mode's multiplier inputs.
_MODE_BITS = {
    OperandMode.INT4: (4, 4),
    OperandMode.W4A8: (4, 8),
    OperandMode.INT8: (8, 8),
    OperandMode.W4A16: (4, 16),
    OperandMode.W8A16: (8, 16),
    OperandMode.INT16: (16, 16),
    OperandMode.FP16: (16, 16),
}


@dataclass(frozen=True)
class MacArray:
    """The systolic MAC array(s).

    rows, cols : int, processing elements per array (SCALE-Sim's R x C).
    count : int, identical arrays working in parallel on independent folds.
    dataflow : Dataflow.
    fill : Fill, serial (SCALE-Sim) or overlapped (double-buffered) tile loads.
    """

    rows: int
    cols: int
    count: int
    dataflow: Dataflow
    fill: Fill = Fill.OVERLAP

    @property
    def macs_per_cycle(self) -> int:
        """MACs per clock cycle over all arrays at one MAC per PE per cycle."""
        return self.rows * self.cols * self.count


class WeightOnly(str, enum.Enum):
    """How the chip runs integer weights with float (16-bit) activations, e.g. w4a16.

    NATIVE: in a wXa16 operand mode, activations quantized to int16 on the fly (Hexagon's
    a16 modes). DEQUANTIZE: the vector unit expands each weight read to fp16 and the MACs
    run in fp16 (a GPU's weight-only kernels).
    """

    NATIVE = "native"
    DEQUANTIZE = "dequantize"


class MixedRows(str, enum.Enum):
    """How rows at two activation widths (STaMP's 8-bit and 4-bit rows) are executed.

    TWO_PASS: two GEMMs in two modes; weights that do not fit SRAM stream from DRAM once
    per pass. ONE_PASS (the default): the array switches mode per row tile in one pass
    over the weights.
    """

    TWO_PASS = "two-pass"
    ONE_PASS = "one-pass"


class WeightScales(str, enum.Enum):
    """How the runtime applies group-wise (per-group along K) weight scales of a layer whose
    activations are integers too (w4a8 g128, w4a16 in a native a16 mode).

    FOLDED: the block scales are folded offline onto a per-channel grid (Qualcomm's LPBQ:
    integer block multipliers of one per-channel scale), so the output is rescaled once per
    output, as per-channel weights are. PER_TILE: each weight tile is dequantized once when
    it is loaded (Marlin / Machete style, in registers), 2 vector ops per weight per read,
    overlapped with the MACs where the array double-buffers; the output is rescaled once.
    PER_PARTIAL_SUM: the partial sum of every K-group of every output row is rescaled on
    the vector unit (rows x N x 2 x K/group ops) in series with the MACs.
    """

    FOLDED = "folded"
    PER_TILE = "per-tile"
    PER_PARTIAL_SUM = "per-partial-sum"


@dataclass(frozen=True)
class ModeSpec:
    """One supported operand mode.

    peak_tops : float, dense tera-ops/s (1 MAC = 2 ops).
    large_m_efficiency, small_m_efficiency : achieved fraction of peak (0..1] on GEMMs
        with more / at most ``Efficiency.small_m_rows`` rows (1.0 = pure roofline).
    """

    peak_tops: float
    large_m_efficiency: float = 1.0
    small_m_efficiency: float = 1.0

    def efficiency(self, rows: int, small_m_rows: int) -> float:
        """Achieved fraction of peak for a GEMM of `rows` rows."""
        return self.small_m_efficiency if rows <= small_m_rows else self.large_m_efficiency


@dataclass(frozen=True)
class Efficiency:
    """Achieved fractions of the roofline (1.0 each = a pure roofline).

    dram : fraction of ``memory.dram_gbps`` sustained by streaming kernels.
    vector : fraction of ``vector.gops`` sustained by element-wise kernels.
    small_m_rows : int, GEMMs with at most this many rows (decode) use each mode's
        small_m_efficiency.
    kernel_overhead_us : fixed microseconds every kernel (one layer's GEMM, one attention
        product) adds to its latency: launch and tail, what makes small GEMMs slow.
    call_overhead_us : fixed microseconds one forward call (a prefill, a decode step) adds:
        the runtime's dispatch and host-accelerator handshake, sampling.
    """

    dram: float = 1.0
    vector: float = 1.0
    small_m_rows: int = 16
    kernel_overhead_us: float = 0.0
    call_overhead_us: float = 0.0


@dataclass(frozen=True)
class Execution:
    """How the chip executes what its modes alone do not say (see WeightOnly, MixedRows,
    WeightScales)."""

    weight_only: WeightOnly = WeightOnly.DEQUANTIZE
    mixed_rows: MixedRows = MixedRows.ONE_PASS
    weight_scales: WeightScales = WeightScales.PER_PARTIAL_SUM


@dataclass(frozen=True)
class AccumulatorUnit:
    """Hardware accumulators. widths_bits : ascending widths in bits; behaviour on overflow."""

    widths_bits: tuple[int, ...]
    behaviour: AccBehaviour


@dataclass(frozen=True)
class MemorySystem:
    """sram_kib : on-chip SRAM in KiB; dram_gbps : DRAM bandwidth in 1e9 bytes/s."""

    sram_kib: float
    dram_gbps: float

    @property
    def sram_bytes(self) -> float:
        return self.sram_kib * BYTES_PER_KIB


@dataclass(frozen=True)
class VectorUnit:
    """The unit that runs transforms and (re)quantization. gops : 1e9 element-ops/s."""

    gops: float


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action in pJ.

    int_multiply_8x8_pj : one 8-bit x 8-bit integer multiply; an a x b multiply costs
        this x a*b/64 (array multipliers grow with width_a x width_b).
    int_add_32b_pj : one 32-bit integer accumulate; a P-bit one costs this x P/32.
    fp16_multiply_pj : one float16 multiply.
    fp32_add_pj : one float32 accumulate (float16 MACs accumulate in float32).
    sram_pj_per_byte, dram_pj_per_byte : one byte read or written.
    vector_op_pj : one element-wise op (add, scale, round) on the vector unit.
    """

    int_multiply_8x8_pj: float
    int_add_32b_pj: float
    fp16_multiply_pj: float
    fp32_add_pj: float
    sram_pj_per_byte: float
    dram_pj_per_byte: float
    vector_op_pj: float

    def int_multiply_pj(self, weight_bits: float, act_bits: float) -> float:
        """Energy in pJ of one weight_bits x act_bits integer multiply."""
        return self.int_multiply_8x8_pj * weight_bits * act_bits / 64.0

    def int_accumulate_pj(self, acc_bits: float) -> float:
        """Energy in pJ of one add into an acc_bits-wide integer accumulator."""
        return self.int_add_32b_pj * acc_bits / 32.0


@dataclass(frozen=True)
class HardwareProfile:
    """One chip: the numbers the cost model needs, each with where it came from.

    name : str, built-in name or the file's ``name``.
    path : str, the YAML file it was read from (the last one of an ``extends`` chain).
    sources : mapping from a dotted field path (``memory.dram_gbps``,
        ``modes.int8.peak_tops``) to where the number comes from.
    """

    name: str
    description: str
    path: str
    clock_mhz: float
    mac_array: MacArray
    modes: Mapping[OperandMode, ModeSpec]
    accumulator: AccumulatorUnit
    memory: MemorySystem
    vector: VectorUnit
    energy: EnergyTable
    sources: Mapping[str, str]
    efficiency: Efficiency = Efficiency()
    execution: Execution = Execution()

    def __post_init__(self) -> None:
        # Read-only views so a frozen profile cannot be changed through its mappings.
        object.__setattr__(self, "modes", MappingProxyType(dict(self.modes)))
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    def __hash__(self) -> int:
        return hash((self.name, self.path))

    @property
    def dram_bytes_per_s(self) -> float:
        """Achieved DRAM bandwidth in bytes/s: dram_gbps x efficiency.dram."""
        return self.memory.dram_gbps * BYTES_PER_GB * self.efficiency.dram

    @property
    def vector_ops_per_s(self) -> float:
        """Achieved vector-unit element-ops/s: gops x efficiency.vector."""
        return self.vector.gops * OPS_PER_GOPS * self.efficiency.vector

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * HZ_PER_MHZ

    def packing(self, mode: OperandMode) -> float:
        """MACs per PE per cycle in `mode`: peak / (2 x rows x cols x count x clock).

        The array geometry fixes 1 MAC per PE per cycle; a mode's peak says how many
        operand pairs it packs per PE (2 for INT4 on an INT8 array, 0.5 for FP16).
        """
        base_tops = 2.0 * self.mac_array.macs_per_cycle * self.clock_hz / OPS_PER_TOPS
        return self.modes[mode].peak_tops / base_tops

    def source(self, field: str) -> str:
        """Where the number at dotted path `field` comes from."""
        try:
            return self.sources[field]
        except KeyError:
            raise KeyError(f"profile {self.name!r} has no field {field!r}; fields: {sorted(self.sources)}") from None

    def headline(self) -> dict[str, object]:
        """A few numbers to list profiles by (TOPS per mode, DRAM GB/s, SRAM KiB)."""
        out: dict[str, object] = {"name": self.name}
        for mode in OperandMode:
            if mode in self.modes:
                out[f"{mode.value}_tops"] = self.modes[mode].peak_tops
        out["dram_gbps"] = self.memory.dram_gbps
        out["sram_kib"] = self.memory.sram_kib
        out["array"] = f"{self.mac_array.count}x{self.mac_array.rows}x{self.mac_array.cols} {self.mac_array.dataflow.value}"
        return out
