"""The exact integer GEMM engine of this machine, chosen by measurement, not by the CPU's name.

Every overflow proof and every exact or wrapping accumulator starts from the exact sums x @ w
of small integers. Three engines compute them exactly, in any summation order:

- ``int8``: ``torch._int_mm`` (int8 x int8 -> int32). Fast where an int8 matrix unit exists
  (AMX, VNNI, CUDA tensor cores); on an AVX2-only CPU it ran 24x slower than float32.
  Trusted only after a self-test against numpy int64 (some int8 kernels saturate pair sums).
- ``float32``: a float32 GEMM in K-chunks. A float32 sum of integers is exact while every
  partial sum stays at or below 2^24, so a chunk holds K_c = 2^24 // (max|x| * max|w|) terms:
  1,024 for int8 x int8, 262,144 for int4 x int4 (w4a4 needs no chunking). Each chunk's result
  is cast to an integer and the chunks are summed there. TF32 / bf16 float32 modes are off.
- ``float64``: the same with 2^53 (one chunk for every K this project meets).

``engine_choice(device)`` picks one per machine: ``STAMP_SIM_EXACT_GEMM=int8|float32|float64``
forces it, ``auto`` (the default) reads the choice cached for this machine (key: device, CPU
capability or GPU name, torch version, threads) or probes once (well under a second): every
available engine checked for exactness on extreme operands, timed on a layer-sized GEMM, the
fastest kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["ENGINES", "ENV_VAR", "EngineChoice", "ExactGemmError", "choose", "engine_choice", "exact_chunk",
           "float_matmul", "int8_gemm_available", "probe", "torch_exact_mm"]

ENGINES = ("int8", "float32", "float64")
ENV_VAR = "STAMP_SIM_EXACT_GEMM"
_EXACT_LIMIT = {"float32": 1 << 24, "float64": 1 << 53}
INT8_CHUNK_K = 131071  # int8 engine: K * 128 * 128 must stay below 2^31 in its int32 sums
_PROBE_SHAPE = (256, 1536, 512)  # M, K, N: a layer-sized int8 GEMM with two float32 chunks
_PROBE_REPEATS = 3


class ExactGemmError(ValueError):
    """A bad or unusable STAMP_SIM_EXACT_GEMM value (one line, naming the variable)."""


@dataclass(frozen=True)
class EngineChoice:
    """The engine in use and why: forced, measured now, or measured earlier (cached)."""

    engine: str
    why: str
    timings_ms: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.engine} ({self.why})"


def exact_chunk(engine: str, max_abs_x: int, max_abs_w: int) -> int:
    """Largest K (terms) whose partial sums the float `engine` holds exactly; >= 1."""
    return max(1, _EXACT_LIMIT[engine] // max(1, max_abs_x * max_abs_w))


def choose(timings: dict[str, float]) -> str:
    """The fastest engine of `timings` (seconds; exact engines only); ties go to ENGINES' order."""
    if not timings:
        raise ExactGemmError("no exact GEMM engine is available on this machine")
    return min(timings, key=lambda e: (timings[e], ENGINES.index(e)))


@contextlib.contextmanager
def _highest_float32():
    """float32 GEMMs in true float32: TF32 (CUDA) and bf16 (oneDNN) modes would round sums."""
    import torch

    previous = torch.get_float32_matmul_precision()
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
        torch.backends.cuda.matmul.allow_tf32 = tf32


_SCRATCH_MAX_ELEMENTS = 16 << 20
_per_thread = threading.local()


def _scratch(slot: str, shape: tuple[int, ...], dtype, device):
    """A reused CPU tensor per (thread, slot) for operands and partial results that die within
    one call: fresh multi-MB tensors page-fault on every call, which cost a float32 GEMM of a
    layer-sized shape about a tenth of its time. None on CUDA or above 16 M elements."""
    import torch

    numel = 1
    for n in shape:
        numel *= n
    if device.type != "cpu" or numel > _SCRATCH_MAX_ELEMENTS:
        return None
    buffers = getattr(_per_thread, "buffers", None)
    if buffers is None:
        buffers = _per_thread.buffers = {}
    buf = buffers.get((slot, dtype))
    if buf is None or buf.numel() < numel:
        buf = buffers[slot, dtype] = torch.empty(numel, dtype=dtype)
    return buf[:numel].view(shape)


def _as(slot: str, tensor, dtype):
    """`tensor` converted to `dtype`, in a reused buffer where there is one."""
    buf = _scratch(slot, tuple(tensor.shape), dtype, tensor.device)
    return tensor.to(dtype) if buf is None else buf.copy_(tensor)


