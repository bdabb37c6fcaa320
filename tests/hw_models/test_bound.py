"""One rule for `bound` (hw_models.bound_of) behind price, LayerCost and totals."""

import doctest

import numpy as np
import pandas as pd

from stamp_sim import hw_models
from stamp_sim.hw_models import LayerCost, LayerPrecision, bound_of, is_memory_bound, price, totals


def test_bound_of_scalars_and_arrays():
    assert bound_of(2.0, 1.0) == "memory"
    assert bound_of(1.0, 2.0) == "compute"
    assert bound_of(1.0, 1.0) == "compute"  # a tie is compute bound
    assert list(bound_of(np.array([3.0, 1.0, 2.0]), np.array([2.0, 2.0, 2.0]))) == ["memory", "compute", "compute"]
    assert is_memory_bound(np.array([3.0, 1.0]), 2.0).tolist() == [True, False]
    assert hw_models.BOUNDS == ("compute", "memory")


def test_docstring_examples_run():
    assert doctest.testmod(hw_models.bound, raise_on_error=True).attempted > 0


def _frame():
    workload = pd.DataFrame({"layer": ["a", "b", "c"], "tokens": [1, 2048, 5], "k": [576, 576, 4096], "n": [576, 1536, 4096]})
    precs = {"w4a8": LayerPrecision(w_bits=4, a_bits=8), "fp": LayerPrecision()}
    return price(workload, precs, ["npu", "gpu", "tiny"], ["prefill", "decode"])


def test_price_layercost_and_totals_share_the_rule():
    frame = _frame()
    assert list(frame.bound) == list(bound_of(frame.memory_s.to_numpy(), frame.compute_s.to_numpy()))
    for i in range(len(frame)):
        assert LayerCost.from_frame(frame.iloc[[i]]).bound == frame.bound.iloc[i]
    summed = totals(frame)
    by = ["hw", "config", "phase"]
    for _, group_total in summed.iterrows():
        group = frame[(frame[by] == group_total[by]).all(axis=1)]
        cost = LayerCost.from_frame(group)
        assert group_total.bound == cost.bound == bound_of(group_total.memory_s, group_total.compute_s)
        assert group_total.memory_bound_share == (group.bound == "memory").mean()
    assert set(summed.bound) == {"compute", "memory"}  # this workload has both
    assert 0 < summed.memory_bound_share.max() and summed.memory_bound_share.min() < 1
