"""`stamp-sim validate` as a library call: every kernel backend against the reference, and
the integer STaMP layer against the fake-quant float path, on random and adversarial cases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from stamp_sim.kernels import AccumulatorSpec, int_matmul
from stamp_sim.config import get_preset
from stamp_sim.metrics import sqnr_db
from stamp_sim.nn import StampLinear
from stamp_sim.nn.integer import EXACT, integer_forward
from stamp_sim.progress import QUIET, Stages
from stamp_sim.quant import quantize

__all__ = ["COLUMN_NOTES", "FIRST_COMPILE", "KERNEL_BACKENDS", "Case", "kernel_cases", "layer_cases",
           "layer_sized_cases", "validate"]

KERNEL_BACKENDS = ("numba", "torch")
U32 = 2.0**-24  # unit roundoff of float32


@dataclass(frozen=True)
class Case:
    """One integer GEMM to check: operands, declared widths and the accumulator."""

    name: str
    x: np.ndarray
    w: np.ndarray
    acc: AccumulatorSpec
    x_bits: int
    w_bits: int


def _operand(rng, shape, bits, signed):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    dtype = np.int8 if signed else np.uint8
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


def kernel_cases(n_random: int, seed: int) -> Iterator[Case]:
    """Adversarial cases first, then `n_random` random ones (shapes, widths, modes, tiles)."""
    m, k, n = 8, 100, 12
    full = np.full((m, k), 127, np.int8)
    yield Case("all-max int8, P=16 saturate", full, np.full((k, n), 127, np.int8),
               AccumulatorSpec(16, "saturate"), 8, 8)
    yield Case("all-max int8, P=16 wrap", full, np.full((k, n), -128, np.int8), AccumulatorSpec(16, "wrap"), 8, 8)
    alt = np.where(np.arange(k) % 2 == 0, 127, -128).astype(np.int8)
    yield Case("alternating signs, T=7, P=12 sat / outer 14", np.tile(alt, (m, 1)),
               np.tile(alt[:, None], (1, n)), AccumulatorSpec(12, "saturate", tile=7, outer_bits=14), 8, 8)
    yield Case("K=100 not a multiple of T=64, P=16 sat", full, np.full((k, n), 127, np.int8),
               AccumulatorSpec(16, "saturate", tile=64, outer_bits=32), 8, 8)
    rng = np.random.default_rng(seed)
    yield Case("tiny P=4 wrap, int4", _operand(rng, (m, k), 4, True), _operand(rng, (k, n), 4, True),
               AccumulatorSpec(4, "wrap"), 4, 4)
    yield Case("tiny P=3 saturate, uint4 x int4", _operand(rng, (m, k), 4, False), _operand(rng, (k, n), 4, True),
               AccumulatorSpec(3, "saturate", tile=5, outer_bits=6, outer_mode="wrap"), 4, 4)
    yield Case("K=0", np.zeros((3, 0), np.int8), np.zeros((0, 4), np.int8), AccumulatorSpec(16, "saturate"), 8, 8)
    yield Case("x86 pair 211*71 + 171*107, P=16 sat", np.array([[211, 171]], np.uint8),
               np.array([[71], [107]], np.int8), AccumulatorSpec(16, "saturate"), 8, 8)
    for i in range(n_random):
        xb, wb = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        xs, ws = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
        mm, kk, nn_ = (int(v) for v in rng.integers(1, [24, 300, 24]))
        mode = str(rng.choice(["wrap", "saturate", "exact"]))
        bits = int(rng.integers(4, 33))
        tile = int(rng.integers(1, 80)) if rng.random() < 0.5 else None
        outer = dict(outer_bits=int(rng.integers(bits, 40)), outer_mode=str(rng.choice(["wrap", "saturate"]))) \
            if tile and rng.random() < 0.7 else {}
        acc = AccumulatorSpec(bits, mode, tile, **outer)
        yield Case(f"random {i}: {'' if xs else 'u'}int{xb} x {'' if ws else 'u'}int{wb}, {acc.describe()}",
                   _operand(rng, (mm, kk), xb, xs), _operand(rng, (kk, nn_), wb, ws), acc, xb, wb)


def _codes(a: np.ndarray, bits: int, granularity: str) -> np.ndarray:
    """int8 codes of the toolkit's symmetric quantizer (per-token or per-channel scales)."""
    return quantize(torch.from_numpy(a), bits, granularity).q.numpy().astype(np.int8)


