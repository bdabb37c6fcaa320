"""PrecisionConfig: what precision each part of a linear layer runs at, and its presets.

Configuration is data: frozen dataclasses, validated once in ``__post_init__``, round-
tripped through plain dicts / YAML (``yaml.safe_load``).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from stamp_sim.hw_models.yaml_io import key_text, load_yaml, short_repr
from stamp_sim.kernels import AccumulatorSpec
from stamp_sim.transforms import feature_transform_names, orthogonal_wavelets, sequence_transform_names

__all__ = [
    "Allocation",
    "DEFAULT_CALIB_WINDOWS",
    "DEFAULT_INT_LAYERS",
    "ConfigError",
    "MixedConfig",
    "ALL_PRESETS",
    "DEPLOYMENTS",
    "PRESETS",
    "PrecisionConfig",
    "RunConfig",
    "get_preset",
    "load_configs",
    "load_mixed",
]

WEIGHT_METHODS = ("gpfq", "gptq", "rtn")
#: Where a Hadamard feature transform's rotations run when priced (``rotation_placement``).
ROTATION_PLACEMENTS = ("every-linear", "folded")


class ConfigError(ValueError):
    """A precision config (or a file of them) is malformed; the message names the field."""


class Allocation(str, enum.Enum):
    """How rows of the (transformed) activation get their bit widths."""

    FIRST_K = "first-k"  # STaMP: the first k rows (lowest-frequency band) get high bits
    ENERGY = "energy"  # Theorem 1 optimal integer allocation under the same bit budget
    MAGNITUDE = "magnitude"  # the k highest-energy rows, any transform (the reviewers' baseline)


# What a config name may hold: it becomes a CSV cell, a Markdown table cell, HTML text, a
# matplotlib label (where "$" starts mathtext) and part of cache keys, so only plain text.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-=@:,()# ]{0,79}")
NAME_ALLOWED = "1..80 characters: letters, digits and _ . + - = @ : , ( ) # and spaces, not starting with a space or punctuation other than _"


def check_name(value) -> str | None:
    """Why `value` is not a usable config name, or None when it is (see NAME_PATTERN)."""
    if not isinstance(value, str):
        return f"allowed: text of {NAME_ALLOWED} (quote a name YAML would read as a number: '007')"
    if not NAME_PATTERN.fullmatch(value) or value != value.strip():
        return f"allowed: {NAME_ALLOWED}"
    return None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _int_range(lo: int, hi: int | None, optional: bool = False):
    text = (f"integers {lo}..{hi}" if hi is not None else f"integers >= {lo}")
    text = f"None or {text}" if optional else text

    def check(v):
        if (v is None and optional) or (_is_int(v) and v >= lo and (hi is None or v <= hi)):
            return None
        return f"{'is out of range' if _is_int(v) else 'is not an integer'}; allowed: {text}"
    return check


def _number_range(lo: float, hi: float, lo_open: bool = False, text: str = ""):
    def check(v):
        if _is_number(v) and (v > lo if lo_open else v >= lo) and v <= hi:
            return None
        kind = "is out of range" if _is_number(v) else "is not a finite number"
        return f"{kind}; allowed: {text or f'{lo:g}..{hi:g}'}"
    return check


def _choice(choices, verb: str = "is not allowed"):
    def check(v):
        if isinstance(v, enum.Enum):
            v = v.value
        return None if isinstance(v, str) and v in choices else f"{verb}; allowed: {', '.join(choices)}"
    return check


def _bool(v):
    return None if isinstance(v, bool) else "is not a boolean; allowed: true, false"


def _text(v):
    return None if isinstance(v, str) else "is not text; allowed: a string"


def _wavelet(v):
    if isinstance(v, str) and v in orthogonal_wavelets():
        return None
    return ("is not an orthogonal wavelet; allowed: a PyWavelets orthogonal wavelet such as haar, db2, db4, sym4, "
            "coif1 (stamp_sim.transforms.orthogonal_wavelets() lists all)")


def _name_field(v):
    problem = check_name(v)
    return None if problem is None else f"is invalid; {problem}"


def _allowed_bits(v):
    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(_is_int(b) and 2 <= b <= 16 for b in v)
    return None if ok else "is invalid; allowed: a non-empty list of integers 2..16"


def _baseline(v):
    return None if v is None or (isinstance(v, str) and v) else "is invalid; allowed: None or the name of another config"


def _accumulator(v):
    if v is None or isinstance(v, AccumulatorSpec):
        return None
    if isinstance(v, dict):
        try:
            AccumulatorSpec.from_dict(v)
        except (TypeError, ValueError) as exc:
            return f"is invalid ({' '.join(str(exc).split())[:120]}); allowed: None or an AccumulatorSpec mapping"
        return None
    return "is invalid; allowed: None or an AccumulatorSpec mapping (bits, mode, tile, outer_bits, outer_mode)"


def _field_checks() -> dict:
    """Field -> check(value) giving None or the problem; one entry per PrecisionConfig field."""
    bits = _int_range(2, 16)
    return {
        "name": _name_field, "description": _text, "w_bits": _int_range(2, 16, optional=True),
        "a_bits": _int_range(2, 16, optional=True), "a_high_bits": bits, "high_rows": _int_range(0, 1 << 31),
        "allocation": _choice(sorted(m.value for m in Allocation)), "allowed_bits": _allowed_bits,
        "seq_transform": _choice(sequence_transform_names(), "is not a transform"),
        "seq_levels": _int_range(1, 30), "wavelet": _wavelet,
        "feature_transform": _choice(feature_transform_names(), "is not a transform"),
        "smoothquant_alpha": _number_range(0.0, 1.0), "hadamard_seed": _int_range(0, 2**32 - 1),
        "rotation_placement": _choice(ROTATION_PLACEMENTS),
        "w_granularity": _choice(("per-channel", "per-group", "per-tensor")),
        "w_group_size": _int_range(1, 1 << 20, optional=True), "w_symmetric": _bool,
        "w_clip": _number_range(0.0, 1.0, lo_open=True, text="(0, 1]"),
        "a_granularity": _choice(("per-group", "per-tensor", "per-token")),
        "a_group_size": _int_range(1, 1 << 20, optional=True), "a_symmetric": _bool,
        "a_clip": _number_range(0.0, 1.0, lo_open=True, text="(0, 1]"),
        "weight_l1": _choice(("a2q", "a2q+", "none")), "weight_method": _choice(WEIGHT_METHODS),
        "gptq_damp": _number_range(0.0, 1.0), "gptq_act_order": _bool,
        "gptq_sink_weight": _number_range(1.0, 1e6, text="1..1e6 (1 = the reference GPTQ)"),
        "accumulator": _accumulator, "kv_bits": _int_range(2, 16, optional=True),
        "lm_head_bits": _int_range(2, 16, optional=True),
        "sink_tokens": _int_range(0, 1 << 31), "baseline": _baseline,
    }


@dataclass(frozen=True)
class PrecisionConfig:
    """One precision configuration of every quantized linear layer.

    w_bits, a_bits : int or None, weight / low activation width in bits (None = float).
    a_high_bits : int, width in bits of the rows that get more precision.
    high_rows : int, how many (transformed) rows get a_high_bits (k of first-k / magnitude;
        with ``energy`` allocation it sets the same average-bit budget).
    seq_transform : token-axis transform, a name of stamp_sim.transforms.sequence_transform_names()
        (identity, dwt, dwt2d, dct, wht, klt).
    feature_transform : feature-axis transform, a name of feature_transform_names(): none,
        hadamard (randomized, QuaRot style) or smoothquant.
    seq_levels, wavelet, hadamard_seed, smoothquant_alpha : the transforms' parameters; each
        transform takes those it declares (see transform_parameters).
    rotation_placement : where a hadamard feature transform's rotations run in the priced
        deployment. "folded" (QuaRot / SpinQuant): the residual-stream rotation (inputs of
        q/k/v, gate/up, lm_head) and the head-wise value/output rotation are folded into the
        weights offline and cost nothing at run time; only the rotation before down_proj
        (fc2) runs online, and the one on queries and keys when kv_bits is set.
        "every-linear": an online rotation before every linear layer. Pricing only: the
        simulation rotates every linear input either way (the same arithmetic).
    w_granularity : per-channel (one scale per output channel), per-group or per-tensor.
    accumulator : AccumulatorSpec of the integer path; None = exact.
    weight_l1 : "none", "a2q" or "a2q+": accumulator-aware L1 bound on integer weights.
    weight_method : "rtn" (round to nearest), "gptq" (OPTQ) or "gpfq" (greedy path following):
        how weights are quantized; gptq / gpfq with weight_l1 a2q / a2q+ is AXE.
    gptq_damp : damping of the Hessian, a share of its mean diagonal (gptq, gpfq).
    gptq_act_order : quantize columns by descending Hessian diagonal (gptq; groups stay static);
        on by default: with it GPTQ beats round to nearest at every grouping on SmolLM2-135M
        (benchmarks/gptq_defaults.py), as the reference implementations recommend.
    gptq_sink_weight : how many times each calibration window's first token (the attention
        sink) counts in the Hessian (gptq, gpfq); 1 is the reference algorithm.
    kv_bits : width in bits of the K / V cache (per token and head, after the rotary
        embedding; None = float). Its tokens get the activations' treatment: the config's
        sequence transform (STaMP's KV4.125) and first-k rows at a_high_bits.
    lm_head_bits : width in bits of the output projection's weights (per output channel,
        round to nearest, float activations; None = float, the default: deployments often
        keep it wider than the blocks, e.g. Genie's w4a16 models run it at 8 bits).
    sink_tokens : the first tokens (the attention sink) kept out of the sequence transform and
        quantized at a_high_bits, as a ViT's CLS token is; they count among the high_rows.
    baseline : name of the config this one is compared with at a matched budget (the
        report's comparisons read it); None = no comparison. Not inherited by ``extends``.
    """

    name: str = "custom"
    description: str = ""
    w_bits: int | None = None
    a_bits: int | None = None
    a_high_bits: int = 8
    high_rows: int = 0
    allocation: Allocation = Allocation.FIRST_K
    allowed_bits: tuple[int, ...] = (4, 8)
    seq_transform: str = "identity"
    seq_levels: int = 3
    wavelet: str = "haar"
    feature_transform: str = "none"
    smoothquant_alpha: float = 0.5
    hadamard_seed: int = 0
    rotation_placement: str = "folded"
    w_granularity: str = "per-channel"
    w_group_size: int | None = None
    w_symmetric: bool = True
    w_clip: float = 1.0
    a_granularity: str = "per-token"
    a_group_size: int | None = None
    a_symmetric: bool = True
    a_clip: float = 1.0
    weight_l1: str = "none"
    weight_method: str = "rtn"
    gptq_damp: float = 0.01
    gptq_act_order: bool = True
    gptq_sink_weight: float = 64.0
    accumulator: AccumulatorSpec | None = None
    kv_bits: int | None = None
    lm_head_bits: int | None = None
    sink_tokens: int = 0
    baseline: str | None = None

    def __post_init__(self) -> None:
        problems = [f"PrecisionConfig.{key}={short_repr(getattr(self, key))} {problem}"
                    for key, check in _field_checks().items() if (problem := check(getattr(self, key))) is not None]
        if not problems:
            problems = self._cross_field_problems()
        if problems:
            raise ConfigError("\n".join(problems))
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("allocation", Allocation(self.allocation))
        for key in ("seq_transform", "feature_transform"):
            value = getattr(self, key)
            set_(key, value.value if isinstance(value, enum.Enum) else value)
        set_("allowed_bits", tuple(sorted(set(self.allowed_bits))))
        if isinstance(self.accumulator, dict):
            set_("accumulator", AccumulatorSpec.from_dict(self.accumulator))

    def _cross_field_problems(self) -> list[str]:
        """Rules between fields, checked once every field has a valid type and range."""
        problems = []
        if self.baseline is not None and self.baseline == self.name:
            problems.append(f"PrecisionConfig.baseline={short_repr(self.baseline)} is invalid; allowed: None or the "
                            "name of another config")
        if self.sink_tokens > self.high_rows:
            problems.append(f"PrecisionConfig.sink_tokens={self.sink_tokens} is invalid; allowed: integers "
                            f"0..high_rows ({self.high_rows}): the sink is kept at a_high_bits")
        if self.sink_tokens and Allocation(self.allocation) is not Allocation.FIRST_K:
            problems.append(f"PrecisionConfig.sink_tokens={self.sink_tokens} needs allocation first-k (the sink "
                            f"rows come first), not {Allocation(self.allocation).value!r}")
        if self.rotation_placement != "folded" and getattr(self.feature_transform, "value",
                                                            self.feature_transform) != "hadamard":
            problems.append(f"PrecisionConfig.rotation_placement={short_repr(self.rotation_placement)} places a "
                            f"rotation, but feature_transform={short_repr(self.feature_transform)} has none; "
                            "allowed: feature_transform hadamard, or rotation_placement folded (the default)")
        for key in ("w_group_size", "a_group_size"):
            if getattr(self, key.replace("group_size", "granularity")) == "per-group" and getattr(self, key) is None:
                problems.append(f"PrecisionConfig.{key}=None is needed by per-group; allowed: integers >= 1")
        if self.weight_l1 != "none":
            acc = self.accumulator
            mode = (acc.mode.value if isinstance(acc, AccumulatorSpec) else acc.get("mode", "wrap")) if acc else None
            if acc is None or self.w_bits is None or self.a_bits is None:
                problems.append(f"PrecisionConfig.weight_l1={self.weight_l1!r} needs integer weights, activations "
                                "and an accumulator")
            elif mode == "exact":
                problems.append(f"PrecisionConfig.weight_l1={self.weight_l1!r} with an exact accumulator bounds "
                                "nothing; allowed: weight_l1 with a wrap or saturate accumulator")
        return problems

    # -- derived -----------------------------------------------------------------------
    @property
    def quantizes_activations(self) -> bool:
        return self.a_bits is not None

    @property
    def quantizes_weights(self) -> bool:
        return self.w_bits is not None

    @property
    def uses_sequence_transform(self) -> bool:
        return self.seq_transform != "identity"

    def transform_parameters(self) -> dict:
        """Every parameter this config offers its transforms, by the name the transforms take.

        ``stamp_sim.transforms.sequence_transform_from(cfg.seq_transform, ...)`` (and the
        feature one) pick the entries their dataclass declares: levels and wavelet for dwt,
        seed for hadamard, alpha for smoothquant, nothing for dct.
        """
        return {"levels": self.seq_levels, "wavelet": self.wavelet,
                "seed": self.hadamard_seed, "alpha": self.smoothquant_alpha}

    def high_row_count(self, rows: int) -> int:
        """Rows (of `rows`) that get a_high_bits under first-k / magnitude."""
        if self.a_bits is None or self.a_high_bits <= self.a_bits:
            return 0
        return min(self.high_rows, rows)

    @property
    def widest_activation_bits(self) -> int | None:
        """The widest activation width in bits any row gets: a_high_bits when rows get it."""
        if self.a_bits is None:
            return None
        return max(self.a_bits, self.a_high_bits) if self.high_rows > 0 else self.a_bits

    def kv_high_token_count(self, tokens: int) -> int:
        """Cache rows (of `tokens`) stored at a_high_bits: high_rows of them when a_high_bits
        is wider than kv_bits, else none."""
        if self.kv_bits is None or self.a_high_bits <= self.kv_bits:
            return 0
        return min(self.high_rows, tokens)

    def average_kv_bits(self, tokens: int) -> float | None:
        """Average K / V cache width in bits over `tokens` tokens (4.125 for 64 of 2048 at 8
        over 4); None when the cache stays float."""
        if self.kv_bits is None:
            return None
        if not tokens:
            return float(self.kv_bits)
        k = self.kv_high_token_count(tokens)
        return (k * self.a_high_bits + (tokens - k) * self.kv_bits) / tokens

    def average_activation_bits(self, rows: int) -> float:
        """Average activation width in bits over `rows` rows (e.g. 4.0625 for 64 of 4096 at 8)."""
        if self.a_bits is None:
            return 16.0
        k = self.high_row_count(rows)
        return (k * self.a_high_bits + (rows - k) * self.a_bits) / rows if rows else float(self.a_bits)

    def replace(self, **changes) -> "PrecisionConfig":
        return dataclasses.replace(self, **changes)

    def changes_from(self, other: "PrecisionConfig") -> str:
        """The fields that differ from `other`, e.g. 'seq_transform identity -> dwt'
        (name, description and baseline left out); '' when none do."""
        mine, theirs = self.to_dict(), other.to_dict()
        skip = ("name", "description", "baseline")

        def text(cfg, key):
            value = getattr(cfg, key)
            return value.describe() if isinstance(value, AccumulatorSpec) else (
                value.value if isinstance(value, enum.Enum) else value)

        return "; ".join(f"{k} {text(other, k)} -> {text(self, k)}"
                         for k in mine if k not in skip and mine[k] != theirs[k])

    # -- dict / YAML ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, AccumulatorSpec):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "PrecisionConfig":
        """Build from a plain dict; ``extends: PRESET`` starts from a preset.

        Every problem (unknown fields, each bad value) is one line of the ConfigError,
        each prefixed with `source`."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a config must be a mapping or a preset name, got {type(data).__name__}")
        data = dict(data)
        base, problems = {}, []
        if "extends" in data:
            try:
                base = get_preset(data.pop("extends")).to_dict()
                base.pop("baseline")  # a derived config is not matched to its preset's baseline
            except ConfigError as exc:
                problems.append(f"extends: {exc}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in data if k not in names]
        if unknown:
            shown = ", ".join(key_text(k) for k in unknown[:5])
            problems.append(f"unknown field(s) {shown}; allowed: {', '.join(sorted(names))}")
            data = {k: v for k, v in data.items() if k in names}
        merged = {**base, **data}
        if isinstance(merged.get("allowed_bits"), list):
            merged["allowed_bits"] = tuple(merged["allowed_bits"])
        try:
            cfg = cls(**merged)
        except ConfigError as exc:
            problems.extend(str(exc).splitlines())
        if problems:
            raise ConfigError("\n".join(f"{source}: {line}" for line in problems))
        return cfg


#: The STaMP presets keep the first token (the attention sink, a ViT's CLS row) out of the
#: transform at 8 bits: measured on SmolLM2-135M, the DWT of a sequence whose first row is
#: the sink spreads it over the approximation band, and STaMP then loses to its baseline
#: (QuaRot-style at 2048 tokens: 47.0 -> 51.1 perplexity); with the sink kept out it wins
#: (47.0 -> 42.3). PrecisionConfig's own default stays 0, the reference algorithm.


def _int_acc() -> AccumulatorSpec:
    # What integer NPUs and tensor cores accumulate into: a 32-bit register.
    return AccumulatorSpec(bits=32, mode="wrap")


_PRESET_LIST = [
    PrecisionConfig(name="fp", description="float reference (no quantization)"),
    PrecisionConfig(name="w8a8", description="INT8 weights per channel, INT8 activations per token",
                    w_bits=8, a_bits=8, accumulator=_int_acc()),
    PrecisionConfig(name="w4a8", description="INT4 weights per channel, INT8 activations per token",
                    w_bits=4, a_bits=8, accumulator=_int_acc()),
    # Weight-only, as phones (Qualcomm Genie's w4a16) and GPUs (AWQ / GPTQ kernels) run
    # LLMs today: integer weights, 16-bit activations; priced as each profile's
    # execution.weight_only says (a native wXa16 mode, or dequantize + fp16 MACs).
    PrecisionConfig(name="w8a16", description="weight-only: INT8 weights per channel, 16-bit (float) activations",
                    w_bits=8),
    # Groups of 32 (llama.cpp's Q4 block) divide every width SmolLM2 and the cards use (576 is not a multiple of 128).
    PrecisionConfig(name="w4a16",
                    description="weight-only: INT4 weights per group of 32, 16-bit (float) activations",
                    w_bits=4, w_granularity="per-group", w_group_size=32),
    PrecisionConfig(name="w4a4", description="INT4 weights and activations, per token, round to nearest",
                    w_bits=4, a_bits=4, accumulator=_int_acc()),
    PrecisionConfig(name="w4a4-first64", description="w4a4 with the first 64 tokens at 8 bits (matched budget)",
                    w_bits=4, a_bits=4, high_rows=64, accumulator=_int_acc()),
    PrecisionConfig(name="w4a4-stamp", description="STaMP: 3-level Haar DWT over tokens, first 64 rows at 8 bits",
                    w_bits=4, a_bits=4, high_rows=64, seq_transform="dwt", sink_tokens=1, accumulator=_int_acc(),
                    baseline="w4a4-first64"),
    PrecisionConfig(name="w4a4-hadamard",
                    description="randomized Hadamard feature rotation (QuaRot style), first 64 tokens at 8 bits",
                    w_bits=4, a_bits=4, high_rows=64, feature_transform="hadamard", accumulator=_int_acc()),
    PrecisionConfig(name="w4a4-hadamard-stamp", description="Hadamard rotation + STaMP (3-level Haar, 64 rows at 8 bits)",
                    w_bits=4, a_bits=4, high_rows=64, seq_transform="dwt", sink_tokens=1, feature_transform="hadamard",
                    accumulator=_int_acc(), baseline="w4a4-hadamard"),
    # The STaMP paper's LLM baselines quantize weights with GPTQ; these pairs are those
    # combinations, each twin at the same 64 high-precision rows (matched average bits).
    PrecisionConfig(name="w4a4-quarot",
                    description="QuaRot style: Hadamard rotation of every linear input, GPTQ weights (act order), "
                                "first 64 tokens at 8 bits",
                    w_bits=4, a_bits=4, high_rows=64, feature_transform="hadamard", weight_method="gptq",
                    gptq_act_order=True, accumulator=_int_acc()),
    PrecisionConfig(name="w4a4-quarot-stamp", description="QuaRot style + STaMP (3-level Haar, 64 rows at 8 bits)",
                    w_bits=4, a_bits=4, high_rows=64, seq_transform="dwt", sink_tokens=1, feature_transform="hadamard",
                    weight_method="gptq", gptq_act_order=True, accumulator=_int_acc(), baseline="w4a4-quarot"),
    PrecisionConfig(name="w4a4-sq-gptq",
                    description="SmoothQuant (alpha 0.5) + GPTQ weights (act order), first 64 tokens at 8 bits",
                    w_bits=4, a_bits=4, high_rows=64, feature_transform="smoothquant", weight_method="gptq",
                    gptq_act_order=True, accumulator=_int_acc()),
    PrecisionConfig(name="w4a4-sq-gptq-stamp", description="SmoothQuant + GPTQ + STaMP (3-level Haar, 64 rows at 8 bits)",
                    w_bits=4, a_bits=4, high_rows=64, seq_transform="dwt", sink_tokens=1, feature_transform="smoothquant",
                    weight_method="gptq", gptq_act_order=True, accumulator=_int_acc(), baseline="w4a4-sq-gptq"),
    PrecisionConfig(name="w4a4-stamp-acc16",
                    description="w4a4-stamp on a 16-bit saturating accumulator, tiles of 64, 32-bit outer",
                    w_bits=4, a_bits=4, high_rows=64, seq_transform="dwt", sink_tokens=1,
                    accumulator=AccumulatorSpec(bits=16, mode="saturate", tile=64, outer_bits=32),
                    baseline="w4a4-stamp"),
]
#: The presets of the default run (``stamp-sim run`` with no --configs).
PRESETS: dict[str, PrecisionConfig] = {c.name: c for c in _PRESET_LIST}

# Precisions as shipping runtimes run LLMs, for pricing a deployment (`stamp-sim cost`,
# `calibrate`, a configs file) beside the study presets above; not in the default run.
_DEPLOYMENT_LIST = [
    # Qualcomm Genie / AI Hub "w4a16": INT4 weights with LPBQ (per-block scales of 64
    # folded onto a per-channel 8-bit grid, AIMET's "low-power blockwise quantization"),
    # 16-bit activations, "w8a16 (few layers)": the output projection and the K / V cache at 8 bits.
    PrecisionConfig(name="genie-w4a16",
                    description="Qualcomm Genie / AI Hub w4a16: INT4 weights, LPBQ blocks of 64, 16-bit activations, "
                                "8-bit lm_head and K / V cache (AI Hub model cards; AIMET LPBQ)",
                    w_bits=4, w_granularity="per-group", w_group_size=64, lm_head_bits=8, kv_bits=8),
    # ExecuTorch's XNNPACK "8da4w" (torchao Int8DynActInt4WeightQuantizer): 8-bit dynamic,
    # asymmetric per-token activations, INT4 symmetric weights in groups of 32, the
    # classifier at 8 bits (executorch examples/models/llama export, -qmode 8da4w -G 32).
    PrecisionConfig(name="executorch-8da4w",
                    description="ExecuTorch XNNPACK 8da4w: INT8 dynamic asymmetric per-token activations, INT4 "
                                "weights per group of 32, 8-bit classifier (executorch llama export, "
                                "-qmode 8da4w -G 32)",
                    w_bits=4, w_granularity="per-group", w_group_size=32, a_bits=8, a_symmetric=False,
                    lm_head_bits=8, accumulator=_int_acc()),
    # llama.cpp Q4_0 on a CPU: weights in blocks of 32 with one scale each, activations
    # quantized to Q8_0 (blocks of 32, 8 bits) for the integer dot product (ggml-quants.c,
    # ggml_vec_dot_q4_0_q8_0); the quantize tool keeps output.weight at Q6_K (6 bits).
    PrecisionConfig(name="llamacpp-q4_0",
                    description="llama.cpp Q4_0: INT4 weights in blocks of 32, activations as Q8_0 (INT8 in blocks "
                                "of 32), 6-bit output projection (ggml-quants.c, llama-quantize's Q6_K output)",
                    w_bits=4, w_granularity="per-group", w_group_size=32, a_bits=8, a_granularity="per-group",
                    a_group_size=32, lm_head_bits=6, accumulator=_int_acc()),
]
DEPLOYMENTS: dict[str, PrecisionConfig] = {c.name: c for c in _DEPLOYMENT_LIST}
#: Every preset a name can refer to: the default run's and the deployments.
ALL_PRESETS: dict[str, PrecisionConfig] = {**PRESETS, **DEPLOYMENTS}


def get_preset(name: str) -> PrecisionConfig:
    """The named preset (a default-run preset or a deployment); unknown names raise
    ConfigError listing the allowed ones."""
    try:
        return ALL_PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"preset {short_repr(name)} is unknown; allowed: {', '.join(sorted(ALL_PRESETS))}") from None


def load_configs(path: str | Path) -> list:
    """Read a YAML list whose items are preset names, PrecisionConfig mappings or
    ``mixed:PATH`` (a MixedConfig file, relative to the list). ``path`` itself may be
    ``mixed:PATH`` for a single per-layer allocation. Every bad item is reported, one
    line per problem."""
    if str(path).startswith("mixed:"):
        return [load_mixed(str(path)[len("mixed:"):])]
    path = Path(path)
    data = load_yaml(path, what="configs file", error=ConfigError)
    if isinstance(data, dict) and "configs" in data:
        data = data["configs"]
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{path}: expected a non-empty list of preset names or config mappings")
    configs, problems = [], []
    for i, item in enumerate(data):
        try:
            configs.append(_config_item(item, path, f"{path}: item {i}"))
        except ConfigError as exc:
            problems.extend(str(exc).splitlines())
    if problems:
        raise ConfigError("\n".join(problems))
    names = [c.name for c in configs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{path}: config names must be unique; repeated: {dup}")
    return configs


def _config_item(item, path: Path, where: str):
    """One item of a configs list: ``mixed:PATH``, a preset name or a config mapping."""
    if isinstance(item, str) and item.startswith("mixed:"):
        target = Path(item[len("mixed:"):])
        return load_mixed(target if target.is_absolute() else (path.parent / target).resolve())
    if isinstance(item, str):
        try:
            return get_preset(item)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return PrecisionConfig.from_dict(item, source=where)


#: Layers the integer agreement check of a run samples by default (RunConfig.int_layers).
DEFAULT_INT_LAYERS = 21
#: Calibration windows of a run by default (RunConfig.calib_windows): 8 x 512 = 4,096 tokens,
#: 2.7x the widest in-features of SmolLM2-135M (1,536). A GPTQ Hessian from fewer tokens
#: than in-features is rank deficient: with the former default (2 windows, 1,024 tokens) GPTQ
#: was worse than round to nearest (benchmarks/gptq_defaults.py).
DEFAULT_CALIB_WINDOWS = 8


@dataclass(frozen=True)
class RunConfig:
    """What ``stamp-sim run`` does: one model, a list of precision configs, hardware profiles.

    tokens : tokens per evaluation window (text models).
    windows / calib_windows : evaluation and calibration windows (disjoint, chosen by seed);
        calibration feeds KLT / SmoothQuant statistics and the GPTQ / GPFQ Hessians.
    int_layers : how many layers (evenly spaced) the exact-accumulator agreement check runs;
        None: every layer the integer path supports. The default, DEFAULT_INT_LAYERS (21),
        spreads over every depth and, on a Llama-style model (7 linears a block), every
        role; the check compares two paths of the same arithmetic, so a sample finds a
        disagreement as a full pass would, at a tenth of its cost on SmolLM2-135M. It never
        limits the accuracy path, which runs every layer whose accumulator can overflow
        through the integer kernels.
    profiles : built-in profile names or YAML paths.
    model : a registered name, an architecture card or a path (``stamp_sim.models.resolve``).
    data / data_field : a .txt / .jsonl / .parquet file of evaluation and calibration text
        (None: the built-in Wikipedia sample) and the field holding the text.
    """

    model: str = "smollm2-135m"
    configs: tuple[PrecisionConfig, ...] = field(default_factory=lambda: tuple(PRESETS.values()))
    profiles: tuple[str, ...] = ("npu",)
    tokens: int = 512
    windows: int = 4
    calib_windows: int = DEFAULT_CALIB_WINDOWS
    seed: int = 0
    out: str = "reports"
    device: str = "cpu"
    int_layers: int | None = DEFAULT_INT_LAYERS
    data: str | None = None
    data_field: str = "text"

    # Upper ends keep every count (tokens x windows x vocabulary, seeds for numpy and torch)
    # inside int64 and the seeds' 32 bits; real limits (positions, memory) are checked by
    # the run against the model.
    LIMITS = {"tokens": (2, 1 << 20), "windows": (1, 100_000), "calib_windows": (0, 100_000),
              "seed": (0, 2**32 - 1), "int_layers": (0, 100_000)}

    def __post_init__(self) -> None:
        problems = []
        if self.data is not None and (not isinstance(self.data, str) or not self.data):
            problems.append(f"RunConfig.data={short_repr(self.data)} is invalid; allowed: None or a file path")
        if not isinstance(self.data_field, str) or not self.data_field:
            problems.append(f"RunConfig.data_field={short_repr(self.data_field)} is invalid; allowed: a field name")
        for key, (low, high) in self.LIMITS.items():
            value = getattr(self, key)
            if (key == "int_layers" and value is None) or (_is_int(value) and low <= value <= high):
                continue
            problems.append(f"RunConfig.{key}={short_repr(value)} is invalid; allowed: integers {low}..{high}")
        if not isinstance(self.model, str) or not self.model:
            problems.append(f"RunConfig.model={short_repr(self.model)} is invalid; allowed: a model name")
        if not isinstance(self.out, str) or not self.out:
            problems.append(f"RunConfig.out={short_repr(self.out)} is invalid; allowed: a folder path")
        if not self.configs or not all(isinstance(c, (PrecisionConfig, MixedConfig)) for c in self.configs):
            problems.append("RunConfig.configs is empty or holds other objects; allowed: at least one precision config")
        if not self.profiles or not all(isinstance(p, str) and p for p in self.profiles):
            problems.append(f"RunConfig.profiles={short_repr(self.profiles)} is invalid; allowed: at least one "
                            "hardware profile name or path")
        if self.device not in ("cpu", "cuda"):
            problems.append(f"RunConfig.device={short_repr(self.device)} is not allowed; allowed: cpu, cuda")
        if problems:
            raise ConfigError("\n".join(problems))
        names = [c.name for c in self.configs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"RunConfig.configs: names must be unique; repeated: {dup}")

    def to_dict(self) -> dict:
        """Plain dict (JSON/YAML-ready): what run.json records to reproduce or resume a run."""
        return {
            "model": self.model,
            "configs": [{"mixed": c.to_dict()} if isinstance(c, MixedConfig) else c.to_dict() for c in self.configs],
            "profiles": list(self.profiles),
            "tokens": self.tokens,
            "windows": self.windows,
            "calib_windows": self.calib_windows,
            "seed": self.seed,
            "out": self.out,
            "device": self.device,
            "int_layers": self.int_layers,
            "data": self.data,
            "data_field": self.data_field,
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "run.json") -> "RunConfig":
        """Inverse of to_dict; ConfigError naming `source` and each bad field."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: run: got {type(data).__name__}; allowed: a mapping of run options")
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = [key_text(k) for k in data if k not in allowed]
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown[:5])}; allowed: "
                              f"{', '.join(sorted(allowed))}")
        data = dict(data)
        if "configs" in data:
            items = data["configs"]
            if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
                raise ConfigError(f"{source}: run.configs: got {short_repr(items)}; allowed: a list of config mappings")
            data["configs"] = tuple(
                MixedConfig.from_dict(c["mixed"], source=f"{source}: configs[{i}]") if "mixed" in c
                else PrecisionConfig.from_dict(c, source=f"{source}: configs[{i}]")
                for i, c in enumerate(items)
            )
        if "profiles" in data:
            if not isinstance(data["profiles"], list):
                raise ConfigError(f"{source}: run.profiles: got {short_repr(data['profiles'])}; allowed: a list")
            data["profiles"] = tuple(data["profiles"])
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError("\n".join(f"{source}: {line}" for line in str(exc).splitlines())) from None


@dataclass(frozen=True)
class MixedConfig:
    """Per-layer precision: `layers` maps module names to configs; others get `default`.

    What ``stamp-sim sensitivity`` writes as an allocation and ``stamp-sim run --configs
    mixed:PATH`` reads. YAML form::

        name: kl-energy-0.60
        default: w8a8                 # a preset name or a PrecisionConfig mapping
        layers:
          model.layers.0.mlp.down_proj: w4a4-stamp
          model.layers.3.self_attn.q_proj: {extends: w4a4, a_bits: 6, name: w4a6}
    """

    name: str
    default: PrecisionConfig
    layers: tuple[tuple[str, PrecisionConfig], ...] = ()

    def __post_init__(self) -> None:
        problem = check_name(self.name)
        if problem is not None:
            raise ConfigError(f"MixedConfig.name={short_repr(self.name)} is invalid; {problem}")
        names = [n for n, _ in self.layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"MixedConfig {self.name!r}: layers repeated: {dup}")

    def config_for(self, layer: str) -> PrecisionConfig:
        """The PrecisionConfig of module `layer`."""
        return dict(self.layers).get(layer, self.default)

    def configs(self) -> list[PrecisionConfig]:
        """Distinct configs used, default first."""
        out = {self.default.name: self.default}
        for _, c in self.layers:
            out.setdefault(c.name, c)
        return list(out.values())

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "default": (self.default.name if ALL_PRESETS.get(self.default.name) == self.default
                        else self.default.to_dict()),
            "layers": {n: (c.name if ALL_PRESETS.get(c.name) == c else c.to_dict()) for n, c in self.layers},
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "mixed config") -> "MixedConfig":
        """Build from the YAML form above; every bad layer entry is one line of the error."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a mixed config must be a mapping with name, default, layers")
        unknown = [key_text(k) for k in data if k not in {"name", "default", "layers"}]
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown[:5])}; allowed: default, layers, name")
        layers = data.get("layers") or {}
        if not isinstance(layers, dict):
            raise ConfigError(f"{source}: layers: got {short_repr(layers)}; allowed: a mapping of module names to "
                              "configs")
        problems, built = [], []
        entries = [("default", data.get("default", "fp"))] + [(f"layers.{key_text(n, 200)}", v)
                                                              for n, v in layers.items()]
        for where, value in entries:
            try:
                built.append(get_preset(value) if isinstance(value, str) else
                             PrecisionConfig.from_dict(value, source=f"{source}: {where}"))
            except ConfigError as exc:
                problems.extend(line if line.startswith(source) else f"{source}: {where}: {line}"
                                for line in str(exc).splitlines())
        if problems:
            raise ConfigError("\n".join(problems))
        try:
            return cls(name=data.get("name", "mixed"), default=built[0],
                       layers=tuple((str(n), c) for n, c in zip(layers, built[1:])))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None


def load_mixed(path: str | Path) -> MixedConfig:
    """Read a MixedConfig YAML file (see MixedConfig)."""
    path = Path(path)
    data = load_yaml(path, what="mixed config", error=ConfigError)
    return MixedConfig.from_dict(data, source=str(path))
