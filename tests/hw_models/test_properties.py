"""Properties of the cost model over hypothesis-drawn shapes, precisions and profiles."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stamp_sim import hw_models
from stamp_sim.hw_models import ENERGY_TERMS, TIME_TERMS, LayerCost, LayerPrecision, price, totals

PROFILES = [hw_models.load_profile(n) for n in hw_models.builtin_names()]
SEQ = ["identity", "dwt", "dwt2d", "dct", "wht", "klt"]
FEATURE = ["none", "hadamard", "smoothquant", "hadamard-folded"]
BYTES = ("weight_bytes", "act_bytes", "out_bytes", "dram_bytes", "sram_bytes")

shapes = st.fixed_dictionaries(
    {"tokens": st.integers(1, 3000), "k": st.integers(1, 2048), "n": st.integers(1, 2048)}
)
profiles = st.sampled_from(PROFILES)
phases = st.sampled_from(["prefill", "decode"])


@st.composite
def int_precisions(draw):
    a = draw(st.integers(2, 8))
    return LayerPrecision(
        w_bits=draw(st.integers(2, 8)),
        a_bits=a,
        a_high_bits=draw(st.integers(a, 8)),
        high_rows=draw(st.integers(0, 128)),
        acc_bits=draw(st.integers(8, 40)),
        seq_transform=draw(st.sampled_from(SEQ)),
        seq_levels=draw(st.integers(1, 4)),
        feature_transform=draw(st.sampled_from(FEATURE)),
    )


def row(shape, precision, profile, phase):
    frame = price(pd.DataFrame({k: [v] for k, v in shape.items()}), {"p": precision}, [profile], [phase])
    return frame.iloc[0]


def no_more(cheap, dear, columns):
    for col in columns:
        assert cheap[col] <= dear[col] * (1 + 1e-12), (col, cheap[col], dear[col])


@settings(max_examples=120, deadline=None)
@given(shape=shapes, p=int_precisions(), profile=profiles, phase=phases, data=st.data())
def test_fewer_bits_never_cost_more(shape, p, profile, phase, data):
    w = data.draw(st.integers(2, p.w_bits))
    a = data.draw(st.integers(2, p.a_bits))
    ah = data.draw(st.integers(a, p.a_high_bits))
    fewer = p.replace(w_bits=w, a_bits=a, a_high_bits=ah)
    no_more(row(shape, fewer, profile, phase), row(shape, p, profile, phase), ("energy_pj",) + BYTES)


@settings(max_examples=80, deadline=None)
@given(shape=st.fixed_dictionaries({"tokens": st.integers(1, 3000), "k": st.integers(16, 2048), "n": st.integers(16, 2048)}),
       profile=profiles, phase=phases)
def test_int8_never_costs_more_than_fp16(shape, profile, phase):
    # K, N >= 16: below that, fp16 scales (2 bytes per channel and per token) and the
    # quantize/dequantize ops really do outweigh what 8-bit operands save.
    no_more(
        row(shape, LayerPrecision(w_bits=8, a_bits=8), profile, phase),
        row(shape, LayerPrecision(), profile, phase),
        ("mac_pj", "accumulate_pj", "energy_pj") + BYTES,
    )


@settings(max_examples=120, deadline=None)
@given(shape=shapes, p=int_precisions(), profile=profiles, phase=phases, data=st.data())
def test_narrower_accumulator_never_costs_more_energy(shape, p, profile, phase, data):
    tile = data.draw(st.one_of(st.none(), st.integers(1, 256)))
    outer = None if tile is None else data.draw(st.integers(p.acc_bits, 64))
    wide = p.replace(acc_tile=tile, acc_outer_bits=outer)
    narrow = wide.replace(
        acc_bits=data.draw(st.integers(2, p.acc_bits)),
        acc_outer_bits=None if tile is None else data.draw(st.integers(2, outer)),
    )
    no_more(row(shape, narrow, profile, phase), row(shape, wide, profile, phase), ("accumulate_pj", "energy_pj"))


@settings(max_examples=100, deadline=None)
@given(shape=shapes, profile=profiles, seq=st.sampled_from(SEQ[1:]), levels=st.integers(1, 4))
def test_stamp_pays_a_transform_and_its_4bit_rows_cost_less(shape, profile, seq, levels):
    assume(shape["tokens"] > 1)
    stamp = LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=64, seq_transform=seq, seq_levels=levels)
    plain = row(shape, stamp.replace(seq_transform="identity"), profile, "prefill")
    s = row(shape, stamp, profile, "prefill")
    assert plain.seq_transform_pj == 0 and plain.seq_transform_s == 0
    assert s.seq_transform_pj > 0 and s.seq_transform_s > 0
    # Same rows, all at 8 bits: the 4-bit rows must be cheaper where the chip has INT4.
    all8 = row(shape, stamp.replace(a_bits=8), profile, "prefill")
    assert s.rows == all8.rows
    mac = lambda r: r.mac_pj + r.accumulate_pj  # noqa: E731
    if s.rows > s.high_rows and hw_models.OperandMode.INT4 in profile.modes:
        assert mac(s) < mac(all8)
        assert s.act_bytes < all8.act_bytes
    else:  # no INT4 mode: the 4-bit rows run as INT8 and cost the same
        assert mac(s) <= mac(all8) * (1 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(shape=shapes, p=int_precisions(), profile=profiles)
def test_decode_never_pays_for_stamp(shape, p, profile):
    with_stamp = row(shape, p.replace(seq_transform="dwt"), profile, "decode")
    without = row(shape, p.replace(seq_transform="identity"), profile, "decode")
    assert with_stamp.seq_transform_pj == 0 and with_stamp.seq_transform_s == 0
    numeric = [c for c in with_stamp.index if isinstance(with_stamp[c], (int, float, np.number))]
    for col in numeric:
        assert with_stamp[col] == without[col] or (np.isnan(with_stamp[col]) and np.isnan(without[col])), col


@settings(max_examples=40, deadline=None)
@given(
    wl=st.lists(shapes, min_size=1, max_size=6),
    ps=st.lists(int_precisions(), min_size=1, max_size=3),
)
def test_totals_are_sums_of_components(wl, ps):
    frame = price(pd.DataFrame(wl), {f"c{i}": p for i, p in enumerate(ps)}, PROFILES, ["prefill", "decode"])
    np.testing.assert_allclose(frame.energy_pj, frame[list(ENERGY_TERMS)].sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(frame.compute_s, frame[list(TIME_TERMS)].sum(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(frame.latency_s, np.maximum(frame.compute_s, frame.memory_s) + frame.overhead_s)
    assert ((frame.bound == "memory") == (frame.memory_s > frame.compute_s)).all()
    assert (frame[list(ENERGY_TERMS)] >= 0).all().all()
    # Model totals: the grouped sums equal LayerCost sums of the same rows.
    summed = totals(frame)
    first = summed.iloc[0]
    group = frame[(frame.hw == first.hw) & (frame.config == first.config) & (frame.phase == first.phase)]
    cost = sum(LayerCost.from_frame(group.iloc[[i]]) for i in range(len(group)))
    assert cost.energy_pj == pytest.approx(first.energy_pj, rel=1e-12)
    assert cost.latency_s == pytest.approx(first.latency_s, rel=1e-12)
    assert cost.dram_bytes == pytest.approx(first.dram_bytes, rel=1e-12)


def test_batch_equals_one_by_one():
    """The vectorized batch gives each row exactly what pricing it alone gives."""
    rng = np.random.default_rng(0)
    wl = pd.DataFrame({"tokens": rng.integers(1, 3000, 5), "k": rng.integers(1, 2048, 5), "n": rng.integers(1, 2048, 5)})
    precs = {
        "stamp": LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=64, seq_transform="dwt"),
        "klt": LayerPrecision(w_bits=4, a_bits=8, seq_transform="klt", feature_transform="hadamard"),
    }
    batch = price(wl, precs, PROFILES, ["prefill", "decode"])
    i = 0
    for prof in PROFILES:
        for name, p in precs.items():
            for phase in ["prefill", "decode"]:
                for _, layer in wl.iterrows():
                    alone = row(layer.to_dict(), p, prof, phase)
                    assert alone.energy_pj == batch.energy_pj.iloc[i]
                    assert alone.latency_s == batch.latency_s.iloc[i]
                    i += 1


def test_chunked_threads_equal_one_pass(monkeypatch):
    """Cutting rows into chunks (and threads) changes nothing: compare with one big chunk."""
    import stamp_sim.hw_models.cost as cost

    rng = np.random.default_rng(1)
    wl = pd.DataFrame({"tokens": rng.integers(1, 3000, 13), "k": rng.integers(1, 2048, 13), "n": rng.integers(1, 2048, 13)})
    precs = {"a": LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=64, seq_transform="dwt"), "b": LayerPrecision()}
    monkeypatch.setattr(cost, "_CHUNK_ROWS", 1 << 20)
    one_pass = price(wl, precs, PROFILES, ["prefill", "decode"])  # one chunk per profile
    monkeypatch.setattr(cost, "_CHUNK_ROWS", 7)  # 260 rows -> dozens of chunks, cut mid-segment too
    chunked = price(wl, precs, PROFILES, ["prefill", "decode"])
    pd.testing.assert_frame_equal(one_pass, chunked)
    monkeypatch.setattr(cost, "_MIN_SEGMENT", 1)  # scalar precision / phase, sliced layers
    by_segment = price(wl, precs, PROFILES, ["prefill", "decode"])
    pd.testing.assert_frame_equal(one_pass, by_segment)


def _variant(profile, fill=None, scales=None):
    import dataclasses

    arr = profile.mac_array if fill is None else dataclasses.replace(profile.mac_array, fill=hw_models.Fill(fill))
    ex = profile.execution if scales is None else dataclasses.replace(profile.execution,
                                                                       weight_scales=hw_models.WeightScales(scales))
    return dataclasses.replace(profile, mac_array=arr, execution=ex)


grouped = st.builds(lambda w, a, g, zp: LayerPrecision(w_bits=w, a_bits=a, w_granularity="per-group", w_group_size=g,
                                                       w_zero_points=zp),
                    st.integers(2, 8), st.one_of(st.none(), st.integers(2, 16)), st.sampled_from([16, 32, 64, 128]),
                    st.booleans())


@settings(max_examples=80, deadline=None)
@given(shape=shapes, p=st.one_of(int_precisions(), grouped), profile=profiles, phase=phases)
def test_overlapped_fill_never_slower_and_costs_the_same_energy(shape, p, profile, phase):
    serial = row(shape, p, _variant(profile, "serial"), phase)
    overlap = row(shape, p, _variant(profile, "overlap"), phase)
    assert overlap.cycles <= serial.cycles * (1 + 1e-12)
    assert overlap.compute_s <= serial.compute_s * (1 + 1e-12)
    assert overlap.energy_pj == pytest.approx(serial.energy_pj, rel=1e-12)
    assert overlap.requant_ops == serial.requant_ops


@settings(max_examples=80, deadline=None)
@given(shape=shapes, p=grouped, profile=profiles, phase=phases)
def test_folded_group_scales_are_never_dearer(shape, p, profile, phase):
    folded = row(shape, p, _variant(profile, scales="folded"), phase)
    for other in ("per-tile", "per-partial-sum"):
        dear = row(shape, p, _variant(profile, scales=other), phase)
        assert folded.requant_ops <= dear.requant_ops and folded.compute_s <= dear.compute_s * (1 + 1e-12)
        assert folded.dram_bytes == dear.dram_bytes
