"""Integer execution of a StampLinear: what the MAC array computes, bit for bit.

    Z = L X R                        (float transform; on an NPU a vector unit does this)
    z_q[i] = round(Z[i] / s_x[i])    per-row widths b_i (mixed precision across tokens)
    w_q[j] = round(W'[j] / s_w[j])   per output channel
    acc    = int_matmul(z_q[rows of width b], w_q^T, AccumulatorSpec)   one GEMM per width
    Y      = L^-1 (acc * s_x s_w^T) + b

With an exact (or wide enough) accumulator ``acc`` is the exact integer dot product, so
Y equals the fake-quant path up to the float rounding of that path's GEMM: for each
output, |Y_int - Y_fake| <= gamma_K * (|Z_hat| |W_hat|^T) with gamma_K = K u / (1 - K u),
u = 2^-24 for float32 (the standard bound on a length-K float dot product), carried
through the orthonormal inverse transform. A narrow accumulator changes ``acc``; its
overflow counts are added to the layer's stats.
"""

from __future__ import annotations

import numpy as np
import torch

from stamp_sim.kernels import AccMode, AccumulatorSpec, int_matmul
from stamp_sim.quant.a2q import A2QConfig

__all__ = ["accumulator_budget", "activation_max", "can_overflow", "integer_forward", "integer_refusal", "integer_weight",
           "supports_integer", "worst_case_bits"]

EXACT = AccumulatorSpec(bits=64, mode="exact")


def _weight_refusal(cfg) -> str | None:
    if cfg.w_bits is None:
        return "the integer path needs integer weights (w_bits is None)"
    if cfg.w_granularity != "per-channel" or not cfg.w_symmetric:
        return (f"the integer path needs symmetric per-channel weights; "
                f"got w_granularity={cfg.w_granularity!r}, w_symmetric={cfg.w_symmetric}")
    return None


def integer_refusal(cfg) -> str | None:
    """Why a PrecisionConfig cannot run on the integer path, or None when it can: integer
    weights and activations of 2..8 bits (the widths int_matmul simulates), symmetric, per
    channel / per token. The one statement of the rule, for the check and the errors alike."""
    weight = _weight_refusal(cfg)
    if weight is not None:
        return weight
    if cfg.a_bits is None:
        return "the integer path needs integer activations (a_bits is None)"
    if cfg.a_granularity != "per-token" or not cfg.a_symmetric:
        return (f"the integer path needs symmetric per-token activations; "
                f"got a_granularity={cfg.a_granularity!r}, a_symmetric={cfg.a_symmetric}")
    if max(cfg.a_bits, cfg.a_high_bits, cfg.w_bits) > 8:
        return "the integer path simulates operands of 2..8 bits"
    return None


def supports_integer(cfg) -> bool:
    """Whether a PrecisionConfig can run on the integer path (see integer_refusal)."""
    return integer_refusal(cfg) is None


def activation_max(cfg) -> int:
    """Largest |code| of the layer's activations: 2^(b-1) - 1 for the widest row width b
    (symmetric narrow-range quantizers)."""
    return (1 << (cfg.widest_activation_bits - 1)) - 1


def accumulator_budget(cfg) -> A2QConfig:
    """The L1 budget of the config's weight_l1 on its accumulator, for inputs of the widest
    activation width (A2Q / A2Q+ with round to nearest, AXE with GPTQ / GPFQ)."""
    return A2QConfig.from_accumulator(cfg.accumulator, cfg.w_bits, cfg.widest_activation_bits, True,
                                      method=cfg.weight_l1)


def worst_case_bits(l1_max: int, x_max: int) -> int:
    """Register width in bits that holds every partial sum of a dot product whose integer
    weights have L1 norm <= l1_max, for inputs |x| <= x_max: the smallest P with
    x_max * l1_max <= 2^(P-1) - 1."""
    return max(int(x_max * l1_max).bit_length() + 1, 2)


def _stage_l1(codes: np.ndarray, tile: int | None) -> tuple[int, int]:
    """(largest L1 norm of one K-tile of one output channel, largest L1 norm of a channel).

    codes : (out, in) integer weights. Every prefix of a tile's partial sums is bounded by
    the tile's L1 norm times max |x|; the outer register's running sum by the channel's."""
    mag = np.abs(codes.astype(np.int64))
    whole = int(mag.sum(axis=1).max(initial=0))
    if tile is None or tile >= mag.shape[1]:
        return whole, whole
    pad = (-mag.shape[1]) % tile
    tiles = np.pad(mag, ((0, 0), (0, pad))).reshape(mag.shape[0], -1, tile).sum(axis=2)
    return int(tiles.max(initial=0)), whole


