"""Every exact GEMM engine, forced through STAMP_SIM_EXACT_GEMM so CI runs each one on whatever
machine it has, is bit-exact against numpy int64 at and around its chunk bounds; the automatic
choice is deterministic given its timings, cached per machine, and bad values are refused."""

import numpy as np
import pytest
import torch

from stamp_sim.kernels import AccumulatorSpec, int_matmul
from stamp_sim.kernels import exact_gemm
from stamp_sim.kernels.exact_gemm import ENGINES, ExactGemmError, choose, engine_choice, exact_chunk
from stamp_sim.kernels.numba_backend._intgemm import exact_matmul
from stamp_sim.kernels.torch_backend import _exact_mm

F32_INT8 = exact_chunk("float32", 128, 128)  # 1024


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("STAMP_SIM_CACHE", str(tmp_path))
    exact_gemm.clear_choices()
    yield
    exact_gemm.clear_choices()


def _oracle(x, w):
    return x.astype(np.int64) @ w.astype(np.int64)


def _cases():
    rng = np.random.default_rng(7)
    full = lambda shape, v: np.full(shape, v, dtype=np.int16)  # noqa: E731
    out = {}
    for k in (F32_INT8 - 1, F32_INT8, F32_INT8 + 1, 3 * F32_INT8 + 5):
        out[f"all -128, K={k}"] = (full((3, k), -128), full((k, 5), -128), (-128, -128), (-128, -128))
        out[f"all 127 x -128, K={k}"] = (full((3, k), 127), full((k, 5), -128), (127, 127), (-128, -128))
    k = 2 * F32_INT8 + 3
    x = rng.integers(-128, 128, size=(9, k)).astype(np.int16)
    w = rng.integers(-128, 128, size=(k, 7)).astype(np.int16)
    out["mixed signs int8"] = (x, w, (-128, 127), (-128, 127))
    xu = rng.integers(0, 256, size=(6, k)).astype(np.int16)
    xu[0] = 255
    out["uint8 x int8 (shifted into int8)"] = (xu, w, (0, 255), (-128, 127))
    x4 = rng.integers(-8, 8, size=(11, 4096)).astype(np.int8)
    w4 = rng.integers(-8, 8, size=(4096, 13)).astype(np.int8)
    out["int4 x int4, K=4096"] = (x4, w4, (-8, 7), (-8, 7))
    return out


CASES = _cases()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_numba_exact_gemm_is_exact_under_every_engine(monkeypatch, engine, case):
    monkeypatch.setenv("STAMP_SIM_EXACT_GEMM", engine)
    assert engine_choice().engine == engine
    x, w, xr, wr = CASES[case]
    np.testing.assert_array_equal(exact_matmul(x, w, xr, wr), _oracle(x, w))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", ["all -128, K=1025", "mixed signs int8", "int4 x int4, K=4096",
                                  "uint8 x int8 (shifted into int8)"])
def test_torch_backend_exact_mm_is_exact_under_every_engine(monkeypatch, engine, case):
    monkeypatch.setenv("STAMP_SIM_EXACT_GEMM", engine)
    x, w, _, _ = CASES[case]
    got = _exact_mm(torch.from_numpy(x.astype(np.int64)), torch.from_numpy(w.astype(np.int64)))
    assert got.dtype == torch.int64
    np.testing.assert_array_equal(got.numpy(), _oracle(x, w))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_int_matmul_agrees_with_the_reference_under_every_engine(monkeypatch, engine, backend):
    monkeypatch.setenv("STAMP_SIM_EXACT_GEMM", engine)
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, size=(6, 1500)).astype(np.int8)
    w = rng.integers(-128, 128, size=(1500, 5)).astype(np.int8)
    for acc in (AccumulatorSpec(32, "exact"), AccumulatorSpec(16, "saturate"),
                AccumulatorSpec(16, "wrap", tile=64, outer_bits=24)):
        got = int_matmul(x, w, acc, backend=backend)
        ref = int_matmul(x, w, acc, backend="reference")
        np.testing.assert_array_equal(got.values, ref.values)
        np.testing.assert_array_equal(got.overflows, ref.overflows)


def test_float32_chunks_follow_the_operands_declared_ranges():
    assert exact_chunk("float32", 128, 128) == 1024
    assert exact_chunk("float32", 8, 8) == 262_144  # int4 x int4: one chunk for any real layer
    assert exact_chunk("float32", 255, 128) == (1 << 24) // (255 * 128)
    assert exact_chunk("float64", 128, 128) == (1 << 53) // 16384
    assert exact_chunk("float32", 0, 0) == 1 << 24


def test_choice_is_the_fastest_with_ties_in_engine_order():
    assert choose({"int8": 2.0, "float32": 1.0, "float64": 3.0}) == "float32"
    assert choose({"int8": 1.0, "float32": 1.0, "float64": 1.0}) == "int8"
    assert choose({"float64": 0.5, "float32": 0.5}) == "float32"
    with pytest.raises(ExactGemmError):
        choose({})


def test_auto_probes_once_then_reads_the_machine_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("STAMP_SIM_EXACT_GEMM", "auto")
    monkeypatch.setattr(exact_gemm, "probe", lambda device, engines: {"int8": 3e-3, "float32": 1e-3, "float64": 2e-3})
    first = engine_choice()
    assert first.engine == "float32" and "fastest measured" in first.why
    assert (tmp_path / "exact_gemm.json").exists()

    def _no_probe(*_):
        raise AssertionError("probed again although the choice is cached")

    monkeypatch.setattr(exact_gemm, "probe", _no_probe)
    exact_gemm.clear_choices()
    again = engine_choice()
    assert again.engine == "float32" and "cached" in again.why


def test_unknown_value_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv("STAMP_SIM_EXACT_GEMM", "fp16")
    with pytest.raises(ExactGemmError) as err:
        engine_choice()
    message = str(err.value)
    assert "\n" not in message and "STAMP_SIM_EXACT_GEMM" in message
    assert all(e in message for e in (*ENGINES, "auto"))


def test_forcing_an_engine_this_machine_lacks_says_so(monkeypatch):
    monkeypatch.setenv("STAMP_SIM_EXACT_GEMM", "int8")
    monkeypatch.setitem(exact_gemm._int8_ok, "cpu", False)
    with pytest.raises(ExactGemmError, match=r"STAMP_SIM_EXACT_GEMM=int8: this machine has no exact int8") as err:
        engine_choice()
    assert "\n" not in str(err.value)


def test_reused_buffers_are_per_thread():
    """Two threads (Dask task threads, say) never share a scratch buffer of the float engines."""
    import threading

    held, ptrs = [], []
    both_alive = threading.Barrier(2)

    def grab(wait=False):
        buf = exact_gemm._scratch("part", (4, 4), torch.float32, torch.device("cpu"))
        held.append(buf)  # kept alive, so a freed buffer's address cannot come back
        ptrs.append(buf.data_ptr())
        if wait:
            both_alive.wait()  # both threads hold theirs at once

    threads = [threading.Thread(target=grab, args=(True,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grab()
    grab()
    assert ptrs[0] != ptrs[1] and ptrs[2] == ptrs[3]
