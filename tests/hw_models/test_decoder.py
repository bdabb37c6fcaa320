"""hw_models.price_decoder against hand-counted cases on the `tiny` profile (1 byte/ns DRAM
at 100 pJ/byte, 1 vector op/ns at 0.5 pJ, SRAM 1 pJ/byte, fp16 multiply 2 pJ, fp32 add 1 pJ),
and the shape of its growth with context."""

import numpy as np
import pytest

from stamp_sim import hw_models
from stamp_sim.hw_models import DecoderShape, KVPrecision, price_decoder

# One block: hidden 4, two query heads sharing one K / V head of 2 features, MLP 8.
SHAPE = DecoderShape(layers=1, hidden=4, heads=2, kv_heads=1, head_dim=2, intermediate=8, vocab=16)


@pytest.fixture(scope="module")
def tiny():
    return hw_models.load_profile("tiny")


def _row(frame, kind):
    rows = frame[frame.kind == kind]
    assert len(rows) == 1, kind
    return rows.iloc[0]


def test_decode_at_context_3_by_hand(tiny):
    d = price_decoder(SHAPE, tiny, "decode", 1, context=3)
    # The new token attends to 3 cached tokens and itself: 4 keys.
    scores = _row(d, "scores")
    assert scores["n"] == 4 and scores["k"] == 2
    assert scores["macs"] == 1 * 4 * 2 * 2  # queries x keys x heads x head_dim
    # K of 4 tokens in fp16: 4 x 2 features x 2 bytes; Q in and scores out: 1 x 2 heads x 2 x 2 bytes.
    assert scores["kv_bytes"] == 16 and scores["dram_bytes"] == 16 + 8
    assert scores["dram_pj"] == 2400 and scores["mac_pj"] == 16 * 2 and scores["accumulate_pj"] == 16
    assert scores["memory_s"] == pytest.approx(24e-9)
    assert _row(d, "values")["dram_bytes"] == 24
    # One token's K and V appended: 2 x 2 features x 2 bytes.
    write = _row(d, "kv_write")
    assert write["kv_bytes"] == 8 and write["dram_bytes"] == 8 and write["energy_pj"] == 800 + 8
    # The embedding row: 4 fp16 features gathered and written out.
    emb = _row(d, "embedding")
    assert emb["dram_bytes"] == 16 and emb["energy_pj"] == 1600 + 16 and emb["weight_bytes"] == 0  # tied
    # Softmax over 4 keys x 2 heads at 5 ops each, on a 1 op/ns unit; fp16 in and out of SRAM.
    soft = _row(d, "softmax")
    assert soft["vector_ops"] == 40 and soft["latency_s"] == pytest.approx(40e-9)
    assert soft["energy_pj"] == 40 * 0.5 + 2 * 8 * 2
    # RMSNorm of 4 features at 4 ops: 16 ns, no DRAM (fused next to its GEMM).
    norm = d[d.layer == "model.layers.0.input_norm"].iloc[0]
    assert norm["latency_s"] == pytest.approx(16e-9) and norm["dram_bytes"] == 0
    assert d["dram_bytes"].sum() == 16 + 8 + 24 + 24


def test_kv4_cache_is_read_at_its_width_and_dequantized(tiny):
    d = price_decoder(SHAPE, tiny, "decode", 1, context=3, kv=KVPrecision(bits=4))
    scores = _row(d, "scores")
    # K of 4 tokens at 4 bits (4 x 2 x 4 / 8 = 4 bytes) plus an fp16 scale per token (8 bytes).
    assert scores["kv_bytes"] == 12 and scores["dram_bytes"] == 12 + 8
    assert scores["vector_ops"] == 2 * 4 * 1 * 2  # dequantize: 2 ops per cached element
    write = _row(d, "kv_write")
    assert write["vector_ops"] == 3 * 2 * 1 * 1 * 2  # quantize the new K and V: 3 ops per element


def test_prefill_is_causal_and_writes_every_token(tiny):
    d = price_decoder(SHAPE, tiny, "prefill", 3)
    scores = _row(d, "scores")
    assert scores["macs"] == (3 * 4 / 2) * 2 * 2  # s (s + 1) / 2 scores per head
    assert scores["n"] == 2  # the GEMM runs (s + 1) / 2 keys on average
    assert _row(d, "kv_write")["kv_bytes"] == 3 * 2 * 2 * 2
    assert _row(d, "softmax")["vector_ops"] == 6 * 2 * 5


def test_decode_grows_linearly_with_context():
    npu = hw_models.load_profile("npu")
    shape = DecoderShape(layers=4, hidden=576, heads=9, kv_heads=3, head_dim=64, intermediate=1536, vocab=49152)
    contexts = np.array([1023, 2047, 3071, 4095])
    costs = [price_decoder(shape, npu, "decode", 1, context=int(c)) for c in contexts]
    dram = np.array([c["dram_bytes"].sum() for c in costs])
    energy = np.array([c["energy_pj"].sum() for c in costs])
    latency = np.array([c["latency_s"].sum() for c in costs])
    for series in (dram, energy, latency):
        steps = np.diff(series)
        assert steps.min() > 0
        assert steps == pytest.approx(np.full(3, steps.mean()), rel=1e-3)


def test_call_overhead_is_one_row_and_bad_input_is_refused(tiny):
    import dataclasses

    slow = dataclasses.replace(tiny, efficiency=dataclasses.replace(tiny.efficiency, call_overhead_us=7.0))
    d = price_decoder(SHAPE, slow, "decode", 1, context=3)
    assert _row(d, "call")["latency_s"] == pytest.approx(7e-6)
    assert d["latency_s"].sum() == pytest.approx(price_decoder(SHAPE, tiny, "decode", 1, context=3)
                                                 ["latency_s"].sum() + 7e-6)
    with pytest.raises(ValueError, match="kv_heads"):
        DecoderShape(layers=1, hidden=4, heads=3, kv_heads=2, head_dim=2, intermediate=8, vocab=16)
    with pytest.raises(ValueError, match="context"):
        price_decoder(SHAPE, tiny, "decode", 1, context=-1)


def test_a_stamp_cache_is_read_with_its_high_rows_and_inverse_transform(tiny):
    plain = KVPrecision(bits=4)
    stamp = KVPrecision(bits=4, high_tokens=2, high_bits=8, seq_transform="dwt", seq_levels=1)
    a = _row(price_decoder(SHAPE, tiny, "decode", 1, context=7, kv=plain), "scores")
    b = _row(price_decoder(SHAPE, tiny, "decode", 1, context=7, kv=stamp), "scores")
    # 8 keys: 2 rows at 8 bits instead of 4 add 2 x 2 features x 4 bits / 8 = 2 bytes to K.
    assert b["kv_bytes"] == a["kv_bytes"] + 2
    one_head = hw_models.KVCacheShape(layers=1, kv_heads=1, head_dim=2)
    inverse = stamp.cache_cost(tiny, one_head, 8).transform_pj / 4  # K's inverse transform
    assert inverse > 0
    assert b["vector_pj"] == pytest.approx(a["vector_pj"] + inverse)