def layer_sized_cases(seed: int) -> Iterator[Case]:
    """GEMMs the size of a real layer (320 tokens, 576 -> 640), where the fast CPU path samples
    rows to choose its strategy and scans several column blocks two rows at a time. Too large
    for the reference loops as a whole: `validate` checks 64 outputs of each (any output
    depends only on its row of x and column of w, so the reference on that sub-GEMM is exact)."""
    rng = np.random.default_rng(seed + 1)
    m, k, n = 320, 576, 640
    # Correlated activations with a shared offset, per-token quantized; per-channel weights with
    # a positive mean: in 8 bits most outputs leave a 16-bit register, as in real layers.
    act = rng.standard_normal((m, 16)) @ rng.standard_normal((16, k)) + 0.5 * rng.standard_normal((m, k)) + 2.0
    wgt = rng.standard_normal((k, n)) + 0.5
    x8, w8 = _codes(act, 8, "per-token"), _codes(wgt, 8, "per-column")
    x4, w4 = _codes(act - 2.0, 4, "per-token"), _codes(wgt - 0.45, 4, "per-column")
    yield Case("layer-sized w8a8, P=16 saturate", x8, w8, AccumulatorSpec(16, "saturate"), 8, 8)
    yield Case("layer-sized w8a8, T=64 int16 sat into int32", x8, w8,
               AccumulatorSpec(16, "saturate", tile=64, outer_bits=32), 8, 8)
    yield Case("layer-sized all-max, P=16 wrap", np.full((m, k), 127, np.int8), np.full((k, n), -128, np.int8),
               AccumulatorSpec(16, "wrap"), 8, 8)
    yield Case("layer-sized w4a4, P=16 saturate", x4, w4, AccumulatorSpec(16, "saturate"), 4, 4)
    yield Case("layer-sized uint8 x int8, P=20 saturate", (x8.astype(np.int16) + 128).astype(np.uint8), w8,
               AccumulatorSpec(20, "saturate"), 8, 8)


def _ar1(tokens: int, d: int, rng: np.random.Generator) -> torch.Tensor:
    noise = rng.standard_normal((tokens, d))
    x = np.empty_like(noise)
    x[0] = noise[0]
    for t in range(1, tokens):
        x[t] = 0.95 * x[t - 1] + 0.31 * noise[t]
    return torch.from_numpy(x).unsqueeze(0)


