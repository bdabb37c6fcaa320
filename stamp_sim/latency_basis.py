"""A priced forward's latency as an exact, cheap function of a profile's free parameters.

The free parameters are the achieved fractions and fixed costs a profile states beside its
peaks (``hw_models.profile.Efficiency`` and ``ModeSpec``): each operand mode's
small-M and large-M efficiency, the DRAM and vector-unit efficiencies, the fixed cost of
a kernel and of a forward call. A fit evaluates its predictions hundreds of times, and
one ``forward_cost.price_forward`` takes tens of milliseconds, so each measured forward is
priced a few times at chosen values ("probes") and reduced to per-kernel coefficients.
The cost model prices every kernel k as (hw_models/_core.py, hw_models/decoder.py)

    latency_k = max(C_k + sum_j A_kj / e_j + V_k / v + X_k,  M_k / d) + n_k * overhead

- A_kj: MAC-array seconds at efficiency 1 of the rows that run in mode/M-class j (e_j);
- V_k: vector-unit seconds at vector efficiency v = 1 (transforms, quantization, norms,
  softmax, ...), C_k what of the compute time depends on neither (the KLT's MACs);
- X_k = max(T_k / v - sum_j A_kj / e_j, 0): the part of the weight-tile dequantization
  (T_k seconds at v = 1) not hidden behind the MACs of a double-buffered array (0 on a
  serial array, whose T_k is already in V_k);
- M_k: DRAM seconds at DRAM efficiency d = 1; n_k: kernel overheads (2 for a two-pass
  layer), plus one call overhead per forward.

So the prediction at any parameter values is a few numpy operations, equal to pricing
the profile with those values (``tests/test_calibrate.py`` checks it on random values;
``LatencyBasis.build`` checks it at the base values on every row).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from stamp_sim import hw_models
from stamp_sim.config import MixedConfig, PrecisionConfig

__all__ = ["OVERHEADS", "LatencyBasis", "MeasuredForward", "free_parameters", "is_efficiency", "parameter_values",
           "with_values"]

#: The free parameters that are fixed costs in microseconds (>= 0); the others are
#: achieved fractions of a peak, in (0, 1].
OVERHEADS = ("efficiency.kernel_overhead_us", "efficiency.call_overhead_us")
_RATES = ("efficiency.dram", "efficiency.vector")
# Probe values: 0.5 doubles one mode's MAC time (its coefficient is the difference); a
# MAC time 1e9 times the real one hides no dequantization, exposing the vector time alone.
# (1e-6 keeps compute_s - mac_s exact to ~1e-10 of the MAC time.)
_HALF, _TINY = 0.5, 1e-6
# Relative disagreement between the probes' reconstruction and a direct pricing that
# means a term of the cost model is not covered here (a bug to report, not a fit to run).
_EXACT = 1e-7


@dataclass(frozen=True)
class MeasuredForward:
    """One measured forward of a decoder.

    model : anything ``--model`` accepts (a causal LM). config : its precision.
    phase : "prefill" or "decode". tokens : the prompt length (prefill) or the context
    length (decode). measured_ms : milliseconds of the whole prefill call, or of one
    decoded token. logits : prefill positions lm_head computes (1; a static-shape graph
    may compute all of them). label : how the row is named in reports.
    """

    model: str
    config: PrecisionConfig | MixedConfig
    phase: str
    tokens: int
    measured_ms: float
    logits: int = 1
    label: str = ""

    def __post_init__(self) -> None:
        if self.phase not in ("prefill", "decode"):
            raise ValueError(f"MeasuredForward.phase={self.phase!r}; allowed: decode, prefill")
        if not (np.isfinite(self.measured_ms) and self.measured_ms > 0):
            raise ValueError(f"MeasuredForward.measured_ms={self.measured_ms!r}; allowed: a finite number > 0")

    @property
    def key(self) -> tuple:
        """What the price depends on (configs are told apart by name)."""
        return (self.model, self.config.name, self.phase, int(self.tokens), int(self.logits))

    def price(self, profile: hw_models.HardwareProfile) -> pd.DataFrame:
        """forward_cost.price_forward of this forward on `profile` (one row per kernel)."""
        from stamp_sim.forward_cost import price_forward

        decode = self.phase == "decode"
        return price_forward(self.model, self.config, profile, self.phase, tokens=1 if decode else int(self.tokens),
                             context=int(self.tokens) if decode else 0, logits=int(self.logits))


def is_efficiency(field: str) -> bool:
    """Whether free parameter `field` is an achieved fraction (in (0, 1]) rather than an overhead."""
    return field not in OVERHEADS


def free_parameters(profile: hw_models.HardwareProfile) -> tuple[str, ...]:
    """The dotted YAML paths of `profile`'s free parameters: each mode's large-M and
    small-M efficiency, then DRAM and vector efficiency, kernel and call overhead."""
    modes = tuple(f"modes.{m.value}.{attr}" for m in profile.modes
                  for attr in ("large_m_efficiency", "small_m_efficiency"))
    return modes + _RATES + OVERHEADS


def _split(field: str) -> tuple[hw_models.OperandMode | None, str]:
    section, _, rest = field.partition(".")
    if section == "efficiency":
        return None, rest
    mode, _, attr = rest.partition(".")
    return hw_models.OperandMode(mode), attr


def parameter_values(profile: hw_models.HardwareProfile) -> dict[str, float]:
    """Every free parameter of `profile` at its value (dotted path -> value)."""
    out = {}
    for field in free_parameters(profile):
        mode, attr = _split(field)
        out[field] = float(getattr(profile.efficiency if mode is None else profile.modes[mode], attr))
    return out


def with_values(profile: hw_models.HardwareProfile, values: Mapping[str, float]) -> hw_models.HardwareProfile:
    """`profile` with the free parameters in `values` (dotted path -> value) replaced."""
    eff = {attr: float(v) for f, v in values.items() for mode, attr in [_split(f)] if mode is None}
    modes = dict(profile.modes)
    for field, value in values.items():
        mode, attr = _split(field)
        if mode is not None:
            if mode not in modes:
                raise ValueError(f"{field}: profile {profile.name!r} has no mode {mode.value}; allowed: "
                                 f"{', '.join(m.value for m in modes)}")
            modes[mode] = dataclasses.replace(modes[mode], **{attr: float(value)})
    return dataclasses.replace(profile, modes=modes, efficiency=dataclasses.replace(profile.efficiency, **eff))


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    return table[name].fillna(0.0).to_numpy(dtype=np.float64) if name in table else np.zeros(len(table))


def _non_mac(table: pd.DataFrame) -> np.ndarray:
    """Compute seconds that are not the MAC array's (vector unit, KLT): compute_s - mac_s."""
    return _column(table, "compute_s") - _column(table, "mac_s")


