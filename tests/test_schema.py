"""The results schema: one declaration per column, energy terms covered once, units converted once."""

import collections

import pandas as pd
import pytest

from stamp_sim import hw_models
from stamp_sim.schema import (
    COST_COLUMNS,
    LAYERS_COLUMNS,
    RESULTS_COLUMNS,
    RUN_SUMMARY,
    Source,
    column,
    convert,
)

# ARCHITECTURE.md's results.csv contract: these columns always exist, with these meanings.
CONTRACT = ("config", "hw", "w_bits", "a_bits", "avg_a_bits", "acc_bits", "seq_transform", "feature_transform",
            "ppl", "kl", "sqnr_db", "energy_mj", "latency_ms", "weight_mb", "act_mb", "overflow_rate")


def test_columns_are_declared_once_and_cover_the_contract():
    for table in (RESULTS_COLUMNS, LAYERS_COLUMNS):
        names = [c.name for c in table]
        assert len(names) == len(set(names))
    assert set(CONTRACT) <= {c.name for c in RESULTS_COLUMNS}
    assert set(RUN_SUMMARY) <= {c.name for c in RESULTS_COLUMNS}
    assert all(c.unit or c.name not in ("energy_mj", "latency_ms") for c in RESULTS_COLUMNS)


def test_energy_components_add_up_to_energy_mj():
    table = hw_models.price(pd.DataFrame({"layer": ["q"], "tokens": [300], "k": [576], "n": [192]}),
                            {"p": hw_models.LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=64,
                                                           seq_transform="dwt", feature_transform="hadamard")},
                            ["npu"])
    row = hw_models.totals(table).iloc[0]
    parts = sum(c.from_totals(row) for c in COST_COLUMNS if c.name.startswith("e_"))
    assert parts == pytest.approx(column("energy_mj").from_totals(row), rel=1e-12)


def test_every_energy_term_feeds_exactly_one_component_column():
    components = [c for c in COST_COLUMNS if c.name.startswith("e_") and c.source is Source.PREFILL]
    fed = collections.Counter(t for c in components for t in c.terms)
    assert set(fed) == set(hw_models.ENERGY_TERMS), "an energy term has no e_*_mj column (or a stale one)"
    assert all(n == 1 for n in fed.values()), fed
    assert column("energy_mj").terms == column("decode_energy_mj").terms == ("energy_pj",)


def test_cost_columns_from_a_totals_row():
    totals = {t: 1e9 for t in hw_models.ENERGY_TERMS} | {"latency_s": 0.002, "latency_overlap_s": 0.001,
                                                        "weight_bytes": 3e6, "act_bytes": 5e5, "energy_pj": 7e9}
    assert column("energy_mj").from_totals(totals) == pytest.approx(7.0)
    assert column("e_transform_mj").from_totals(totals) == pytest.approx(2.0)  # sequence + feature
    assert column("latency_ms").from_totals(totals) == pytest.approx(2.0)
    assert column("weight_mb").from_totals(totals) == pytest.approx(3.0)


def test_conversions_and_unknown_units():
    assert convert(2.5e9, "pJ", "mJ") == pytest.approx(2.5)
    assert convert(0.5, "s", "us") == pytest.approx(5e5)
    assert convert(7.0, "ms", "ms") == 7.0
    with pytest.raises(ValueError, match="no conversion from 'mJ' to 'pJ'"):
        convert(1.0, "mJ", "pJ")
    with pytest.raises(ValueError, match="not declared"):
        column("no_such_column")
