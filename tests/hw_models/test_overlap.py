import numpy as np
import pandas as pd

from stamp_sim import hw_models


def test_overlapped_latency_is_the_optimistic_end_of_the_range():
    work = pd.DataFrame({"layer": ["a", "b", "c"], "tokens": [512, 2048, 64], "k": [576, 576, 1536],
                         "n": [1536, 192, 576]})
    stamp = hw_models.LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=64, seq_transform="dwt")
    plain = stamp.replace(seq_transform="identity")
    t = hw_models.price(work, {"stamp": stamp, "plain": plain}, ["npu", "tiny"], ["prefill", "decode"])
    vector = t.seq_transform_s + t.feature_transform_s + t.requant_s
    # By definition, per layer: max(MAC, vector, DRAM) against max(MAC + vector, DRAM).
    np.testing.assert_allclose(t.latency_overlap_s, np.maximum(np.maximum(t.mac_s, vector), t.memory_s))
    assert (t.latency_overlap_s <= t.latency_s + 1e-18).all()
    assert (t.latency_overlap_s >= np.maximum(t.mac_s, t.memory_s) - 1e-18).all()
    # It is additive over layers like the other time terms.
    tot = hw_models.totals(t)
    per = t.groupby(["hw", "config", "phase"], observed=True).latency_overlap_s.sum()
    for _, row in tot.iterrows():
        assert np.isclose(row.latency_overlap_s, per[(row.hw, row.config, row.phase)])
