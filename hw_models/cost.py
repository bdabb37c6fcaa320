"""Price GEMM-shaped layers for precisions on hardware profiles: memory, energy, latency.

``price`` takes a workload (one row per layer: tokens, k, n), named precisions and
profiles, and returns one DataFrame row per (profile, precision, phase, layer), all
computed at once with numpy (no per-row Python loop). Energy is a sum of named terms:

    energy_pj = mac_pj + accumulate_pj + sram_pj + dram_pj
                + seq_transform_pj + feature_transform_pj + requant_pj

and compute time a sum of mac_s + seq_transform_s + feature_transform_s + requant_s;
latency_s = max(compute_s, memory_s), `bound` names the larger (``bound_of``). ``LayerCost`` is the
same result for one layer, frozen and addable, so per-layer costs sum to a model's.
The modelling assumptions are listed in ``hw_models/_core.py`` and the README.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ._core import ENERGY_TERMS, TIME_TERMS, price_arrays
from ._loader import load_profile
from ._tables import MODES, ProfileTables, encode_precisions, natural_mode_table
from .bound import BOUNDS, bound_of, is_memory_bound
from .precision import FeatureTransformKind, LayerPrecision, Phase, SeqTransform
from .profile import HardwareProfile
from .transform_ops import SEQ_CODES

__all__ = ["ENERGY_TERMS", "TIME_TERMS", "LayerCost", "price", "price_layer", "totals"]

_NATURAL = natural_mode_table()
_PHASES = tuple(Phase)
_FEATURE_NOTES = {
    FeatureTransformKind.NONE: "none",
    FeatureTransformKind.HADAMARD: "online Hadamard rotation (vector unit)",
    FeatureTransformKind.SMOOTHQUANT: "smoothquant scales folded into weights: no runtime cost",
    FeatureTransformKind.HADAMARD_FOLDED: "Hadamard rotation folded into weights: no runtime cost",
}


def _as_profiles(profiles) -> list[HardwareProfile]:
    if isinstance(profiles, (str, HardwareProfile)):
        profiles = [profiles]
    out = [p if isinstance(p, HardwareProfile) else load_profile(p) for p in profiles]
    if not out:
        raise ValueError("profiles is empty; allowed: one or more profile names, paths or HardwareProfile objects")
    return out


def _as_precisions(precisions) -> tuple[list[str], list[LayerPrecision]]:
    if isinstance(precisions, LayerPrecision):
        precisions = {"custom": precisions}
    items = list(precisions.items()) if isinstance(precisions, Mapping) else list(precisions)
    if not items:
        raise ValueError("precisions is empty; allowed: a mapping of name -> LayerPrecision")
    for name, p in items:
        if not isinstance(p, LayerPrecision):
            raise ValueError(f"precisions[{name!r}] is a {type(p).__name__}; allowed: LayerPrecision")
    return [str(n) for n, _ in items], [p for _, p in items]


def _as_phases(phases) -> list[Phase]:
    if isinstance(phases, (str, Phase)):
        phases = [phases]
    out = []
    for ph in phases:
        try:
            out.append(Phase(ph))
        except ValueError:
            raise ValueError(f"phase={ph!r} is not a phase; allowed: {', '.join(p.value for p in Phase)}") from None
    return out


# Bounds that keep every count of the cost model (MACs, operand bytes, cycles; profile
# integers are <= 2**20) inside int64 instead of wrapping to negative numbers.
MAX_DIM = 1 << 24  # tokens, K or N of one GEMM: 16.7 M
MAX_MACS = 1 << 50  # tokens * K * N of one GEMM: 1.1e15


def _workload_arrays(workload: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in ("tokens", "k", "n") if c not in workload.columns]
    if missing:
        raise ValueError(f"workload is missing column(s) {missing}; allowed: a DataFrame with tokens, k, n (and layer)")
    arrays = []
    for col in ("tokens", "k", "n"):
        values = workload[col].to_numpy()
        if values.dtype.kind not in "iu" or (values.size and values.min() < 1):
            raise ValueError(f"workload[{col!r}] must hold integers >= 1; got dtype {values.dtype}, min {values.min()}")
        if values.size and int(values.max()) > MAX_DIM:
            raise ValueError(f"workload[{col!r}] holds {int(values.max())}; allowed: integers 1..{MAX_DIM} "
                             "(larger counts would overflow int64)")
        arrays.append(values.astype(np.int64))
    # float64 holds these products (< 2**72) to 16 digits: enough to compare with 2**50
    macs = arrays[0].astype(np.float64) * arrays[1] * arrays[2]
    if macs.size and macs.max() > MAX_MACS:
        raise ValueError(f"workload has a GEMM of {macs.max():.4g} MACs (tokens*k*n); allowed: at most {MAX_MACS} "
                         "(larger counts would overflow int64)")
    return arrays[0], arrays[1], arrays[2]


_CHUNK_ROWS = 1 << 15  # small enough to stay in cache, large enough to amortize numpy calls
_MIN_SEGMENT = 2048  # layers from which one (config, phase) segment is worth its own calls


def _workers() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _price_in_chunks(tokens, k, n, decode, codes, pi, ci, wi, tables) -> dict[str, np.ndarray]:
    """price_arrays over chunks of rows, on a few threads (numpy releases the GIL).

    Rows are ordered profile, config, phase, layer. Chunks never straddle a profile, so
    each passes its profile as a scalar index (per-profile numbers broadcast instead of
    being gathered per row). When the workload is long (>= _MIN_SEGMENT layers), chunks
    also stay inside one (config, phase) segment: precision and phase become scalars and
    the layers a slice. Each chunk writes into preallocated outputs, so the result is
    identical to one call over all rows (tests/hw_models/test_properties.py).
    """
    total = len(pi)
    layers = len(tokens)
    segment = layers if layers >= _MIN_SEGMENT else total // max(1, len(np.unique(pi)))
    boundaries = np.arange(0, total, segment)
    cuts = np.union1d(np.arange(0, total, _CHUNK_ROWS), boundaries)
    spans = list(zip(cuts.tolist(), np.append(cuts[1:], total).tolist()))
    by_segment = layers >= _MIN_SEGMENT

    def run(span: tuple[int, int]) -> dict[str, np.ndarray]:
        start, stop = span
        if by_segment:
            c, w0 = ci[start], wi[start]
            w = slice(w0, w0 + stop - start)
            prec = {key: col[c] for key, col in codes.items()}
            dec = np.bool_(decode[start])
        else:
            c, w = ci[start:stop], wi[start:stop]
            prec = {key: col[c] for key, col in codes.items()}
            dec = decode[start:stop]
        part = price_arrays(tokens[w], k[w], n[w], dec, prec, int(pi[start]), tables)
        return {key: np.broadcast_to(value, (stop - start,)) for key, value in part.items()}

    if len(spans) == 1:
        return {key: np.ascontiguousarray(value) for key, value in run(spans[0]).items()}
    first = run(spans[0])
    out = {key: np.empty(total, dtype=value.dtype) for key, value in first.items()}

    def store(span: tuple[int, int], part: dict[str, np.ndarray]) -> None:
        for key, value in part.items():
            out[key][span[0] : span[1]] = value

    store(spans[0], first)
    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        list(pool.map(lambda span: store(span, run(span)), spans[1:]))
    return out


def _unique_labels(names: Sequence[str]) -> list[str]:
    """Profile names as categories; a repeated name gets '#i' so categories stay unique."""
    if len(set(names)) == len(names):
        return list(names)
    return [f"{nm}#{i}" for i, nm in enumerate(names)]


def _mode_labels(used: np.ndarray, natural: np.ndarray) -> pd.Categorical:
    """'int8' or 'int8 (int4 unsupported)' per row, built from codes (no per-row strings)."""
    labels, code_of = [], {}
    for u in range(len(MODES)):
        for nat in range(len(MODES)):
            text = MODES[u].value if u == nat else f"{MODES[u].value} ({MODES[nat].value} unsupported)"
            code_of[(u, nat)] = labels.index(text) if text in labels else len(labels)
            if text not in labels:
                labels.append(text)
    lut = np.array([[code_of[(u, nat)] for nat in range(len(MODES))] for u in range(len(MODES))])
    return pd.Categorical.from_codes(lut[used, natural], categories=labels)


def price(
    workload: pd.DataFrame,
    precisions: Mapping[str, LayerPrecision] | Iterable[tuple[str, LayerPrecision]] | LayerPrecision,
    profiles: Sequence[HardwareProfile | str] | HardwareProfile | str,
    phases: Sequence[str | Phase] | str = ("prefill",),
) -> pd.DataFrame:
    """Price every (profile, precision, phase, workload row) combination.

    workload : DataFrame with integer columns tokens (s), k (in-features), n
        (out-features); other columns (e.g. layer) are carried into the result.
    precisions : mapping name -> LayerPrecision (or one LayerPrecision, named "custom").
    profiles : profile names, paths or HardwareProfile objects.
    phases : "prefill" (s tokens, STaMP applies) and/or "decode" (1 token, it does not).
    Returns a DataFrame: hw, config, phase, the workload columns, then bytes, MACs,
    energy terms (pJ), time terms (s), latency_s and bound. See the module docstring.
    """
    profs = _as_profiles(profiles)
    names, precs = _as_precisions(precisions)
    phase_list = _as_phases(phases)
    tokens, k, n = _workload_arrays(workload)
    tables = ProfileTables.build(profs)
    codes = encode_precisions(precs)

    # Row order: profile, config, phase, then the workload's own order.
    grid = np.indices((len(profs), len(precs), len(phase_list), len(workload))).reshape(4, -1)
    pi, ci, hi, wi = grid
    phase_codes = np.array([_PHASES.index(p) for p in phase_list])[hi]
    decode = phase_codes == _PHASES.index(Phase.DECODE)
    per_row = {key: codes[key][ci] for key in ("w", "a", "ah", "seq", "feat")}  # for the label columns
    one_token = decode | (tokens[wi] <= 1)  # one token is never transformed
    res = _price_in_chunks(tokens, k, n, decode, codes, pi, ci, wi, tables)

    natural_lo = _NATURAL[per_row["w"], per_row["a"]]
    # A weight-only layer in a native wXa16 mode runs where it was meant to: no fallback to label.
    natural_lo = np.where((per_row["w"] > 0) & (per_row["a"] == 0), res["mode_low"], natural_lo)
    natural_hi = np.where(res["high_rows"] > 0, _NATURAL[per_row["w"], per_row["ah"]], natural_lo)
    cols: dict[str, object] = {
        "hw": pd.Categorical.from_codes(pi, categories=_unique_labels(tables.names)),
        "config": pd.Categorical.from_codes(ci, categories=names),
        "phase": pd.Categorical.from_codes(phase_codes, categories=[p.value for p in _PHASES]),
    }
    for col in workload.columns:
        values = workload[col].to_numpy()
        cols[col] = values[wi]
    cols["w_bits"] = np.where(per_row["w"] > 0, per_row["w"], np.nan)
    cols["a_bits"] = np.where(per_row["a"] > 0, per_row["a"], np.nan)
    # Decode (and one-token) rows report the transform that actually ran: identity.
    cols["seq_transform"] = pd.Categorical.from_codes(
        np.where(one_token, SEQ_CODES[SeqTransform.IDENTITY], per_row["seq"]), categories=[t.value for t in SeqTransform]
    )
    cols["feature_transform"] = pd.Categorical.from_codes(
        per_row["feat"], categories=[_FEATURE_NOTES[f] for f in FeatureTransformKind]
    )
    for key, value in res.items():
        if key == "mode_low":
            cols[key] = _mode_labels(value, natural_lo)
        elif key == "mode_high":
            cols[key] = _mode_labels(value, natural_hi)
        elif key == "memory_bound":
            cols["bound"] = pd.Categorical.from_codes(value.astype(np.int8), categories=list(BOUNDS))
        else:
            cols[key] = value
    return pd.DataFrame(cols, copy=False)


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer (or, summed with +, of many), in bytes, MACs, pJ and seconds.

    energy_pj is the sum of ENERGY_TERMS; compute_s of TIME_TERMS; latency_s is
    max(compute_s, memory_s) + overhead_s (the profile's fixed cost per kernel) per layer
    and the sum of those over a sum of layers.
    latency_overlap_s is the same with the vector unit (transforms, quantization) running
    concurrently with the MAC array: max(mac_s, vector time, memory_s) per layer.
    """

    macs: float = 0.0
    weight_bytes: float = 0.0
    act_bytes: float = 0.0
    out_bytes: float = 0.0
    transform_bytes: float = 0.0
    dram_bytes: float = 0.0
    sram_bytes: float = 0.0
    mac_pj: float = 0.0
    accumulate_pj: float = 0.0
    sram_pj: float = 0.0
    dram_pj: float = 0.0
    seq_transform_pj: float = 0.0
    feature_transform_pj: float = 0.0
    requant_pj: float = 0.0
    mac_s: float = 0.0
    seq_transform_s: float = 0.0
    feature_transform_s: float = 0.0
    requant_s: float = 0.0
    memory_s: float = 0.0
    overhead_s: float = 0.0
    latency_s: float = 0.0
    latency_overlap_s: float = 0.0

    @property
    def energy_pj(self) -> float:
        return sum(getattr(self, term) for term in ENERGY_TERMS)

    @property
    def compute_s(self) -> float:
        return sum(getattr(self, term) for term in TIME_TERMS)

    @property
    def bound(self) -> str:
        """'memory' if memory time exceeds compute time (of this layer, or of the summed layers): bound_of."""
        return bound_of(self.memory_s, self.compute_s)

    def __add__(self, other: "LayerCost") -> "LayerCost":
        if not isinstance(other, LayerCost):
            return NotImplemented
        return LayerCost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self)})

    def __radd__(self, other):
        # Lets sum(costs) start from 0.
        return self if other == 0 else NotImplemented

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "LayerCost":
        """Sum of the rows of a `price` result (e.g. all layers of one config on one profile)."""
        return cls(**{f.name: float(frame[f.name].sum()) for f in dataclasses.fields(cls)})


