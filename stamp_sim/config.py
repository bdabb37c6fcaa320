"""PrecisionConfig: what precision each part of a linear layer runs at, and its presets.

Configuration is data: frozen dataclasses, validated once in ``__post_init__``, round-
tripped through plain dicts / YAML (``yaml.safe_load``).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kernels import AccumulatorSpec
from stamp_sim.transforms import feature_transform_names, sequence_transform_names

__all__ = [
    "Allocation",
    "ConfigError",
    "MixedConfig",
    "PRESETS",
    "PrecisionConfig",
    "RunConfig",
    "get_preset",
    "load_configs",
    "load_mixed",
]

WEIGHT_METHODS = ("gpfq", "gptq", "rtn")


class ConfigError(ValueError):
    """A precision config (or a file of them) is malformed; the message names the field."""


class Allocation(str, enum.Enum):
    """How rows of the (transformed) activation get their bit widths."""

    FIRST_K = "first-k"  # STaMP: the first k rows (lowest-frequency band) get high bits
    ENERGY = "energy"  # Theorem 1 optimal integer allocation under the same bit budget
    MAGNITUDE = "magnitude"  # the k highest-energy rows, any transform (the reviewers' baseline)


def _enum(cls, value, name):
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(sorted(m.value for m in cls))
        raise ConfigError(f"PrecisionConfig.{name}={value!r} is not allowed; allowed: {allowed}") from None


def _transform_name(value, name, allowed: tuple[str, ...]) -> str:
    """A registered transform name (the transforms registry is the one list of them)."""
    if isinstance(value, enum.Enum):  # e.g. hw_models' str enums
        value = value.value
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"PrecisionConfig.{name}={value!r} is not a transform; allowed: {', '.join(allowed)}")
    return value


def _bits(value, name, optional):
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 16:
        allowed = "None or integers 2..16" if optional else "integers 2..16"
        raise ConfigError(f"PrecisionConfig.{name}={value!r} is out of range; allowed: {allowed}")


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
    w_granularity : per-channel (one scale per output channel), per-group or per-tensor.
    accumulator : AccumulatorSpec of the integer path; None = exact.
    weight_l1 : "none", "a2q" or "a2q+": accumulator-aware L1 bound on integer weights.
    weight_method : "rtn" (round to nearest), "gptq" (OPTQ) or "gpfq" (greedy path following):
        how weights are quantized; gptq / gpfq with weight_l1 a2q / a2q+ is AXE.
    gptq_damp : damping of the Hessian, a share of its mean diagonal (gptq, gpfq).
    gptq_act_order : quantize columns by descending Hessian diagonal (gptq; groups stay static).
    gptq_sink_weight : how many times each calibration window's first token (the attention
        sink) counts in the Hessian (gptq, gpfq); 1 is the reference algorithm.
    kv_bits : width in bits of the K / V cache (per token and head, after the rotary
        embedding; None = float). Its tokens get the activations' treatment: the config's
        sequence transform (STaMP's KV4.125) and first-k rows at a_high_bits.
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
    gptq_act_order: bool = False
    gptq_sink_weight: float = 64.0
    accumulator: AccumulatorSpec | None = None
    kv_bits: int | None = None
    sink_tokens: int = 0
    baseline: str | None = None

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"PrecisionConfig.name={self.name!r} is invalid; allowed: a non-empty string")
        if self.baseline is not None and (not isinstance(self.baseline, str) or not self.baseline
                                          or self.baseline == self.name):
            raise ConfigError(f"PrecisionConfig.baseline={self.baseline!r} is invalid; allowed: None or the "
                              "name of another config")
        _bits(self.w_bits, "w_bits", optional=True)
        _bits(self.a_bits, "a_bits", optional=True)
        _bits(self.a_high_bits, "a_high_bits", optional=False)
        _bits(self.kv_bits, "kv_bits", optional=True)
        if isinstance(self.high_rows, bool) or not isinstance(self.high_rows, int) or self.high_rows < 0:
            raise ConfigError(f"PrecisionConfig.high_rows={self.high_rows!r} is invalid; allowed: integers >= 0")
        if isinstance(self.sink_tokens, bool) or not isinstance(self.sink_tokens, int) or self.sink_tokens < 0 \
                or (self.sink_tokens and self.sink_tokens > self.high_rows):
            raise ConfigError(f"PrecisionConfig.sink_tokens={self.sink_tokens!r} is invalid; allowed: integers "
                              f"0..high_rows ({self.high_rows}): the sink is kept at a_high_bits")
        set_("allocation", _enum(Allocation, self.allocation, "allocation"))
        if self.sink_tokens and self.allocation is not Allocation.FIRST_K:
            raise ConfigError(f"PrecisionConfig.sink_tokens={self.sink_tokens!r} needs allocation first-k (the sink "
                              f"rows come first), not {self.allocation.value!r}")
        set_("seq_transform", _transform_name(self.seq_transform, "seq_transform", sequence_transform_names()))
        set_("feature_transform",
             _transform_name(self.feature_transform, "feature_transform", feature_transform_names()))
        allowed = tuple(self.allowed_bits)
        if not allowed or any(isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 16 for b in allowed):
            raise ConfigError(f"PrecisionConfig.allowed_bits={self.allowed_bits!r} is invalid; allowed: integers 2..16")
        set_("allowed_bits", tuple(sorted(set(allowed))))
        if isinstance(self.seq_levels, bool) or not isinstance(self.seq_levels, int) or self.seq_levels < 1:
            raise ConfigError(f"PrecisionConfig.seq_levels={self.seq_levels!r} is invalid; allowed: integers >= 1")
        if not 0.0 <= float(self.smoothquant_alpha) <= 1.0:
            raise ConfigError(f"PrecisionConfig.smoothquant_alpha={self.smoothquant_alpha!r}; allowed: 0..1")
        for key, choices in (
            ("w_granularity", ("per-channel", "per-group", "per-tensor")),
            ("a_granularity", ("per-group", "per-tensor", "per-token")),
            ("weight_l1", ("a2q", "a2q+", "none")),
        ):
            if getattr(self, key) not in choices:
                raise ConfigError(
                    f"PrecisionConfig.{key}={getattr(self, key)!r} is not allowed; allowed: {', '.join(choices)}"
                )
        for key in ("w_group_size", "a_group_size"):
            gran = getattr(self, key.replace("group_size", "granularity"))
            size = getattr(self, key)
            if gran == "per-group" and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
                raise ConfigError(f"PrecisionConfig.{key}={size!r} is needed by per-group; allowed: integers >= 1")
        for key in ("w_clip", "a_clip"):
            if not 0.0 < float(getattr(self, key)) <= 1.0:
                raise ConfigError(f"PrecisionConfig.{key}={getattr(self, key)!r} is out of range; allowed: (0, 1]")
        if isinstance(self.accumulator, dict):
            try:
                set_("accumulator", AccumulatorSpec.from_dict(self.accumulator))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"PrecisionConfig.accumulator: {exc}") from None
        elif self.accumulator is not None and not isinstance(self.accumulator, AccumulatorSpec):
            raise ConfigError(
                f"PrecisionConfig.accumulator={self.accumulator!r} is invalid; allowed: None or an AccumulatorSpec"
            )
        self._check_weight_method()

    def _check_weight_method(self) -> None:
        if self.weight_method not in WEIGHT_METHODS:
            raise ConfigError(f"PrecisionConfig.weight_method={self.weight_method!r} is not allowed; "
                              f"allowed: {', '.join(WEIGHT_METHODS)}")
        if isinstance(self.gptq_damp, bool) or not isinstance(self.gptq_damp, (int, float)) \
                or not 0.0 <= self.gptq_damp <= 1.0:
            raise ConfigError(f"PrecisionConfig.gptq_damp={self.gptq_damp!r} is out of range; allowed: 0..1")
        if isinstance(self.gptq_sink_weight, bool) or not isinstance(self.gptq_sink_weight, (int, float)) \
                or not 1.0 <= self.gptq_sink_weight <= 1e6:
            raise ConfigError(f"PrecisionConfig.gptq_sink_weight={self.gptq_sink_weight!r} is out of range; "
                              "allowed: 1..1e6 (1 = the reference GPTQ)")
        if not isinstance(self.gptq_act_order, bool):
            raise ConfigError(f"PrecisionConfig.gptq_act_order={self.gptq_act_order!r}; allowed: true, false")
        if self.weight_l1 == "none":
            return
        if self.accumulator is None or self.w_bits is None or self.a_bits is None:
            raise ConfigError(
                f"PrecisionConfig.weight_l1={self.weight_l1!r} needs integer weights, activations and an accumulator"
            )
        if self.accumulator.mode.value == "exact":
            raise ConfigError(f"PrecisionConfig.weight_l1={self.weight_l1!r} with an exact accumulator bounds "
                              "nothing; allowed: weight_l1 with a wrap or saturate accumulator")

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
        """Build from a plain dict; ``extends: PRESET`` starts from a preset."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a config must be a mapping or a preset name, got {type(data).__name__}")
        data = dict(data)
        base = {}
        if "extends" in data:
            base = get_preset(data.pop("extends")).to_dict()
            base.pop("baseline")  # a derived config is not matched to its preset's baseline
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {unknown}; allowed: {sorted(names)}")
        merged = {**base, **data}
        if isinstance(merged.get("allowed_bits"), list):
            merged["allowed_bits"] = tuple(merged["allowed_bits"])
        try:
            return cls(**merged)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None