def _modes_used(table: pd.DataFrame) -> list[str]:
    """Operand modes the table's MAC work runs in: its linear layers' modes (the first word
    of 'int8 (int4 unsupported)') and fp16, the mode of attention's products."""
    used = {hw_models.OperandMode.FP16.value}
    for col in ("mode_low", "mode_high"):
        if col in table:
            used |= {str(v).split(" ")[0] for v in table[col].dropna().unique()}
    return sorted(used)


@dataclass(frozen=True)
class LatencyBasis:
    """The per-kernel coefficients of measured forwards on one profile (module docstring).

    rows : int, how many forwards. kernel_row : (kernels,) the forward each kernel belongs
    to. mac_fields : the mode efficiencies (dotted paths) with MAC time; mac_s :
    (kernels, len(mac_fields)) A in seconds. const_s, vector_s, tile_s, memory_s :
    (kernels,) C, V, T, M in seconds. kernel_overheads, calls : (rows,) counts.
    overlap : the array double-buffers (dequantization hides behind MACs).
    base_s : (rows,) each forward priced directly at the profile's own values.
    """

    profile: hw_models.HardwareProfile
    rows: int
    kernel_row: np.ndarray
    mac_fields: tuple[str, ...]
    mac_s: np.ndarray
    const_s: np.ndarray
    vector_s: np.ndarray
    tile_s: np.ndarray
    memory_s: np.ndarray
    kernel_overheads: np.ndarray
    calls: np.ndarray
    overlap: bool
    base_s: np.ndarray

    @classmethod
    def build(cls, profile: hw_models.HardwareProfile, forwards: Sequence[MeasuredForward]) -> "LatencyBasis":
        """Price each distinct forward at the probes (4 + 2 per operand mode it uses) and
        keep the coefficients; raises RuntimeError if they do not reproduce the direct price."""
        keys = list(dict.fromkeys(f.key for f in forwards))
        first = {f.key: f for f in reversed(forwards)}
        parts = [_probe(profile, first[k]) for k in keys]
        fields = tuple(sorted({f for p in parts for f in p["mac"]}))
        index = {k: i for i, k in enumerate(keys)}
        chosen = [parts[index[f.key]] for f in forwards]
        sizes = [len(p["const"]) for p in chosen]
        mac = np.concatenate([np.column_stack([p["mac"].get(f, np.zeros(len(p["const"]))) for f in fields])
                              for p in chosen]) if fields else np.zeros((sum(sizes), 0))
        basis = cls(profile=profile, rows=len(forwards), kernel_row=np.repeat(np.arange(len(forwards)), sizes),
                    mac_fields=fields, mac_s=mac, **{name: np.concatenate([p[key] for p in chosen]) for name, key in
                                                     (("const_s", "const"), ("vector_s", "vector"), ("tile_s", "tile"),
                                                      ("memory_s", "memory"))},
                    kernel_overheads=np.array([p["kernels"] for p in chosen]), calls=np.array([p["calls"] for p in chosen]),
                    overlap=profile.mac_array.fill is hw_models.Fill.OVERLAP,
                    base_s=np.array([p["base"] for p in chosen]))
        rebuilt = basis.latency_s(parameter_values(profile))
        worst = float(np.max(np.abs(rebuilt / basis.base_s - 1.0))) if len(forwards) else 0.0
        if worst > _EXACT:
            raise RuntimeError(f"latency basis on {profile.name!r} differs from the direct price by {worst:.2e} "
                               "(a term of the cost model the probes miss): a bug in stamp-sim")
        return basis

    def latency_s(self, values: Mapping[str, float]) -> np.ndarray:
        """(rows,) seconds of each forward with the free parameters at `values` (every
        field of free_parameters(profile))."""
        inv = np.array([1.0 / values[f] for f in self.mac_fields])
        mac = self.mac_s @ inv if len(inv) else np.zeros(len(self.const_s))
        vector = 1.0 / values["efficiency.vector"]
        exposed = np.maximum(self.tile_s * vector - mac, 0.0) if self.overlap else 0.0
        compute = self.const_s + mac + self.vector_s * vector + exposed
        kernel = np.maximum(compute, self.memory_s / values["efficiency.dram"])
        total = np.bincount(self.kernel_row, weights=kernel, minlength=self.rows)
        return (total + 1e-6 * (self.kernel_overheads * values["efficiency.kernel_overhead_us"]
                                + self.calls * values["efficiency.call_overhead_us"]))


