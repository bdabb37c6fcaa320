"""LayerPrecision: the precision of one linear layer as plain fields (no stamp_sim types).

The toolkit's PrecisionConfig maps onto this in ``stamp_sim.pricing``; the cost model
only needs widths, row counts, granularities and which transforms run.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

__all__ = ["FeatureTransformKind", "Granularity", "LayerPrecision", "Phase", "SeqTransform"]


class SeqTransform(str, enum.Enum):
    """Token-axis (STaMP) transform; priced with its real op count."""

    IDENTITY = "identity"
    DWT = "dwt"  # 1D over tokens, pads to a multiple of 2^(levels that run), Haar's op count
    DWT2D = "dwt2d"  # Haar over a square token grid, each side padded to a multiple of 2^levels
    DCT = "dct"  # DCT-II through an FFT, no padding
    WHT = "wht"  # Walsh-Hadamard, pads to a power of two
    KLT = "klt"  # dense s x s matrix, runs on the MAC array in fp16


class FeatureTransformKind(str, enum.Enum):
    """Which feature-axis transform runs (its kind only: the cost model needs no parameters)."""

    NONE = "none"
    HADAMARD = "hadamard"  # online rotation of each token's features
    SMOOTHQUANT = "smoothquant"  # folded into the weights offline: no runtime cost
    # A rotation folded into the weights offline (QuaRot / SpinQuant's residual-stream and
    # value/output rotations): the layer reads rotated inputs at no runtime cost.
    HADAMARD_FOLDED = "hadamard-folded"


class Granularity(str, enum.Enum):
    """What one quantization scale covers.

    "Channel" in hw_models always means an output channel (one of the N out-features):
    per-channel weights have N scales, one per column of the K x N weight. Scales along
    the in-features K are per-group (ceil(K / group_size) per output channel or row).
    """

    PER_TENSOR = "per-tensor"
    PER_CHANNEL = "per-channel"  # weights: one scale per output channel
    PER_TOKEN = "per-token"  # activations: one scale per (transformed) row
    PER_GROUP = "per-group"  # one scale per `group_size` consecutive in-features


class Phase(str, enum.Enum):
    PREFILL = "prefill"  # all `tokens` rows at once; STaMP applies
    DECODE = "decode"  # one token; no sequence transform (s = 1)


_W_GRANULARITIES = (Granularity.PER_CHANNEL, Granularity.PER_GROUP, Granularity.PER_TENSOR)
_A_GRANULARITIES = (Granularity.PER_GROUP, Granularity.PER_TENSOR, Granularity.PER_TOKEN)


def _coerce(cls, value, name, allowed=None):
    allowed = tuple(allowed or cls)
    try:
        member = cls(value)
    except ValueError:
        member = None
    if member not in allowed:
        names = ", ".join(sorted(m.value for m in allowed))
        raise ValueError(f"LayerPrecision.{name}={value!r} is not allowed; allowed: {names}")
    return member


def _int_field(value, name, lo, hi=None, optional=False):
    if value is None and optional:
        return
    bad = isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi)
    if bad:
        rng = f"integers {lo}..{hi}" if hi is not None else f"integers >= {lo}"
        raise ValueError(f"LayerPrecision.{name}={value!r} is out of range; allowed: {'None or ' if optional else ''}{rng}")


@dataclass(frozen=True)
class LayerPrecision:
    """Precision of one GEMM-shaped layer (s tokens x K in-features -> N out-features).

    w_bits : int or None, weight width in bits (None = float16 weights).
    a_bits : int or None, width in bits of the low-precision activation rows (None = float16).
    a_high_bits : int or None, width in bits of the `high_rows` high-precision rows
        (None = a_bits, i.e. no mixed precision).
    high_rows : int, rows (after the sequence transform) kept at a_high_bits.
    acc_bits : int, inner accumulator width in bits the integer MACs need.
    acc_tile : int or None, K-tile of a two-stage accumulator (None = one stage).
    acc_outer_bits : int or None, outer accumulator width in bits (tile only; None = the
        widest hardware accumulator).
    seq_transform, seq_levels : token-axis transform and its levels (dwt / dwt2d).
    seq_filter_length : int, the wavelet's decomposition filter length (PyWavelets'
        dec_len; 2 = Haar, 4 = db2): a dwt runs at most dwt_max_level(tokens, this)
        levels (hw_models.effective_levels), which sets its padding.
    seq_prefix_rows : int, leading rows kept out of the sequence transform (an attention
        sink; hw_models.padded_rows' prefix), still counted among the high rows.
    feature_transform : none, hadamard (rotated online, on the vector unit), smoothquant or
        hadamard-folded (a rotation folded into the weights offline: free at run time).
    w_granularity, w_group_size : per-channel (one scale per output channel), per-group
        (with group size, along K) or per-tensor.
    a_granularity, a_group_size : per-token, per-group (with group size) or per-tensor.
    w_zero_points, a_zero_points : bool, asymmetric quantization (a zero point per scale).
    scale_bits : int, width in bits of each stored scale (16 = float16).
    """

    w_bits: int | None = None
    a_bits: int | None = None
    a_high_bits: int | None = None
    high_rows: int = 0
    acc_bits: int = 32
    acc_tile: int | None = None
    acc_outer_bits: int | None = None
    seq_transform: SeqTransform = SeqTransform.IDENTITY
    seq_levels: int = 3
    seq_filter_length: int = 2
    seq_prefix_rows: int = 0
    feature_transform: FeatureTransformKind = FeatureTransformKind.NONE
    w_granularity: Granularity = Granularity.PER_CHANNEL
    w_group_size: int | None = None
    a_granularity: Granularity = Granularity.PER_TOKEN
    a_group_size: int | None = None
    w_zero_points: bool = False
    a_zero_points: bool = False
    scale_bits: int = 16

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        _int_field(self.w_bits, "w_bits", 1, 16, optional=True)
        _int_field(self.a_bits, "a_bits", 1, 16, optional=True)
        _int_field(self.a_high_bits, "a_high_bits", 1, 16, optional=True)
        _int_field(self.high_rows, "high_rows", 0)
        _int_field(self.acc_bits, "acc_bits", 2, 64)
        _int_field(self.acc_tile, "acc_tile", 1, optional=True)
        _int_field(self.acc_outer_bits, "acc_outer_bits", 2, 64, optional=True)
        _int_field(self.seq_levels, "seq_levels", 1, 16)
        _int_field(self.seq_filter_length, "seq_filter_length", 2)
        _int_field(self.seq_prefix_rows, "seq_prefix_rows", 0, 1 << 20)
        _int_field(self.w_group_size, "w_group_size", 1, optional=True)
        _int_field(self.a_group_size, "a_group_size", 1, optional=True)
        _int_field(self.scale_bits, "scale_bits", 1, 64)
        set_("seq_transform", _coerce(SeqTransform, self.seq_transform, "seq_transform"))
        set_("feature_transform", _coerce(FeatureTransformKind, self.feature_transform, "feature_transform"))
        set_("w_granularity", _coerce(Granularity, self.w_granularity, "w_granularity", _W_GRANULARITIES))
        set_("a_granularity", _coerce(Granularity, self.a_granularity, "a_granularity", _A_GRANULARITIES))
        for side in ("w", "a"):
            gran, size = getattr(self, f"{side}_granularity"), getattr(self, f"{side}_group_size")
            if gran is Granularity.PER_GROUP and size is None:
                raise ValueError(f"LayerPrecision.{side}_group_size=None with per-group; allowed: an integer >= 1")
        if self.acc_outer_bits is not None and self.acc_tile is None:
            raise ValueError(
                f"LayerPrecision.acc_outer_bits={self.acc_outer_bits!r} without acc_tile; allowed: only with acc_tile"
            )
        for name in ("w_zero_points", "a_zero_points"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"LayerPrecision.{name}={getattr(self, name)!r}; allowed: True, False")

    @property
    def effective_high_bits(self) -> int | None:
        return self.a_bits if self.a_high_bits is None else self.a_high_bits

    def replace(self, **changes) -> "LayerPrecision":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain fields (enums as their string values, None kept)."""
        return {
            f.name: (getattr(self, f.name).value if isinstance(getattr(self, f.name), enum.Enum) else getattr(self, f.name))
            for f in dataclasses.fields(self)
        }