def _int_acc() -> AccumulatorSpec:
    # What integer NPUs and tensor cores accumulate into: a 32-bit register.
    return AccumulatorSpec(bits=32, mode="wrap")


_PRESET_LIST = [
    PrecisionConfig(name="fp", description="float reference (no quantization)"),
    PrecisionConfig(name="w8a8", description="INT8 weights per channel, INT8 activations per token",
                    w_bits=8, a_bits=8, accumulator=_int_acc()),
    PrecisionConfig(name="w4a8", description="INT4 weights per channel, INT8 activations per token",
                    w_bits=4, a_bits=8, accumulator=_int_acc()),
    PrecisionConfig(name="w4a4", description="INT4 weights and activations, per token, round to nearest",
                    w_bits=4, a_bits=4, accumulator=_int_acc()),
    PrecisionConfig(name="w4a4-first64", description="w4a4 with the first 64 tokens at 8 bits (matched budget)",
                    w_bits=4, a_bits=4, high_rows=64, accumulator=_int_acc()),
    PrecisionConfig(name="w4a4-stamp", description="STaMP: 3-level Haar DWT over tokens, first 64 rows at 8 bits",
                    w_bits=4, a_bits=4, high_rows=64, seq_transform="dwt", accumulator=_int_acc(),
                    baseline="w4a4-first64"),
    PrecisionConfig(name="w4a4-hadamard",
                    description="randomized Hadamard feature rotation (QuaRot style), first 64 tokens at 8 bits",
                    w_bits=4, a_bits=4, high_rows=64, feature_transform="hadamard", accumulator=_int_acc()),
    PrecisionConfig(name="w4a4-hadamard-stamp", description="Hadamard rotation + STaMP (3-level Haar, 64 rows at 8 bits)",
                    w_bits=4, a_bits=4, high_rows=64, seq_transform="dwt", feature_transform="hadamard",
                    accumulator=_int_acc(), baseline="w4a4-hadamard"),
    # The STaMP paper's LLM baselines quantize weights with GPTQ; these pairs are those
    # combinations, each twin at the same 64 high-precision rows (matched average bits).
    PrecisionConfig(name="w4a4-quarot",
                    description="QuaRot style: Hadamard rotation of every linear input, GPTQ weights (act order), "
                                "first 64 tokens at 8 bits",
                    w_bits=4, a_bits=4, high_rows=64, feature_transform="hadamard", weight_method="gptq",
                    gptq_act_order=True, accumulator=_int_acc()),
    PrecisionConfig(name="w4a4-quarot-stamp", description="QuaRot style + STaMP (3-level Haar, 64 rows at 8 bits)",
                    w_bits=4, a_bits=4, high_rows=64, seq_transform="dwt", feature_transform="hadamard",
                    weight_method="gptq", gptq_act_order=True, accumulator=_int_acc(), baseline="w4a4-quarot"),
    PrecisionConfig(name="w4a4-sq-gptq",
                    description="SmoothQuant (alpha 0.5) + GPTQ weights (act order), first 64 tokens at 8 bits",
                    w_bits=4, a_bits=4, high_rows=64, feature_transform="smoothquant", weight_method="gptq",
                    gptq_act_order=True, accumulator=_int_acc()),
    PrecisionConfig(name="w4a4-sq-gptq-stamp", description="SmoothQuant + GPTQ + STaMP (3-level Haar, 64 rows at 8 bits)",
                    w_bits=4, a_bits=4, high_rows=64, seq_transform="dwt", feature_transform="smoothquant",
                    weight_method="gptq", gptq_act_order=True, accumulator=_int_acc(), baseline="w4a4-sq-gptq"),
    PrecisionConfig(name="w4a4-stamp-acc16",
                    description="w4a4-stamp on a 16-bit saturating accumulator, tiles of 64, 32-bit outer",
                    w_bits=4, a_bits=4, high_rows=64, seq_transform="dwt",
                    accumulator=AccumulatorSpec(bits=16, mode="saturate", tile=64, outer_bits=32),
                    baseline="w4a4-stamp"),
]
PRESETS: dict[str, PrecisionConfig] = {c.name: c for c in _PRESET_LIST}