def _float_mm(xt, wt, max_abs_x: int, max_abs_w: int, engine: str, out=None, as_float: bool = False):
    """Exact xt @ wt (torch integer tensors) through the float `engine`, in K-chunks; an int32
    tensor when every sum fits int32 (written into `out` when given), else int64. as_float :
    a one-chunk result may come back as the float tensor itself (integer-valued, exact), for a
    caller that widens it in its next pass anyway (one pass over M x N saved)."""
    import torch

    dtype = torch.float32 if engine == "float32" else torch.float64
    m_rows, k_len = xt.shape
    n_cols = wt.shape[1]
    fits32 = k_len * max_abs_x * max_abs_w < (1 << 31)
    acc_dtype = torch.int32 if fits32 else torch.int64
    chunk = exact_chunk(engine, max_abs_x, max_abs_w)
    xf, wf = _as("x", xt, dtype), _as("w", wt, dtype)
    part = _scratch("part", (m_rows, n_cols), dtype, xt.device)
    with _highest_float32():
        if k_len <= chunk:
            result = torch.matmul(xf, wf) if part is None else torch.matmul(xf, wf, out=part)
            if as_float:
                return result
            if out is not None and fits32:
                return out.copy_(result)
            return result.to(acc_dtype)
        acc = out.zero_() if (out is not None and fits32) else torch.zeros(
            (m_rows, n_cols), dtype=acc_dtype, device=xt.device)
        chunk = -(-k_len // -(-k_len // chunk))  # equal chunks: 1152 = 576 + 576, not 1024 + 128
        for k0 in range(0, k_len, chunk):
            xs, ws = xf[:, k0:k0 + chunk], wf[k0:k0 + chunk]
            acc += (torch.matmul(xs, ws) if part is None else torch.matmul(xs, ws, out=part)).to(acc_dtype)
    return acc


def float_matmul(x: np.ndarray, w: np.ndarray, max_abs_x: int, max_abs_w: int, engine: str,
                 out: np.ndarray | None = None, as_float: bool = False) -> np.ndarray:
    """Exact x (M x K) @ w (K x N) of integers with |x| <= max_abs_x, |w| <= max_abs_w through the
    float `engine` ("float32" or "float64"): int32 when every sum fits it (into `out`, an int32
    M x N buffer, when given), else int64; with as_float, possibly the integer-valued float
    result in a reused buffer, valid until this thread's next call."""
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x))
    wt = torch.from_numpy(np.ascontiguousarray(w))
    result = _float_mm(xt, wt, max_abs_x, max_abs_w, engine, None if out is None else torch.from_numpy(out),
                       as_float)
    return result.numpy()


