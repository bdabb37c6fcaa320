"""A config's layers priced: PrecisionConfig to hw_models.LayerPrecision / KVPrecision,
and the price table of a workload at a config.

Used by every workflow that prices (through ``pricing``) and by the whole-forward cost
(``forward_cost``). hw_models knows nothing of stamp_sim; this module is the one place
that maps a PrecisionConfig onto the fields the cost model prices:

- a_high_bits / high_rows: rows at a_high_bits only when a_bits is an integer and
  a_high_bits > a_bits (PrecisionConfig.high_row_count). The ``energy`` allocation
  spends the same average-bit budget as first-k, so it is priced as first-k
  (high_rows rows at a_high_bits): same bytes, and a bound on its MAC modes.
- accumulator: None (exact) and ``mode="exact"`` are priced, and reported, as a 32-bit
  register (``schema.EXACT_ACC_BITS``), what integer NPUs and tensor cores accumulate
  into; otherwise bits / tile / outer_bits as given (outer_bits None = the widest
  hardware register). ``accumulator_bits`` is that rule.
- wavelet: its filter length decides how many DWT levels a short sequence runs (and so
  its padding); every wavelet is priced with Haar's op count per level (2 taps): longer
  filters cost proportionally more and are not modelled.
- w_symmetric / a_symmetric False: a zero point per scale (bytes and dequantize ops).
- a hadamard feature transform runs where ``rotation_placement`` says (``online_rotation``):
  with "folded" (QuaRot / SpinQuant, the default) a layer reads a rotation folded into the
  weights offline (``hadamard-folded``, free) except the MLP's down projection (down /
  fc2, and a layer of unknown role), whose input rotation runs online; with "every-linear"
  every layer rotates its input online. A config whose layers differ is priced layer by
  layer, in the workload's order. The rotation of queries and keys that a quantized
  cache needs runs online in the decoder (``kv_precision``).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pywt

from stamp_sim import hw_models
from stamp_sim.kernels import AccMode
from stamp_sim.config import MixedConfig, PrecisionConfig, get_preset
from stamp_sim.models.workload import linear_kind
from stamp_sim.schema import EXACT_ACC_BITS

__all__ = ["ONLINE_ROTATION_KINDS", "accumulator_bits", "kv_precision", "layer_precision", "online_rotation",
           "price_config", "price_workload"]

#: Linear kinds (models.workload.linear_kind) whose input rotation runs online under the
#: "folded" placement: the MLP's down projection, whose input (the activation's output)
#: has no linear producer and no norm to fold a rotation into (QuaRot's online Hadamard,
#: SpinQuant's R4), and a layer of unknown role ("linear": a --shape GEMM), priced online
#: rather than assumed free.
ONLINE_ROTATION_KINDS = frozenset({"down", "fc2", "linear"})


def _is_exact(config: PrecisionConfig) -> bool:
    return config.accumulator is None or config.accumulator.mode is AccMode.EXACT


def accumulator_bits(config: PrecisionConfig) -> int:
    """Inner accumulator width in bits as priced and reported: EXACT_ACC_BITS when exact."""
    return EXACT_ACC_BITS if _is_exact(config) else config.accumulator.bits


def online_rotation(config: PrecisionConfig, kind: str | None = None) -> bool:
    """Whether a `kind` layer (models.workload.linear_kind; None: unknown) of `config`
    rotates its input online: a hadamard feature transform, and either rotation_placement
    "every-linear" or a kind in ONLINE_ROTATION_KINDS."""
    if config.feature_transform != "hadamard":
        return False
    return config.rotation_placement == "every-linear" or (kind or "linear") in ONLINE_ROTATION_KINDS


def layer_precision(config: PrecisionConfig, kind: str | None = None) -> hw_models.LayerPrecision:
    """The hw_models.LayerPrecision that prices `config` on a `kind` layer (see the module
    docstring; kind None: a layer of unknown role, whose rotation is priced online)."""
    feature = config.feature_transform
    if feature == "hadamard" and not online_rotation(config, kind):
        feature = hw_models.FeatureTransformKind.HADAMARD_FOLDED.value
    acc = config.accumulator
    exact = _is_exact(config)
    mixed = config.a_bits is not None and config.high_rows > 0 and config.a_high_bits > config.a_bits
    return hw_models.LayerPrecision(
        w_bits=config.w_bits,
        a_bits=config.a_bits,
        a_high_bits=config.a_high_bits if mixed else None,
        high_rows=config.high_rows if mixed else 0,
        acc_bits=accumulator_bits(config),
        acc_tile=None if exact else acc.tile,
        acc_outer_bits=None if exact else acc.outer_bits,
        seq_transform=config.seq_transform,
        seq_levels=config.seq_levels,
        seq_filter_length=pywt.Wavelet(config.wavelet).dec_len,
        seq_prefix_rows=config.sink_tokens if config.uses_sequence_transform else 0,
        feature_transform=feature,
        w_granularity=config.w_granularity,
        w_group_size=config.w_group_size if config.w_granularity == "per-group" else None,
        a_granularity=config.a_granularity,
        a_group_size=config.a_group_size if config.a_granularity == "per-group" else None,
        w_zero_points=config.w_bits is not None and not config.w_symmetric,
        a_zero_points=config.a_bits is not None and not config.a_symmetric,
    )


def _kinds(work: pd.DataFrame) -> pd.Series:
    """Each row's linear kind: the workload's ``kind`` column, or its layer names' kind."""
    if "kind" in work.columns:
        return work["kind"].astype(str)
    if "layer" in work.columns:
        return work["layer"].astype(str).map(linear_kind)
    return pd.Series("linear", index=work.index)