def _mac_terms(profile, forward: MeasuredForward, unit_values: dict, mac_unit: np.ndarray,
               modes: Sequence[str]) -> dict[str, np.ndarray]:
    """Per mode efficiency (dotted path), the MAC seconds at efficiency 1 it divides: the
    change of mac_s when it alone drops from 1 to 0.5."""
    mac = {}
    for mode in modes:
        for attr in ("large_m_efficiency", "small_m_efficiency"):
            field = f"modes.{mode}.{attr}"
            probe = forward.price(with_values(profile, {**unit_values, field: _HALF}))
            delta = _column(probe, "mac_s") - mac_unit
            if np.any(delta != 0):
                mac[field] = delta
    return mac


def _probe(profile: hw_models.HardwareProfile, forward: MeasuredForward) -> dict:
    """One forward's coefficients from its probe pricings (module docstring)."""
    unit_values = {f: 1.0 for f in free_parameters(profile)}  # every efficiency 1, overheads 1 us
    unit = forward.price(with_values(profile, unit_values))
    mac_unit = _column(unit, "mac_s")
    mac = _mac_terms(profile, forward, unit_values, mac_unit, _modes_used(unit))
    if not np.allclose(sum(mac.values(), np.zeros_like(mac_unit)), mac_unit, rtol=1e-9, atol=0.0):
        # Some MAC work runs in a mode the table's labels do not name: probe every mode.
        mac = _mac_terms(profile, forward, unit_values, mac_unit, [m.value for m in profile.modes])
    tiny = {**unit_values, **{f: _TINY for f in unit_values if f.startswith("modes.")}}
    slow = forward.price(with_values(profile, tiny))
    slow_half = forward.price(with_values(profile, {**tiny, "efficiency.vector": _HALF}))
    vector = _non_mac(slow_half) - _non_mac(slow)
    # Requantization's ops at vector rate 1, less the part that stays serial with MACs
    # too slow to hide anything: the weight-tile dequantization (0 on a serial array).
    tile = _column(unit, "requant_ops") / (profile.vector.gops * 1e9) - _column(slow, "requant_s")
    call = (unit["kind"] == "call").to_numpy()
    overheads = _column(unit, "overhead_s") / 1e-6
    return {"mac": mac, "const": _non_mac(slow) - vector, "vector": vector, "tile": np.maximum(tile, 0.0),
            "memory": _column(unit, "memory_s"), "kernels": float(overheads[~call].sum()),
            "calls": float(overheads[call].sum()),
            "base": float(forward.price(profile)["latency_s"].sum())}