def _pad_for_cuda_int_mm(a, b):
    """torch._int_mm on CUDA wants M > 16 and K, N multiples of 8: zero rows/columns add nothing."""
    import torch.nn.functional as F

    m_rows, k_len = a.shape
    n_cols = b.shape[1]
    pm = max(17, -(-m_rows // 8) * 8) - m_rows
    pk = -(-k_len // 8) * 8 - k_len
    pn = -(-n_cols // 8) * 8 - n_cols
    return F.pad(a, (0, pk, 0, pm)), F.pad(b, (0, pn, 0, pk)), m_rows, n_cols


def torch_exact_mm(a, b, engine: str):
    """Exact a @ b (torch integer tensors, one device) as int64 through `engine`. The int8
    engine needs int8-range operands; others fall back to the float engines' bound."""
    import torch

    (lo_a, hi_a), (lo_b, hi_b) = (map(int, torch.aminmax(t)) if t.numel() else (0, 0) for t in (a, b))
    max_a, max_b = max(-lo_a, hi_a), max(-lo_b, hi_b)
    fits_int8 = min(lo_a, lo_b) >= -128 and max(hi_a, hi_b) <= 127
    if engine == "int8" and fits_int8 and a.shape[1] <= INT8_CHUNK_K:
        a8, b8 = a.to(torch.int8), b.to(torch.int8)
        if a.is_cuda:
            a8, b8, m_rows, n_cols = _pad_for_cuda_int_mm(a8, b8)
            return torch._int_mm(a8, b8)[:m_rows, :n_cols].to(torch.int64)
        return torch._int_mm(a8.contiguous(), b8.contiguous()).to(torch.int64)
    float_engine = "float64" if engine == "float64" or max_a * max_b > (1 << 24) else "float32"
    return _float_mm(a, b, max_a, max_b, float_engine).to(torch.int64)


_INT8_LOCK = threading.Lock()
_int8_ok: dict[str, bool] = {}


def int8_gemm_available(device: str = "cpu") -> bool:
    """True when torch._int_mm exists on `device` and is exact there (checked once per process)."""
    with _INT8_LOCK:
        if device not in _int8_ok:
            _int8_ok[device] = _int8_self_test(device)
        return _int8_ok[device]


def _extreme_cases(k_len: int = 300) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(12345)
    full = lambda shape, v: np.full(shape, v, dtype=np.int8)  # noqa: E731
    return [
        (rng.integers(-128, 128, size=(33, k_len), dtype=np.int8), rng.integers(-128, 128, size=(k_len, 19),
                                                                                dtype=np.int8)),
        (full((17, k_len), -128), full((k_len, 24), -128)),
        (full((17, k_len), 127), full((k_len, 24), -128)),
    ]


def _int8_self_test(device: str) -> bool:
    try:
        import torch
    except ImportError:
        return False
    if not hasattr(torch, "_int_mm") or (device == "cuda" and not torch.cuda.is_available()):
        return False
    try:
        for x, w in _extreme_cases(304):
            got = torch_exact_mm(torch.from_numpy(x).to(device), torch.from_numpy(w).to(device), "int8")
            if not np.array_equal(got.cpu().numpy(), x.astype(np.int64) @ w.astype(np.int64)):
                return False
    except (RuntimeError, NotImplementedError):
        return False
    return True


def _float_exact(engine: str, device: str) -> bool:
    """The float engine is exact at its chunk bound (all -128 operands: every partial sum is 2^24)."""
    import torch

    k_len = exact_chunk(engine, 128, 128) if engine == "float32" else 3000
    for x, w in _extreme_cases(k_len) + _extreme_cases(k_len + 1):
        got = torch_exact_mm(torch.from_numpy(x).to(device).long(), torch.from_numpy(w).to(device).long(), engine)
        if not np.array_equal(got.cpu().numpy(), x.astype(np.int64) @ w.astype(np.int64)):
            return False
    return True


def _available(device: str) -> dict[str, str]:
    """Engine -> "" when usable on `device`, else why not."""
    reasons = {"int8": "" if int8_gemm_available(device) else "torch._int_mm missing or not exact"}
    for engine in ("float32", "float64"):
        reasons[engine] = "" if _float_exact(engine, device) else f"{engine} GEMM sums are not exact here"
    return reasons


def probe(device: str = "cpu", engines=ENGINES) -> dict[str, float]:
    """Seconds of one layer-sized int8-range GEMM (best of 3) per exact engine on `device`."""
    import torch

    m_rows, k_len, n_cols = _PROBE_SHAPE
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(-128, 128, size=(m_rows, k_len), dtype=np.int8)).to(device).long()
    w = torch.from_numpy(rng.integers(-128, 128, size=(k_len, n_cols), dtype=np.int8)).to(device).long()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    timings = {}
    for engine in engines:
        torch_exact_mm(x, w, engine)  # warm-up
        best = float("inf")
        for _ in range(_PROBE_REPEATS):
            sync()
            start = time.perf_counter()
            torch_exact_mm(x, w, engine)
            sync()
            best = min(best, time.perf_counter() - start)
        timings[engine] = best
    return timings


def _machine_key(device: str) -> str:
    import torch

    if device == "cuda":
        hardware = torch.cuda.get_device_name()
    else:
        hardware = torch.backends.cpu.get_cpu_capability()
    return f"{device}|{hardware}|torch {torch.__version__}|{torch.get_num_threads()} threads"


def _cache_file() -> Path:
    root = os.environ.get("STAMP_SIM_CACHE") or Path.home() / ".cache" / "stamp-sim"
    return Path(root) / "exact_gemm.json"


def _read_cache() -> dict:
    try:
        data = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(key: str, entry: dict) -> None:
    """Best effort (a read-only home is not an error): atomically, via a temporary file."""
    path = _cache_file()
    data = {**_read_cache(), key: entry}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass


_CHOICES: dict[tuple[str, str], EngineChoice] = {}
_CHOICE_LOCK = threading.Lock()


def engine_choice(device: str = "cpu") -> EngineChoice:
    """The exact GEMM engine for `device` ("cpu" or "cuda"), per STAMP_SIM_EXACT_GEMM (default
    auto); raises ExactGemmError on a value it does not know or an engine this machine lacks."""
    requested = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if requested not in (*ENGINES, "auto"):
        raise ExactGemmError(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not an engine; allowed: "
                             f"{', '.join(ENGINES)}, auto")
    with _CHOICE_LOCK:
        if (device, requested) not in _CHOICES:
            _CHOICES[device, requested] = _decide(device, requested)
        return _CHOICES[device, requested]


def _decide(device: str, requested: str) -> EngineChoice:
    reasons = _available(device)
    usable = [e for e in ENGINES if not reasons[e]]
    if requested != "auto":
        if reasons[requested]:
            raise ExactGemmError(f"{ENV_VAR}={requested}: this machine has no exact {requested} GEMM on {device} "
                                 f"({reasons[requested]}); allowed here: {', '.join(usable)}, auto")
        return EngineChoice(requested, f"forced by {ENV_VAR}")
    key = _machine_key(device)
    cached = _read_cache().get(key)
    if isinstance(cached, dict) and cached.get("engine") in usable:
        return EngineChoice(cached["engine"], f"measured earlier on this machine, cached in {_cache_file()}",
                            dict(cached.get("timings_ms", {})))
    timings = probe(device, usable)
    engine = choose(timings)
    timings_ms = {e: round(t * 1e3, 3) for e, t in timings.items()}
    _write_cache(key, {"engine": engine, "timings_ms": timings_ms})
    shape = "x".join(map(str, _PROBE_SHAPE))
    measured = ", ".join(f"{e} {t:.2f} ms" for e, t in timings_ms.items())
    return EngineChoice(engine, f"fastest measured on {shape} int8 operands: {measured}", timings_ms)


def clear_choices() -> None:
    """Forget this process's choices (tests; a changed environment variable needs no call)."""
    with _CHOICE_LOCK:
        _CHOICES.clear()