def _layer_precisions(work: pd.DataFrame, cfg: PrecisionConfig | MixedConfig) -> list[hw_models.LayerPrecision]:
    """The LayerPrecision of every row of `work` (a MixedConfig's layer config, the rotation placement)."""
    kinds = _kinds(work).tolist()
    if isinstance(cfg, MixedConfig):
        subs = [cfg.config_for(n) for n in work["layer"].astype(str)]
    else:
        subs = [cfg] * len(work)
    memo: dict[tuple[int, str], hw_models.LayerPrecision] = {}
    out = []
    for sub, kind in zip(subs, kinds):
        key = (id(sub), kind)
        if key not in memo:
            memo[key] = layer_precision(sub, kind)
        out.append(memo[key])
    return out


def price_workload(
    workload: pd.DataFrame,
    configs: Iterable[PrecisionConfig | str],
    profiles: Sequence[hw_models.HardwareProfile | str],
    phases: Sequence[str] = ("prefill", "decode"),
) -> pd.DataFrame:
    """Price a workload (columns layer, tokens, k, n; kind optional) for configs on profiles.

    configs : PrecisionConfig objects or preset names. Returns hw_models.price's table,
    one row per (profile, config, phase, layer) in that order; ``hw_models.totals`` sums
    it per model. Configs whose layers all share one precision are priced in one call;
    the others (a folded rotation: online on down_proj only) layer group by layer group.
    """
    resolved = [get_preset(c) if isinstance(c, str) else c for c in configs]
    names = [c.name for c in resolved]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"config names must be unique; repeated: {repeated}")
    uniform, split = {}, []
    for c in resolved:
        precisions = _layer_precisions(workload, c)
        if len(set(precisions)) <= 1:
            uniform[c.name] = precisions[0] if precisions else layer_precision(c)
        else:
            split.append((c.name, precisions))
    if not split:
        return hw_models.price(workload, uniform, profiles, phases)
    tagged = workload.assign(_row=np.arange(len(workload)))
    parts = [hw_models.price(tagged, uniform, profiles, phases)] if uniform else []
    parts += [_price_by_layer(tagged, name, precisions, profiles, phases) for name, precisions in split]
    return _in_grid_order(parts, names)


def _price_by_layer(work: pd.DataFrame, name: str, precisions: list, profiles, phases) -> pd.DataFrame:
    """hw_models.price of `work` under config `name`, each row at its own precision, in
    the grid's order (profile, phase, row). `work` may carry ``_row``, its rows' positions
    in a larger workload."""
    tagged = work if "_row" in work.columns else work.assign(_row=np.arange(len(work)))
    distinct = list(dict.fromkeys(precisions))
    which = np.array([distinct.index(p) for p in precisions], dtype=np.int64)
    parts = [hw_models.price(tagged[which == i], {name: prec}, profiles, phases) for i, prec in enumerate(distinct)]
    return _in_grid_order(parts, [name], drop_rows="_row" not in work.columns)


def _in_grid_order(parts: list[pd.DataFrame], names: list[str], drop_rows: bool = True) -> pd.DataFrame:
    """Concatenated price tables in hw_models.price's order: profile, config (as `names`),
    phase, then the workload's order (each part's ``_row`` column)."""
    frame = pd.concat(parts, ignore_index=True)
    frame["config"] = pd.Categorical(frame["config"].astype(str), categories=names)
    order = np.lexsort((frame["_row"].to_numpy(), frame["phase"].cat.codes.to_numpy(),
                        frame["config"].cat.codes.to_numpy(), frame["hw"].cat.codes.to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    return frame.drop(columns="_row") if drop_rows else frame


def price_config(work: pd.DataFrame, cfg: PrecisionConfig | MixedConfig, profiles: Sequence,
                 phases: Sequence[str] = ("prefill", "decode")) -> pd.DataFrame:
    """hw_models.price of one config, in the workload's layer order; a MixedConfig is
    priced layer by layer at each layer's config, a folded rotation at each layer's placement."""
    if not isinstance(cfg, MixedConfig):
        return price_workload(work, [cfg], profiles, phases)
    return _price_by_layer(work, cfg.name, _layer_precisions(work, cfg), profiles, phases)


def kv_precision(cfg: PrecisionConfig | MixedConfig, tokens: int) -> hw_models.KVPrecision:
    """How `cfg` stores its K / V cache of `tokens` tokens: kv_bits (None: fp16), its first
    high rows at a_high_bits, the config's sequence transform and sink, and, for a
    hadamard config with a quantized cache, the online rotation of queries and keys. A
    MixedConfig's cache is its default config's (the cache is one tensor per block)."""
    c = cfg.default if isinstance(cfg, MixedConfig) else cfg
    return hw_models.KVPrecision(
        bits=c.kv_bits, high_tokens=c.kv_high_token_count(int(tokens)), high_bits=c.a_high_bits,
        zero_points=not c.a_symmetric, seq_transform=c.seq_transform, seq_levels=c.seq_levels,
        filter_length=pywt.Wavelet(c.wavelet).dec_len, prefix=c.sink_tokens if c.uses_sequence_transform else 0,
        qk_rotation=c.feature_transform == "hadamard" and c.kv_bits is not None)
