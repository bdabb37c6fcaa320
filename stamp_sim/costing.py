"""From the toolkit's PrecisionConfig to hw_models' plain LayerPrecision, and pricing helpers.

hw_models knows nothing of stamp_sim; this module is the one place that maps a
PrecisionConfig onto the fields the cost model prices:

- a_high_bits / high_rows: rows at a_high_bits only when a_bits is an integer and
  a_high_bits > a_bits (PrecisionConfig.high_row_count). The ``energy`` allocation
  spends the same average-bit budget as first-k, so it is priced as first-k
  (high_rows rows at a_high_bits): same bytes, and a bound on its MAC modes.
- accumulator: None (exact) and ``mode="exact"`` are priced as a 32-bit register, what
  integer NPUs and tensor cores accumulate into; otherwise bits / tile / outer_bits as
  given (outer_bits None = the widest hardware register).
- wavelet: every wavelet is priced with Haar's op count (2 taps); longer filters cost
  proportionally more and are not modelled.
- w_symmetric / a_symmetric False: a zero point per scale (bytes and dequantize ops).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

import hw_models
from kernels import AccMode
from stamp_sim.config import PrecisionConfig, get_preset

__all__ = ["EXACT_ACC_BITS", "layer_precision", "price_workload"]

# What an "exact" accumulator is priced as: the 32-bit register integer hardware has.
EXACT_ACC_BITS = 32


def layer_precision(config: PrecisionConfig) -> hw_models.LayerPrecision:
    """The hw_models.LayerPrecision that prices `config` (see the module docstring)."""
    acc = config.accumulator
    exact = acc is None or acc.mode is AccMode.EXACT
    mixed = config.a_bits is not None and config.high_rows > 0 and config.a_high_bits > config.a_bits
    return hw_models.LayerPrecision(
        w_bits=config.w_bits,
        a_bits=config.a_bits,
        a_high_bits=config.a_high_bits if mixed else None,
        high_rows=config.high_rows if mixed else 0,
        acc_bits=EXACT_ACC_BITS if exact else acc.bits,
        acc_tile=None if exact else acc.tile,
        acc_outer_bits=None if exact else acc.outer_bits,
        seq_transform=config.seq_transform,
        seq_levels=config.seq_levels,
        feature_transform=config.feature_transform,
        w_granularity=config.w_granularity,
        w_group_size=config.w_group_size if config.w_granularity == "per-group" else None,
        a_granularity=config.a_granularity,
        a_group_size=config.a_group_size if config.a_granularity == "per-group" else None,
        w_zero_points=config.w_bits is not None and not config.w_symmetric,
        a_zero_points=config.a_bits is not None and not config.a_symmetric,
    )


def price_workload(
    workload: pd.DataFrame,
    configs: Iterable[PrecisionConfig | str],
    profiles: Sequence[hw_models.HardwareProfile | str],
    phases: Sequence[str] = ("prefill", "decode"),
) -> pd.DataFrame:
    """Price a workload (columns layer, tokens or s, k, n) for configs on profiles.

    configs : PrecisionConfig objects or preset names. Returns hw_models.price's table,
    one row per (profile, config, phase, layer); ``hw_models.totals`` sums it per model.
    """
    if "tokens" not in workload.columns and "s" in workload.columns:
        workload = workload.rename(columns={"s": "tokens"})
    resolved = [get_preset(c) if isinstance(c, str) else c for c in configs]
    names = [c.name for c in resolved]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"config names must be unique; repeated: {repeated}")
    return hw_models.price(workload, {c.name: layer_precision(c) for c in resolved}, profiles, phases)