def price_layer(
    tokens: int,
    k: int,
    n: int,
    precision: LayerPrecision,
    profile: HardwareProfile | str,
    phase: str | Phase = "prefill",
) -> LayerCost:
    """The cost of one s x K -> N layer: `price` for a single row, as a LayerCost."""
    frame = price(pd.DataFrame({"tokens": [tokens], "k": [k], "n": [n]}), {"p": precision}, [profile], [phase])
    return LayerCost.from_frame(frame)


def totals(frame: pd.DataFrame, by: Sequence[str] = ("hw", "config", "phase")) -> pd.DataFrame:
    """Sum the additive columns of a `price` result per group (layers run one after another).

    Besides the sums (and energy_pj, compute_s of them): `bound`, what bounds the group
    as a whole (bound_of its summed memory_s and compute_s, like LayerCost.bound), and
    `memory_bound_share`, the fraction of the group's rows (layers) that are memory
    bound on their own (0..1, unweighted).
    """
    additive = [f.name for f in dataclasses.fields(LayerCost)]
    row_memory = is_memory_bound(frame["memory_s"].to_numpy(), frame["compute_s"].to_numpy())
    parts = frame[list(by) + additive].assign(memory_bound_share=row_memory.astype(np.float64))
    out = parts.groupby(list(by), observed=True, sort=False).agg(
        {**{col: "sum" for col in additive}, "memory_bound_share": "mean"}
    )
    out["energy_pj"] = out[list(ENERGY_TERMS)].sum(axis=1)
    out["compute_s"] = out[list(TIME_TERMS)].sum(axis=1)
    out["bound"] = pd.Categorical.from_codes(
        is_memory_bound(out["memory_s"].to_numpy(), out["compute_s"].to_numpy()).astype(np.int8), categories=list(BOUNDS)
    )
    share = out.pop("memory_bound_share")
    out["memory_bound_share"] = share
    return out.reset_index()