def get_preset(name: str) -> PrecisionConfig:
    """The named preset; unknown names raise ConfigError listing the allowed ones."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"preset {name!r} is unknown; allowed: {', '.join(sorted(PRESETS))}") from None


def load_configs(path: str | Path) -> list:
    """Read a YAML list whose items are preset names, PrecisionConfig mappings or
    ``mixed:PATH`` (a MixedConfig file, relative to the list). ``path`` itself may be
    ``mixed:PATH`` for a single per-layer allocation."""
    if str(path).startswith("mixed:"):
        return [load_mixed(str(path)[len("mixed:"):])]
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configs file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if isinstance(data, dict) and "configs" in data:
        data = data["configs"]
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{path}: expected a non-empty list of preset names or config mappings")
    configs = []
    for i, item in enumerate(data):
        where = f"{path}: item {i}"
        if isinstance(item, str) and item.startswith("mixed:"):
            configs.append(load_mixed((path.parent / item[len("mixed:"):]).resolve()
                                      if not Path(item[len("mixed:"):]).is_absolute() else item[len("mixed:"):]))
        elif isinstance(item, str):
            try:
                configs.append(get_preset(item))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        else:
            configs.append(PrecisionConfig.from_dict(item, source=where))
    names = [c.name for c in configs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{path}: config names must be unique; repeated: {dup}")
    return configs


@dataclass(frozen=True)
class RunConfig:
    """What ``stamp-sim run`` does: one model, a list of precision configs, hardware profiles.

    tokens : tokens per evaluation window (text models).
    windows / calib_windows : evaluation and calibration windows (disjoint, chosen by seed).
    int_layers : how many layers (evenly spaced) the exact-accumulator agreement check runs;
        None: every layer the integer path supports. It never limits the accuracy path,
        which runs every layer whose accumulator can overflow through the integer kernels.
    profiles : built-in profile names or YAML paths.
    """

    model: str = "smollm2-135m"
    configs: tuple[PrecisionConfig, ...] = field(default_factory=lambda: tuple(PRESETS.values()))
    profiles: tuple[str, ...] = ("npu",)
    tokens: int = 512
    windows: int = 4
    calib_windows: int = 2
    seed: int = 0
    out: str = "reports"
    device: str = "cpu"
    int_layers: int | None = None

    def __post_init__(self) -> None:
        for key, low in (("tokens", 2), ("windows", 1), ("calib_windows", 0), ("int_layers", 0)):
            value = getattr(self, key)
            if key == "int_layers" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"RunConfig.{key}={value!r} is invalid; allowed: integers >= {low}")
        if not self.configs:
            raise ConfigError("RunConfig.configs is empty; allowed: at least one precision config")
        if not self.profiles:
            raise ConfigError("RunConfig.profiles is empty; allowed: at least one hardware profile")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"RunConfig.device={self.device!r} is not allowed; allowed: cpu, cuda")
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
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "run.json") -> "RunConfig":
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
        data = dict(data)
        if "configs" in data:
            data["configs"] = tuple(
                MixedConfig.from_dict(c["mixed"], source=f"{source}: configs[{i}]") if "mixed" in c
                else PrecisionConfig.from_dict(c, source=f"{source}: configs[{i}]")
                for i, c in enumerate(data["configs"])
            )
        if "profiles" in data:
            data["profiles"] = tuple(data["profiles"])
        return cls(**data)


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
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"MixedConfig.name={self.name!r} is invalid; allowed: a non-empty string")
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
            "default": self.default.name if PRESETS.get(self.default.name) == self.default else self.default.to_dict(),
            "layers": {n: (c.name if PRESETS.get(c.name) == c else c.to_dict()) for n, c in self.layers},
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "mixed config") -> "MixedConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a mixed config must be a mapping with name, default, layers")
        unknown = sorted(set(data) - {"name", "default", "layers"})
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {unknown}; allowed: ['default', 'layers', 'name']")

        def one(value, where):
            if isinstance(value, str):
                try:
                    return get_preset(value)
                except ConfigError as exc:
                    raise ConfigError(f"{source}: {where}: {exc}") from None
            return PrecisionConfig.from_dict(value, source=f"{source}: {where}")

        layers = data.get("layers") or {}
        if not isinstance(layers, dict):
            raise ConfigError(f"{source}: layers must map module names to configs")
        return cls(
            name=str(data.get("name", "mixed")),
            default=one(data.get("default", "fp"), "default"),
            layers=tuple((str(n), one(v, f"layers.{n}")) for n, v in layers.items()),
        )


def load_mixed(path: str | Path) -> MixedConfig:
    """Read a MixedConfig YAML file (see MixedConfig)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read mixed config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return MixedConfig.from_dict(data, source=str(path))
