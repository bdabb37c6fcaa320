import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.quant import allocate_bits, row_energy


def test_first_k_exact_average_bits():
    a = allocate_bits(rows=4096, method="first-k", k=64)
    assert a.avg_bits == 4.0625
    assert a.bits[:64].eq(8).all() and a.bits[64:].eq(4).all()


def test_magnitude_picks_highest_energy_rows():
    x = torch.ones(10, 4)
    x[[2, 7]] *= 10
    a = allocate_bits(x, "magnitude", k=2)
    assert a.bits.tolist() == [4, 4, 8, 4, 4, 4, 4, 8, 4, 4]


def _bound(e, bits):
    return float((e / (2.0 ** bits.double() - 1) ** 2).sum())


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 7), k=st.integers(0, 7), seed=st.integers(0, 10_000),
       allowed=st.sampled_from([(4, 8), (2, 3, 4), (3, 4, 5, 6), (2, 4, 6, 8)]))
def test_energy_allocation_is_optimal_by_brute_force(rows, k, seed, allowed):
    g = torch.Generator().manual_seed(seed)
    e = torch.rand(rows, generator=g, dtype=torch.float64) ** 4 * 100
    lo, hi = allowed[0], allowed[-1]
    a = allocate_bits(energy=e, method="energy", k=k, low_bits=lo, high_bits=hi, allowed=allowed)
    budget = min(k, rows) * hi + (rows - min(k, rows)) * lo
    assert a.total_bits <= budget
    best = min(
        _bound(e, torch.tensor(c))
        for c in itertools.product(allowed, repeat=rows)
        if sum(c) <= budget
    )
    assert _bound(e, a.bits) == pytest.approx(best, rel=1e-12)


def test_energy_allocation_batched_per_sequence():
    x = torch.zeros(2, 8, 3)
    x[0, 1] = 5
    x[1, 6] = 5
    a = allocate_bits(x, "energy", k=1)
    assert a.bits[0].argmax() == 1 and a.bits[1].argmax() == 6
    assert a.avg_bits == 4.5


def test_row_energy():
    assert row_energy(torch.tensor([[3.0, 4.0], [1.0, 0.0]])).tolist() == [25.0, 1.0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "best"}, "method='best'"),
        ({"method": "first-k", "k": -1}, "k=-1"),
        ({"method": "first-k", "low_bits": 1}, "low_bits=1"),
        ({"method": "energy", "avg_bits": 1.0}, "avg_bits"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        allocate_bits(torch.randn(16, 4), **kwargs)
