"""The torch backend (backend="torch"): the same semantics in torch ops, on CUDA when present,
else on the CPU.

Exact sums come from the device's exact GEMM engine (exact_gemm.py: int8, float32 in K-chunks
or float64, each exact in any summation order within its bound). The Pos/Neg bound (see numba_backend/_bounds.py) proves most
outputs safe; the rest are scanned with one vectorized step per k over all unsafe outputs at
once (_scan; the registers' saturate / wrap steps are _inner_step and _outer_step).
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import Operand
from .exact_gemm import engine_choice, torch_exact_mm
from ._registers import OUTER_SAT, OUTER_WRAP, UNBOUNDED, Registers, registers, values_only_wrap_bits
from .result import MatmulResult
from .spec import AccMode, AccumulatorSpec

__all__ = ["matmul_torch", "default_device"]

# Unsafe outputs scanned per batch: bounds the (outputs x K) gathered operands in memory.
_SCAN_ELEMENTS = 1 << 24


def default_device(*arrays) -> torch.device:
    """The device of the first torch tensor among `arrays`, else CUDA when present, else CPU."""
    for a in arrays:
        if isinstance(a, torch.Tensor):
            return a.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _to_int64(a, device: torch.device) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=torch.int64)
    return torch.from_numpy(np.ascontiguousarray(a).astype(np.int64)).to(device)


def _exact_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact a @ b (int64) through the device's engine (exact_gemm.py: int8 tensor cores,
    float32 in K-chunks with TF32 off, or float64, which consumer GPUs run at 1/32 to 1/64 rate)."""
    return torch_exact_mm(a, b, engine_choice(a.device.type).engine)


def _wrap(v: torch.Tensor, bits: int) -> torch.Tensor:
    half = 1 << (bits - 1)
    return torch.remainder(v + half, 1 << bits) - half if bits < 64 else v


def _inner_step(true: torch.Tensor, acc: AccumulatorSpec) -> torch.Tensor:
    if acc.mode is AccMode.EXACT:
        return true
    if acc.mode is AccMode.SATURATE:
        half = 1 << (acc.bits - 1)
        return true.clamp(-half, half - 1)
    return _wrap(true, acc.bits)


def _outer_step(true: torch.Tensor, reg: Registers) -> torch.Tensor:
    if reg.outer_kind == OUTER_SAT:
        return true.clamp(reg.out_lo, reg.out_hi)
    if reg.outer_kind == OUTER_WRAP:
        return _wrap(true, reg.outer_bits)
    return true


def _scan(xs: torch.Tensor, ws: torch.Tensor, acc: AccumulatorSpec, reg: Registers):
    """Register-exact scan of U dot products: xs, ws (U x K) int64 -> values, counts (U,)."""
    u, k_len = xs.shape
    outer = torch.zeros(u, dtype=torch.int64, device=xs.device)
    counts = torch.zeros(u, dtype=torch.int64, device=xs.device)
    for t0 in range(0, k_len, reg.tile):
        inner = torch.zeros_like(outer)
        for k in range(t0, min(t0 + reg.tile, k_len)):
            true = inner + xs[:, k] * ws[:, k]
            inner = _inner_step(true, acc)
            counts += inner != true
        true = outer + inner
        outer = _outer_step(true, reg)
        counts += outer != true
    return outer, counts


def matmul_torch(xo: Operand, wo: Operand, acc: AccumulatorSpec, counts: bool = True,
                 device: torch.device | str | None = None) -> MatmulResult:
    """int_matmul in torch on `device` (default: the operands' device, else CUDA, else CPU).

    Returns numpy int64 arrays, identical to the reference backend's.
    """
    dev = torch.device(device) if device is not None else default_device(xo.data, wo.data)
    x = _to_int64(xo.data, dev)
    w = _to_int64(wo.data, dev)
    m_rows, k_len = x.shape
    n_cols = w.shape[1]
    if m_rows == 0 or n_cols == 0 or k_len == 0:
        zeros = np.zeros((m_rows, n_cols), dtype=np.int64)
        return MatmulResult(zeros, zeros.copy() if counts else None)

    reg = registers(acc, k_len)
    s = _exact_mm(x, w)
    wrap_bits = values_only_wrap_bits(acc)
    if not counts and wrap_bits is not None:
        return MatmulResult(_wrap(s, wrap_bits).cpu().numpy(), None)

    b = _exact_mm(x.abs(), w.abs())
    pos = (b + s) // 2
    neg = (b - s) // 2
    tile_bound = reg.tile * x.abs().amax(dim=1, keepdim=True) * w.abs().amax(dim=0, keepdim=True)
    inner_ok = ((pos <= reg.in_hi) & (neg <= -reg.in_lo)) | (tile_bound <= min(reg.in_hi, UNBOUNDED))
    outer_ok = (pos <= reg.out_hi) & (neg <= -reg.out_lo)
    rows, cols = torch.nonzero(~(inner_ok & outer_ok), as_tuple=True)

    values = s.clone()
    overflows = torch.zeros_like(s)
    step = max(1, _SCAN_ELEMENTS // k_len)
    for i in range(0, rows.numel(), step):
        r, c = rows[i : i + step], cols[i : i + step]
        v, n = _scan(x[r], w[:, c].T, acc, reg)
        values[r, c] = v
        overflows[r, c] = n
    return MatmulResult(values.cpu().numpy(), overflows.cpu().numpy() if counts else None)
