"""Every backend against the reference oracle, bit for bit (values and overflow counts)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stamp_sim.kernels import AccMode, AccumulatorSpec, MatmulResult, int_matmul
from stamp_sim.kernels._checks import check_operands
from stamp_sim.kernels.numba_backend import matmul_numba
from tests.kernels.conftest import random_operand

MODES = [m.value for m in AccMode]


@st.composite
def cases(draw):
    """Random small GEMM: shapes (K may be 0 or not a multiple of the tile), widths, signedness, spec."""
    m = draw(st.integers(0, 5))
    k = draw(st.integers(0, 40))
    n = draw(st.integers(0, 9))
    x_bits, w_bits = draw(st.integers(2, 8)), draw(st.integers(2, 8))
    x_signed, w_signed = draw(st.booleans()), draw(st.booleans())
    # Narrow values in a wider container half of the time (x_bits / w_bits declared).
    x_wide, w_wide = draw(st.booleans()), draw(st.booleans())
    tile = draw(st.one_of(st.none(), st.integers(1, 12)))
    spec = AccumulatorSpec(
        bits=draw(st.sampled_from([2, 3, 5, 8, 11, 12, 15, 16, 17, 20, 24, 31, 32, 33, 40, 64])),
        mode=draw(st.sampled_from(MODES)),
        tile=tile,
        outer_bits=None if tile is None else draw(st.one_of(st.none(), st.integers(2, 40))),
        outer_mode=None if tile is None else draw(st.one_of(st.none(), st.sampled_from(MODES))),
    )
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    # Extreme-heavy operands half of the time: that is where registers overflow.
    wide = {True: np.int16, False: np.uint16}  # signedness always comes from the dtype
    x = random_operand(rng, (m, k), x_bits, x_signed, wide[x_signed] if x_wide else None)
    w = random_operand(rng, (k, n), w_bits, w_signed, wide[w_signed] if w_wide else None)
    if draw(st.booleans()) and x.size and w.size:
        x = np.where(rng.random(x.shape) < 0.7, x.max(), x).astype(x.dtype)
        w = np.where(rng.random(w.shape) < 0.7, w.max() if rng.random() < 0.5 else w.min(), w).astype(w.dtype)
    return x, w, spec, (x_bits if x_wide else None), (w_bits if w_wide else None)


def _assert_same(ref, got, label):
    np.testing.assert_array_equal(got.values, ref.values, err_msg=f"{label}: values")
    np.testing.assert_array_equal(got.overflows, ref.overflows, err_msg=f"{label}: overflows")
    assert got.values.dtype == np.int64 and got.overflows.dtype == np.int64


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_every_backend_equals_reference(case):
    x, w, spec, x_bits, w_bits = case
    ref = int_matmul(x, w, spec, "reference", x_bits, w_bits)
    assert ref.values.shape == (x.shape[0], w.shape[1])
    for backend in ("numba", "torch", "auto"):
        _assert_same(ref, int_matmul(x, w, spec, backend, x_bits, w_bits), backend)


@settings(max_examples=25, deadline=None)
@given(cases(), st.sampled_from(["int32", "int64"]))
def test_wider_scan_lanes_equal_reference(case, lanes):
    """The int32 / int64 scan lanes (used for wide registers and big products) on any case."""
    x, w, spec, x_bits, w_bits = case
    if spec.bits > 32 and lanes == "int32" and spec.mode is not AccMode.EXACT:
        lanes = "int64"
    ref = int_matmul(x, w, spec, "reference", x_bits, w_bits)
    xo, wo = check_operands(x, w, x_bits, w_bits)
    try:
        got = matmul_numba(xo, wo, spec, lanes=lanes)
    except ValueError as exc:  # int32 lanes too narrow for this register: the planner must say so
        assert lanes == "int32" and "cannot hold" in str(exc)
        return
    _assert_same(ref, got, f"numba lanes={lanes}")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_scan_without_level2_equals_reference(case):
    """Whatever level 1 leaves open, scanned without the level-2 GEMM: the same bits (so a
    block level 2 proves and one it leaves to the scan agree)."""
    x, w, spec, x_bits, w_bits = case
    xo, wo = check_operands(x, w, x_bits, w_bits)
    _assert_same(int_matmul(x, w, spec, "reference", x_bits, w_bits), matmul_numba(xo, wo, spec, level2=False),
                 "numba level2=False")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_scan_of_everything_equals_reference(case):
    """No S and no bounds: every output scanned (the path for layers where nearly all overflow)."""
    x, w, spec, x_bits, w_bits = case
    xo, wo = check_operands(x, w, x_bits, w_bits)
    _assert_same(int_matmul(x, w, spec, "reference", x_bits, w_bits), matmul_numba(xo, wo, spec, proofs=False),
                 "numba proofs=False")


def test_proofs_are_skipped_only_where_nearly_everything_overflows():
    from stamp_sim.kernels._registers import registers
    from stamp_sim.kernels.numba_backend import _bounds
    from stamp_sim.kernels.numba_backend._matmul import proofs_pay

    rng = np.random.default_rng(0)
    spec = AccumulatorSpec(16, "saturate")
    all_max = (np.full((600, 256), 127, np.int8), np.full((256, 96), 127, np.int8))
    small = (rng.integers(-7, 8, (600, 256)).astype(np.int8), rng.integers(-7, 8, (256, 96)).astype(np.int8))
    decided = {}
    for name, (x, w) in {"all_max": all_max, "small": small}.items():
        xo, wo = check_operands(x, w, None, None)
        stats = _bounds.abs_stats(x, w)
        decided[name] = proofs_pay(x, w, xo, wo, stats, registers(spec, 256), 96, np.int16)
        if name == "small":
            ref = int_matmul(x, w, spec, "reference")
        else:  # 127 * 127 twice fits int16, the third product clamps and so does every later one
            ref = MatmulResult(np.full((600, 96), 32767, np.int64), np.full((600, 96), 256 - 2, np.int64))
        for proofs in (None, True, False):
            _assert_same(ref, matmul_numba(xo, wo, spec, proofs=proofs), f"{name} proofs={proofs}")
    assert decided == {"all_max": False, "small": True}


@pytest.mark.parametrize("mode", ["wrap", "saturate"])
def test_lane_counters_flush_past_int16(mode):
    """More than 32767 overflows in one int16 lane: the narrow counters must be flushed."""
    x = np.ones((3, 40_000), dtype=np.int8)  # rows 0 and 1 are scanned as a pair, row 2 alone
    x[1, ::3] = -1
    w = np.full((40_000, 2), 127, dtype=np.int8)
    w[::7, 1] = -128
    spec = AccumulatorSpec(2, mode)  # range [-2, 1]: almost every add of +-127 overflows
    ref = int_matmul(x, w, spec, "reference")
    assert ref.overflows.min() > 32767
    _assert_same(ref, int_matmul(x, w, spec, "numba"), "numba")


def test_values_only_wrap_matches_counted_values():
    rng = np.random.default_rng(3)
    x = random_operand(rng, (7, 300), 8, True)
    w = random_operand(rng, (300, 5), 8, True)
    for spec in (AccumulatorSpec(16, "wrap"), AccumulatorSpec(16, "wrap", tile=64, outer_bits=12)):
        full = int_matmul(x, w, spec, "numba")
        for backend in ("numba", "torch"):
            fast = int_matmul(x, w, spec, backend, counts=False)
            assert fast.overflows is None
            np.testing.assert_array_equal(fast.values, full.values)


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = random_operand(rng, (3, 20), 4, True)
    w = random_operand(rng, (20, 4), 4, True)
    spec = AccumulatorSpec(6, "saturate")
    ref = int_matmul(x, w, spec, "reference")
    for backend in ("auto", "numba", "torch", "reference"):
        _assert_same(ref, int_matmul(torch.from_numpy(x), torch.from_numpy(w), spec, backend), backend)


@pytest.mark.gpu
def test_cuda_backend_equals_reference():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the torch backend is tested on the CPU above")
    rng = np.random.default_rng(5)
    for spec in (AccumulatorSpec(16, "saturate"), AccumulatorSpec(12, "wrap", tile=8, outer_bits=16),
                 AccumulatorSpec(10, "exact", tile=5, outer_bits=11, outer_mode="saturate")):
        x = random_operand(rng, (9, 70), 8, True)
        w = random_operand(rng, (70, 13), 8, False)
        ref = int_matmul(x, w, spec, "reference")
        xt, wt = torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda()
        _assert_same(ref, int_matmul(xt, wt, spec, "auto"), "torch on cuda")


def test_scan_tasks_pair_rows_within_a_block():
    from stamp_sim.kernels.numba_backend._scan import pair_tasks

    task_m = np.array([0, 3, 4, 1, 2, 5, 7])
    task_blk = np.array([0, 0, 0, 1, 1, 1, 1])
    a, b, blk = pair_tasks(task_m, task_blk)
    assert a.tolist() == [0, 4, 1, 5]
    assert b.tolist() == [3, -1, 2, 7]
    assert blk.tolist() == [0, 0, 1, 1]
    assert [len(v) for v in pair_tasks(task_m[:0], task_blk[:0])] == [0, 0, 0]


@pytest.mark.parametrize("data", ["all_max", "offset_8bit", "random_8bit", "small_4bit", "uint8_x"])
@pytest.mark.parametrize("spec", [AccumulatorSpec(16, "saturate"), AccumulatorSpec(16, "wrap"),
                                  AccumulatorSpec(16, "saturate", tile=32, outer_bits=32),
                                  AccumulatorSpec(12, "wrap", tile=24, outer_bits=18, outer_mode="saturate"),
                                  AccumulatorSpec(20, "saturate")])
def test_numba_equals_torch_on_sampled_sizes(data, spec):
    """Shapes past the 256-row sample threshold, several column blocks and odd row counts: the
    numba path (whichever proof strategy it picks, and each forced) against the torch backend,
    an independent implementation (one vectorized step per k)."""
    rng = np.random.default_rng(7)
    m, k, n = 301, 100, 600
    if data == "all_max":
        x, w = np.full((m, k), 127, np.int8), np.full((k, n), -128, np.int8)
    elif data == "offset_8bit":
        x = np.clip(rng.normal(40, 30, (m, k)), -128, 127).astype(np.int8)
        w = np.clip(rng.normal(25, 30, (k, n)), -128, 127).astype(np.int8)
    elif data == "random_8bit":
        x, w = rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8)
    elif data == "small_4bit":
        x, w = rng.integers(-7, 8, (m, k), dtype=np.int8), rng.integers(-7, 8, (k, n), dtype=np.int8)
    else:  # unsigned activations: the exact GEMM shifts them into int8 and corrects (int64 S)
        x = np.clip(rng.normal(150, 60, (m, k)), 0, 255).astype(np.uint8)
        w = rng.integers(-128, 128, (k, n), dtype=np.int8)
    xo, wo = check_operands(x, w, None, None)
    ref = int_matmul(x, w, spec, "torch")
    for proofs in (None, True, False):
        _assert_same(ref, matmul_numba(xo, wo, spec, proofs=proofs), f"{data} {spec.describe()} proofs={proofs}")


def test_lazily_zeroed_counts_are_ordinary_writable_zeros():
    from stamp_sim.kernels.numba_backend._alloc import lazy_zeros

    a = lazy_zeros((1024, 1024))
    assert a.dtype == np.int64 and a.shape == (1024, 1024) and a.flags.writeable and a.flags.c_contiguous
    assert not a.any()
    a[3, 5] += 2
    assert a.sum() == 2 and lazy_zeros((2, 3)).tolist() == [[0, 0, 0], [0, 0, 0]]