def can_overflow(layer) -> bool:
    """Whether any input the layer can see could make its accumulator overflow.

    The rule: an exact accumulator never does; otherwise the worst case is
    max|x| * (largest L1 norm of the integer weights over one K-tile of one output channel)
    against the inner register, and max|x| * (largest L1 norm of a channel) against a
    non-exact outer register (AccumulatorSpec.tile). Data-independent: it holds for every
    input in the activation quantizer's range. Layers without an integer path are judged
    on the widths alone (K * max|x| * max|w|).
    """
    cfg = layer.config
    acc = cfg.accumulator
    if acc is None or acc.mode is AccMode.EXACT or cfg.w_bits is None or cfg.a_bits is None:
        return False
    x_max = activation_max(cfg)
    outer_exact = acc.tile is None or acc.outer_bits is None or acc.effective_outer_mode is AccMode.EXACT

    def overflows(tile_l1: int, whole_l1: int) -> bool:
        inner = worst_case_bits(tile_l1, x_max) > acc.bits
        return inner or (not outer_exact and worst_case_bits(whole_l1, x_max) > acc.outer_bits)

    k, w_max = layer.linear.in_features, (1 << (cfg.w_bits - 1)) - 1
    if not overflows(min(acc.tile or k, k) * w_max, k * w_max):
        return False  # every weight at its largest code still fits: no need to quantize to know
    if not supports_integer(cfg):
        return True
    return overflows(*_stage_l1(integer_weight(layer)[0], acc.tile))


def _check(layer, refusal=integer_refusal) -> None:
    reason = refusal(layer.config)
    if reason is not None:
        raise ValueError(f"{layer.layer_name}: {reason}")


def integer_weight(layer) -> tuple[np.ndarray, np.ndarray]:
    """(codes (out, in) int8, scales (out,) float64) of the layer's quantized weight."""
    cached = getattr(layer, "_int_weight", None)
    if cached is not None:
        return cached
    _check(layer, _weight_refusal)
    codes, scales = layer.weight_codes()
    layer._int_weight = (codes.cpu().numpy().astype(np.int8), scales.reshape(-1).double().cpu().numpy())
    return layer._int_weight


@torch.no_grad()
def integer_forward(layer, x: torch.Tensor, accumulator: AccumulatorSpec | None = None,
                    stats=None) -> torch.Tensor:
    """Run `layer` (a StampLinear) on x (batch, tokens, in) through kernels.int_matmul.

    accumulator : the register to simulate; None = the layer config's (exact if it has none).
    stats : the LayerStats that receives the overflow counts; None = the layer's own.
    """
    _check(layer)
    cfg = layer.config
    acc = accumulator or cfg.accumulator or EXACT
    tokens = x.shape[-2]
    z, seq = layer.transform_input(x)
    bits = layer.row_bits(z, seq is not None)
    qt = layer.quantize_input(z, bits)
    if layer.record_stats and stats is None:
        layer.record(x, z, qt.dequantize().to(x.dtype), bits, seq)
    codes = qt.q.to(torch.int8).cpu().numpy()  # (B, P, K)
    sx = qt.scale.squeeze(-1).double().cpu().numpy()  # (B, P)
    wq, sw = integer_weight(layer)
    wT = np.ascontiguousarray(wq.T)
    b_np = bits.cpu().numpy()
    out = np.zeros((*codes.shape[:2], wq.shape[0]), dtype=np.float64)
    overflows = 0
    overflowed_outputs = 0
    for width in np.unique(b_np):
        sel = b_np == width
        rows = codes[sel]  # (R, K)
        res = int_matmul(rows, wT, acc, x_bits=int(width), w_bits=cfg.w_bits)
        out[sel] = res.values.astype(np.float64) * sx[sel][:, None] * sw[None, :]
        overflows += int(res.overflows.sum())
        overflowed_outputs += int((res.overflows > 0).sum())
    s = layer.stats if stats is None else stats
    s.overflows += overflows
    s.overflowed_outputs += overflowed_outputs
    s.outputs += int(out.shape[0] * out.shape[1] * out.shape[2])
    s.additions += int(out.shape[0] * out.shape[1] * out.shape[2] * codes.shape[-1])
    y = torch.from_numpy(out).to(device=x.device, dtype=torch.float64)
    if seq is not None:
        y = seq.inverse(y, tokens=tokens)
    y = y.to(x.dtype)
    if layer.linear.bias is not None:
        y = y + layer.linear.bias
    return y
