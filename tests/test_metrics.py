import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim.metrics import (
    cosine_similarity,
    energy_concentration,
    kl_divergence,
    perplexity,
    sqnr_db,
    theorem1_bound,
    top1_agreement,
)
from stamp_sim.quant import allocate_bits, quantize
from stamp_sim.transforms import sequence_transform


def test_sqnr_hand_computed():
    ref = np.array([3.0, 4.0])  # signal 25
    approx = np.array([3.0, 3.5])  # noise 0.25 -> ratio 100 -> 20 dB
    assert sqnr_db(ref, approx) == pytest.approx(20.0)
    assert sqnr_db(ref, ref) == math.inf


def test_energy_concentration_first_and_top():
    x = torch.tensor([[1.0, 0.0], [0.0, 3.0], [0.0, 0.0]])  # energies 1, 9, 0
    assert energy_concentration(x, 1) == pytest.approx(0.1)
    assert energy_concentration(x, 1, rows="top") == pytest.approx(0.9)


def test_kl_ppl_top1_cosine():
    p = torch.tensor([[0.0, 0.0]])
    q = torch.tensor([[0.0, math.log(3.0)]])  # Q = (1/4, 3/4)
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence(p, q) == pytest.approx(expected)
    assert kl_divergence(p, p) == 0.0
    assert perplexity(torch.zeros(5, 4), torch.zeros(5, dtype=torch.long)) == pytest.approx(4.0)
    assert top1_agreement(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]])) == 0.5
    assert cosine_similarity(torch.ones(3, 4), 2 * torch.ones(3, 4)) == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(tokens=st.integers(2, 96), d=st.integers(1, 24), levels=st.integers(1, 3), symmetric=st.booleans(),
       transform=st.sampled_from(["identity", "dwt", "dct", "wht"]), k=st.integers(0, 16),
       seed=st.integers(0, 2**31 - 1))
def test_measured_error_never_above_theorem1_bound(tokens, d, levels, symmetric, transform, k, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, d, generator=g, dtype=torch.float64).cumsum(0)  # correlated tokens
    levels = min(levels, tokens.bit_length() - 1)  # deeper levels are refused for short inputs
    params = {"levels": levels} if transform == "dwt" else {}
    L = sequence_transform(transform, **params)
    z = L.forward(x)
    bits = allocate_bits(z, "first-k", k=k).bits
    zq = quantize(z, bits, "per-token", symmetric=symmetric).dequantize()
    measured = float((L.inverse(zq, tokens=tokens) - x).pow(2).sum())
    assert measured <= theorem1_bound(z, bits, symmetric=symmetric) * (1 + 1e-9) + 1e-12


def test_sqnr_is_safe_on_zero_signals():
    from stamp_sim.metrics import sqnr_from_sums

    assert sqnr_db(np.zeros(4), np.zeros(4)) == math.inf  # nothing to get wrong: exact
    assert sqnr_db(np.zeros(4), np.ones(4)) == -math.inf
    assert sqnr_from_sums(0.0, 0.0) == math.inf and sqnr_from_sums(0.0, 1.0) == -math.inf
    assert sqnr_from_sums(100.0, 1.0) == pytest.approx(20.0)


def test_next_token_accuracy_over_windows_equals_the_pooled_metrics():
    from stamp_sim.metrics import NextTokenAccuracy, next_token_nll

    g = torch.Generator().manual_seed(0)
    ref, out = torch.randn(3, 9, 11, generator=g), torch.randn(3, 9, 11, generator=g)
    ids = torch.randint(0, 11, (3, 9), generator=g)
    acc = NextTokenAccuracy()
    for i in range(3):  # one window at a time, as stamp-sim run evaluates
        acc.add(ref[i : i + 1], out[i : i + 1], ids[i : i + 1])
    res = acc.result()
    assert res["ppl"] == pytest.approx(perplexity(out[:, :-1], ids[:, 1:]), rel=1e-12)
    assert res["ppl"] == pytest.approx(math.exp(next_token_nll(out, ids)), rel=1e-12)
    assert res["kl"] == pytest.approx(kl_divergence(ref, out), rel=1e-12)
    assert res["top1"] == pytest.approx(top1_agreement(ref, out))


def test_chunked_accumulation_equals_one_pass():
    # NextTokenAccuracy walks long windows in chunks of positions; the sums must not change.
    import torch.nn.functional as F

    from stamp_sim.metrics import NextTokenAccuracy, kl_divergence

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 601, 37, generator=g)
    out = ref + 0.3 * torch.randn(2, 601, 37, generator=g)
    ids = torch.randint(0, 37, (2, 601), generator=g)
    acc = NextTokenAccuracy()
    acc.add(ref, out, ids)
    res = acc.result()
    nll = F.cross_entropy(out[:, :-1].reshape(-1, 37).double(), ids[:, 1:].reshape(-1), reduction="mean")
    assert res["kl"] > 0.01
    assert math.isclose(res["kl"], kl_divergence(ref, out), rel_tol=1e-12)
    assert math.isclose(res["ppl"], math.exp(float(nll)), rel_tol=1e-12)


def test_sums_over_many_elements_do_not_depend_on_the_thread_count():
    """A Dask worker runs torch with one thread; the sums must carry the same bits anyway."""
    import math

    import torch

    from stamp_sim.metrics import SignalNoise, kl_divergence, mean_squared_error

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2_000_003, generator=g, dtype=torch.float64) * 1e3
    approx = ref + torch.randn(2_000_003, generator=g, dtype=torch.float64)
    threads = torch.get_num_threads()
    sums = []
    try:
        for n in (1, 2, 4):
            torch.set_num_threads(n)
            s = SignalNoise()
            s.add(ref, approx)
            logits = ref[: 64 * 1000].reshape(64, 1000)
            sums.append((s.signal, s.noise, mean_squared_error(ref, approx),
                         kl_divergence(logits / 1e3, approx[: 64 * 1000].reshape(64, 1000) / 1e3)))
    finally:
        torch.set_num_threads(threads)
    assert sums[0] == sums[1] == sums[2]
    assert sums[0][1] == pytest.approx(math.fsum(((ref - approx) ** 2).tolist()), rel=1e-12)
