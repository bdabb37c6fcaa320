"""pareto_front and best_under_budgets against brute-force definitions."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.report import ReportError, best_under_budgets, dominators, pareto_front


def brute_front(cost, quality, higher):
    n = len(cost)
    out = []
    for i in range(n):
        if not (math.isfinite(cost[i]) and math.isfinite(quality[i])):
            out.append(False)
            continue
        dominated = False
        for j in range(n):
            if j == i or not (math.isfinite(cost[j]) and math.isfinite(quality[j])):
                continue
            q_ge = quality[j] >= quality[i] if higher else quality[j] <= quality[i]
            q_gt = quality[j] > quality[i] if higher else quality[j] < quality[i]
            if cost[j] <= cost[i] and q_ge and (cost[j] < cost[i] or q_gt):
                dominated = True
                break
        out.append(not dominated)
    return out


# Small integer grids make ties on cost, quality and both frequent.
values = st.one_of(st.integers(0, 5).map(float), st.just(float("nan")),
                   st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
tables = st.integers(0, 12).flatmap(lambda n: st.tuples(st.lists(values, min_size=n, max_size=n),
                                                        st.lists(values, min_size=n, max_size=n)))


@settings(max_examples=300, deadline=None)
@given(tables, st.booleans())
def test_pareto_front_matches_brute_force(data, higher):
    cost, quality = data
    df = pd.DataFrame({"c": cost, "q": quality}, index=[f"r{i}" for i in range(len(cost))], dtype=float)
    mask = pareto_front(df, "c", "q", higher)
    assert mask.index.equals(df.index) and mask.dtype == bool
    assert mask.tolist() == brute_front(cost, quality, higher)
    dom = dominators(df, "c", "q", higher)
    assert [d is None for d in dom] == [m or not (math.isfinite(c) and math.isfinite(q))
                                         for m, c, q in zip(mask, cost, quality)]


@settings(max_examples=200, deadline=None)
@given(tables, st.booleans(), st.lists(st.floats(-10, 10), min_size=1, max_size=4))
def test_best_under_budgets_matches_brute_force(data, higher, budgets):
    cost, quality = data
    df = pd.DataFrame({"c": cost, "q": quality, "config": [f"k{i}" for i in range(len(cost))]})
    out = best_under_budgets(df, "c", "q", higher, budgets)
    assert out["budget"].tolist() == budgets
    for (_, row), budget in zip(out.iterrows(), budgets):
        fits = [i for i in range(len(cost)) if math.isfinite(cost[i]) and math.isfinite(quality[i])
                and cost[i] <= budget]
        assert bool(row["feasible"]) == bool(fits)
        if fits:
            best_q = max(quality[i] for i in fits) if higher else min(quality[i] for i in fits)
            assert row["q"] == best_q and row["c"] <= budget
            tied = [i for i in fits if quality[i] == best_q]
            assert row["c"] == min(cost[i] for i in tied)


def test_ties_and_nan_explicit():
    df = pd.DataFrame({"config": list("abcde"), "e": [1.0, 1.0, 2.0, 0.5, np.nan], "ppl": [10, 10, 9, np.nan, 1]})
    assert pareto_front(df, "e", "ppl", higher_is_better=False).tolist() == [True, True, True, False, False]


def test_missing_column_is_named():
    with pytest.raises(ReportError, match="ppl"):
        pareto_front(pd.DataFrame({"e": [1.0]}), "e", "ppl", False)
