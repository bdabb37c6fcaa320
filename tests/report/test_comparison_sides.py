"""The report's comparisons say what each side's weights and KV cache are."""

import pandas as pd

from stamp_sim.report.text import findings


def _results():
    rows = [
        dict(config="quarot", weight_method="gptq", kv_bits=4, avg_kv_bits=4.125, avg_a_bits=4.125, ppl=30.0,
             baseline="", baseline_change=""),
        dict(config="quarot-stamp", weight_method="gptq", kv_bits=4, avg_kv_bits=4.125, avg_a_bits=4.125, ppl=28.0,
             baseline="quarot", baseline_change="seq_transform identity -> dwt"),
        dict(config="rtn", weight_method="rtn", kv_bits=16, avg_kv_bits=16, avg_a_bits=4.125, ppl=40.0,
             baseline="", baseline_change=""),
        dict(config="rtn-stamp", weight_method="rtn", kv_bits=16, avg_kv_bits=16, avg_a_bits=4.125, ppl=41.0,
             baseline="rtn", baseline_change="seq_transform identity -> dwt"),
    ]
    return pd.DataFrame(rows)


def _section(title_start):
    return next(s for s in findings(_results()) if s.title.startswith(title_start))


def test_comparison_names_the_weight_method_and_kv_width_of_both_sides():
    items = " ".join(_section("quarot-stamp vs quarot").items)
    assert "Weights: GPTQ for quarot-stamp, GPTQ for quarot." in items
    assert "a 4-bit KV cache" in items and "float KV cache" not in items


def test_a_float_cache_is_called_float():
    items = " ".join(_section("rtn-stamp vs rtn").items)
    assert "Weights: RTN for rtn-stamp, RTN for rtn." in items
    assert "a float KV cache for rtn-stamp, a float KV cache for rtn" in items