def layer_cases(seed: int) -> Iterator[tuple[str, StampLinear, torch.Tensor]]:
    """Integer STaMP layers (exact accumulator) with AR(1) inputs, for integer-vs-float checks."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    for preset, tokens, d, n in (("w4a4-stamp", 200, 96, 64), ("w4a4-hadamard-stamp", 130, 128, 48),
                                 ("w8a8", 64, 80, 40), ("w4a4-first64", 100, 64, 32)):
        lin = nn.Linear(d, n).double()
        cfg = get_preset(preset).replace(accumulator=EXACT)
        yield f"layer {preset} ({tokens}x{d}->{n}), exact acc", StampLinear(lin, cfg, name=preset), _ar1(tokens, d, rng)


@torch.no_grad()
def _layer_row(name: str, layer: StampLinear, x: torch.Tensor) -> dict:
    """Integer path vs fake-quant path; the float path is recomputed in float32 to measure
    its rounding, bounded per output by gamma_K * (|Z_hat| |W_hat|^T) (see stamp_sim.nn.integer)."""
    y_int = integer_forward(layer, x)
    z, seq = layer.transform_input(x)
    zq = layer.quantize_input(z, layer.row_bits(z, seq is not None)).dequantize()
    wq = layer.quantized_weight()
    k = wq.shape[1]
    y32 = (zq.float() @ wq.float().T).double()
    magnitude = zq.abs() @ wq.abs().T
    gamma = k * U32 / (1 - k * U32)
    # Orthonormal L^-1 maps an error vector to one of equal norm: compare column norms.
    y_exact = zq @ wq.T
    err32 = (y32 - y_exact).norm(dim=-2)
    bound = gamma * magnitude.norm(dim=-2)
    y_fake = layer.fake_forward(x)
    max_err = float((y_int - y_fake).abs().max())
    within = bool((err32 <= bound).all()) and max_err <= 1e-9 * float(y_fake.abs().max())
    return {"case": name, "backend": "int layer vs float", "mismatches": 0 if within else 1, "overflows": 0,
            "max_err_vs_float": max_err, "float32_err_over_bound": float((err32 / bound).max()),
            "sqnr_db_vs_float": sqnr_db(y_fake, y_int)}


#: What the table's columns mean, printed under it by `stamp-sim validate`.
COLUMN_NOTES = (
    "mismatches: outputs whose value or overflow count differs from kernels.reference (must be 0).",
    "overflows: additions that left the accumulator's range, as the reference counts them.",
    "max_err_vs_float: largest |result - exact integer sum|. Large where a narrow accumulator wrapped or "
    "saturated, as it is meant to (overflows > 0): that is the arithmetic being simulated, not an error. "
    "For 'int layer vs float' it is the integer layer's largest difference from the fake-quant path.",
)

#: How long the first run's Numba compilation takes (measured: 90 s alone, 180 s sharing 2 cores).
FIRST_COMPILE = "1.5 to 3 minutes on 2 cores"


def validate(n_random: int = 20, seed: int = 0, backends=KERNEL_BACKENDS, progress=None,
             stages: Stages = QUIET) -> pd.DataFrame:
    """Table (case, backend, mismatches, overflows, max_err_vs_float): mismatches count the
    outputs whose value or overflow count differs from kernels.reference (0 expected).

    progress : a bar updated once per case. stages : one bar per group of cases."""
    if "numba" in backends:
        from stamp_sim.kernels.numba_backend import has_compiled_cache

        if not has_compiled_cache():
            stages.say(f"compiling Numba kernels (first run, {FIRST_COMPILE}; cached for later runs) ...")
    cases, sized = list(kernel_cases(n_random, seed)), list(layer_sized_cases(seed))
    rows = []
    with stages.stage("kernel cases vs reference", total=len(cases), unit="case") as bar:
        for case in cases:
            rows += _kernel_rows(case, backends)
            _tick(bar, progress)
    rng = np.random.default_rng(seed)
    with stages.stage("layer-sized GEMMs vs reference", total=len(sized), unit="case") as bar:
        for case in sized:
            rows += _sized_rows(case, backends, rng)
            _tick(bar, progress)
    layers = list(layer_cases(seed))
    with stages.stage("integer STaMP layers vs float", total=len(layers), unit="case") as bar:
        for name, layer, x in layers:
            rows.append(_layer_row(name, layer, x))
            _tick(bar, progress)
    return pd.DataFrame(rows)


def _tick(*bars) -> None:
    for bar in bars:
        if bar is not None:
            bar.update(1)


def _kernel_rows(case: Case, backends) -> list[dict]:
    ref = int_matmul(case.x, case.w, case.acc, backend="reference", x_bits=case.x_bits, w_bits=case.w_bits)
    exact = case.x.astype(np.int64) @ case.w.astype(np.int64)
    rows = []
    for backend in backends:
        got = int_matmul(case.x, case.w, case.acc, backend=backend, x_bits=case.x_bits, w_bits=case.w_bits)
        bad = int(np.count_nonzero((got.values != ref.values) | (got.overflows != ref.overflows)))
        rows.append({"case": case.name, "backend": backend, "mismatches": bad,
                     "overflows": int(got.overflows.sum()),
                     "max_err_vs_float": float(np.abs(got.values - exact).max()) if exact.size else 0.0})
    return rows


def _sized_rows(case: Case, backends, rng: np.random.Generator) -> list[dict]:
    m, n = case.x.shape[0], case.w.shape[1]
    # The first and last row and column (edges of blocks and tasks) and six more of each.
    sel_m = np.sort(np.r_[0, m - 1, rng.choice(np.arange(1, m - 1), 6, replace=False)])
    sel_n = np.sort(np.r_[0, n - 1, rng.choice(np.arange(1, n - 1), 6, replace=False)])
    sub_x, sub_w = case.x[sel_m], case.w[:, sel_n]
    ref = int_matmul(sub_x, sub_w, case.acc, backend="reference", x_bits=case.x_bits, w_bits=case.w_bits)
    exact = sub_x.astype(np.int64) @ sub_w.astype(np.int64)
    rows = []
    for backend in backends:
        got = int_matmul(case.x, case.w, case.acc, backend=backend, x_bits=case.x_bits, w_bits=case.w_bits)
        values, overflows = got.values[np.ix_(sel_m, sel_n)], got.overflows[np.ix_(sel_m, sel_n)]
        bad = int(np.count_nonzero((values != ref.values) | (overflows != ref.overflows)))
        rows.append({"case": f"{case.name} ({ref.values.size} outputs checked)", "backend": backend,
                     "mismatches": bad, "overflows": int(overflows.sum()),
                     "max_err_vs_float": float(np.abs(values - exact).max())})
    return rows
