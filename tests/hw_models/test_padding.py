"""The padding rule hw_models owns (and the toolkit's executed transforms call)."""

import numpy as np
import pandas as pd
import pytest
import pywt
from hypothesis import given, settings
from hypothesis import strategies as st

from stamp_sim import hw_models
from stamp_sim.hw_models import LayerPrecision, SeqTransform, dwt_max_level, effective_levels, padded_rows, price
from stamp_sim.hw_models.transform_ops import SEQ_CODES, seq_transform_ops_per_feature

DWT, DWT2D, WHT = (SEQ_CODES[t] for t in (SeqTransform.DWT, SeqTransform.DWT2D, SeqTransform.WHT))
UNPADDED = [SEQ_CODES[t] for t in (SeqTransform.IDENTITY, SeqTransform.DCT, SeqTransform.KLT)]


def test_dwt_max_level_matches_pywavelets():
    n = np.arange(1, 2049)
    for f in (2, 4, 6, 8, 10, 12, 16, 20, 30, 62):
        expected = [pywt.dwt_max_level(int(i), f) for i in n]
        np.testing.assert_array_equal(dwt_max_level(n, f), expected, err_msg=f"filter length {f}")
    assert dwt_max_level(100, 1) == 0 and dwt_max_level(100, 0) == 0  # f < 2: no transform


@pytest.mark.parametrize(
    "tokens, levels, filter_length, rows",
    [
        (3, 3, 2, 4),  # Haar on 3 tokens: dwt_max_level(3, 2) = 1 level -> a multiple of 2
        (1, 3, 2, 1),  # one token is never transformed
        (5, 3, 4, 5),  # db2: dwt_max_level(5, 4) = floor(log2(5 / 3)) = 0 -> no transform
        (2048, 3, 2, 2048),  # already a multiple of 8
        (2049, 3, 2, 2056),  # 2049 -> ceil(2049 / 8) * 8
        (7, 3, 2, 8),  # dwt_max_level(7, 2) = 2 levels -> a multiple of 4
        (12, 3, 4, 12),  # db2: dwt_max_level(12, 4) = floor(log2(4)) = 2 -> a multiple of 4
    ],
)
def test_dwt_padding_by_hand(tokens, levels, filter_length, rows):
    assert padded_rows(tokens, DWT, levels, filter_length) == rows


def test_other_transforms_pad_as_before():
    assert padded_rows(5, WHT, 3) == 8
    assert padded_rows(6, DWT2D, 1) == 16  # 3x3 grid -> 4x4, levels not capped
    assert padded_rows(3, DWT2D, 3) == 64  # 2x2 grid -> 8x8
    assert [int(padded_rows(5, code, 3)) for code in UNPADDED] == [5, 5, 5]
    assert [int(padded_rows(1, code, 3)) for code in [DWT, DWT2D, WHT, *UNPADDED]] == [1] * 6


def test_effective_levels_and_ops_agree_with_rows():
    assert effective_levels([1, 2, 3, 4, 8, 9, 2049], 3).tolist() == [0, 1, 1, 2, 3, 3, 3]
    # 3 tokens, Haar, 3 levels asked: 1 level on 4 rows, 2 x 4 x (2 - 2^0) = 8 ops per feature.
    assert seq_transform_ops_per_feature(4, DWT, 3, 2, tokens=3) == 8.0
    assert seq_transform_ops_per_feature(5, DWT, 3, 4, tokens=5) == 0.0  # db2 on 5 tokens: none
    assert seq_transform_ops_per_feature(1, DWT2D, 3) == 0.0  # one row: never transformed


def test_price_uses_the_rule_and_the_filter_length():
    stamp = LayerPrecision(w_bits=4, a_bits=4, seq_transform="dwt", seq_levels=3)
    work = pd.DataFrame({"tokens": [1, 3, 5, 2049], "k": [8, 8, 8, 8], "n": [8, 8, 8, 8]})
    haar = price(work, {"haar": stamp, "db2": stamp.replace(seq_filter_length=4)}, ["tiny"])
    # Haar: 5 tokens take 2 levels -> 8; db2: 3 and 5 tokens take none (dwt_max_level 0).
    assert haar.rows.tolist() == [1, 4, 8, 2056, 1, 3, 5, 2056]
    one_token = haar[haar.tokens == 1]
    assert (one_token.seq_transform == "identity").all() and (one_token.seq_transform_ops == 0).all()
    db2_five = haar[(haar.config == "db2") & (haar.tokens == 5)].iloc[0]
    assert db2_five.seq_transform_ops == 0 and db2_five.seq_transform_pj == 0
    klt = price(work.head(1), {"klt": stamp.replace(seq_transform="klt")}, ["tiny"]).iloc[0]
    assert klt.klt_macs == 0 and klt.transform_bytes == 0


@pytest.mark.parametrize("bad", [0, 1, -2, 2.0, True, None])
def test_seq_filter_length_is_validated(bad):
    with pytest.raises(ValueError, match="seq_filter_length"):
        LayerPrecision(seq_filter_length=bad)


@settings(max_examples=300, deadline=None)
@given(
    tokens=st.integers(1, 1 << 20),
    levels=st.integers(1, 16),
    filter_length=st.sampled_from([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 62]),
)
def test_dwt_rows_are_the_smallest_multiple_of_the_levels_that_run(tokens, levels, filter_length):
    j = int(effective_levels(tokens, levels, filter_length))
    assert j == min(levels, pywt.dwt_max_level(tokens, filter_length))
    rows = int(padded_rows(tokens, DWT, levels, filter_length))
    if tokens <= 1 or j == 0:
        assert rows == tokens
    else:
        assert rows % (1 << j) == 0 and tokens <= rows < tokens + (1 << j)
        # The padded length needs no more levels than it can take: the transform runs as priced.
        assert j <= pywt.dwt_max_level(rows, filter_length)
    # Vectorized: a batch gives each entry what it gives alone.
    batch = padded_rows(np.array([tokens, 3, 1]), np.array([DWT] * 3), np.array([levels, 3, 3]), np.array([filter_length, 2, 2]))
    assert batch[0] == rows and batch.tolist()[1:] == [4, 1]
