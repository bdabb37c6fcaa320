"""StampLinear: a linear layer executed as  Y = L^-1 [Q(L X R) Q(R^T W)] + b.

L is a token-axis (sequence) transform, R a feature-axis transform (Hadamard rotation
or SmoothQuant scaling), Q per-row mixed-precision quantizers. The wrapped
torch.nn.Linear is kept as it is: its weights are never modified.

Two execution paths behind one module:
- ``fake`` (default): quantize-dequantize in float, then a float matmul;
- ``int``: integer codes, one integer GEMM per bit-width group through
  ``kernels.int_matmul`` with the config's AccumulatorSpec (``stamp_sim.nn.integer``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from stamp_sim.config import PrecisionConfig
from stamp_sim.metrics import sqnr_from_sums, sum_of_squares
from stamp_sim.nn.sequence import sequence_for
from stamp_sim.quant import allocate_bits, quantize
from stamp_sim.transforms import KLT, feature_transform_from, sequence_transform_from

__all__ = ["LayerStats", "StampLinear"]


@dataclass
class LayerStats:
    """Running accuracy statistics of one layer's activation quantization.

    signal / noise : sum of x^2 and of (x - x_hat)^2 over every call, x_hat the
        dequantized input mapped back to X's domain (L^-1 Q(L X R) R^-1).
    first_k_energy / total_energy : energy of the first k transformed rows vs all rows.
    overflows : additions that left an accumulator's range (integer path, kernels.int_matmul);
    overflowed_outputs / outputs : outputs touched by at least one overflow / all outputs of
        integer GEMMs (on the fake-quant path, which runs only where the accumulator provably
        cannot overflow, outputs count with no overflow);
    additions : accumulator additions simulated (outputs x K).
    """

    signal: float = 0.0
    noise: float = 0.0
    first_k_energy: float = 0.0
    total_energy: float = 0.0
    calls: int = 0
    overflows: int = 0
    overflowed_outputs: int = 0
    outputs: int = 0
    additions: int = 0
    bits_sum: float = 0.0
    rows: int = 0

    @property
    def sqnr_db(self) -> float:
        return sqnr_from_sums(self.signal, self.noise)

    @property
    def energy_concentration(self) -> float:
        return self.first_k_energy / self.total_energy if self.total_energy else 0.0

    @property
    def overflow_rate(self) -> float:
        """Share (0..1) of integer GEMM outputs whose accumulation overflowed at least once."""
        return self.overflowed_outputs / self.outputs if self.outputs else 0.0

    @property
    def avg_bits(self) -> float:
        return self.bits_sum / self.rows if self.rows else 0.0


class StampLinear(nn.Module):
    """Fake-quant (or integer) STaMP execution of a wrapped ``torch.nn.Linear``.

    Inputs are (batch, tokens, in_features) or (tokens, in_features). A one-token input
    (decoding) skips the sequence transform and is quantized at ``a_bits``.
    """

    def __init__(self, linear: nn.Linear, config: PrecisionConfig, name: str = "", grid=None) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise ValueError(f"linear is {type(linear).__name__}; allowed: torch.nn.Linear")
        self.linear = linear
        self.config = config
        self.layer_name = name
        self.mode = "fake"
        self.weights_only = False  # True: activations in float, only the weight quantized (weight calibration)
        self.record_stats = False
        self.stats = LayerStats()
        self.calibrating = False
        self._calib: dict[str, torch.Tensor] = {}
        # Each transform takes, of what the config (and the token grid) offers, what it declares.
        available = config.transform_parameters()
        if grid is not None:
            available["grid"] = tuple(grid)
        try:
            self.seq = (sequence_transform_from(config.seq_transform, available)
                        if config.uses_sequence_transform else None)
            self.feature = feature_transform_from(config.feature_transform, available)
        except ValueError as exc:
            raise ValueError(f"{name or 'layer'}: {exc}") from None
        self._short_seq: dict[int, object] = {}
        self._qweight: torch.Tensor | None = None
        self._int_weight = None
        self._calibrated_weight = None  # a QuantizedTensor from GPTQ / GPFQ / AXE, when set

    # -- calibration ----------------------------------------------------------------------
    @property
    def needs_calibration(self) -> bool:
        return isinstance(self.seq, KLT) or self.feature.needs_calibration

    def finish_calibration(self) -> None:
        """Fit the calibrated transforms from the statistics gathered while calibrating."""
        if self.feature.needs_calibration:
            if "absmax" not in self._calib:
                raise ValueError(f"{self.layer_name}: {self.feature.name} was not calibrated "
                                 "(no calibration batch ran)")
            self.feature.fit(self._calib["absmax"].unsqueeze(0), self.linear.weight.detach())
        if isinstance(self.seq, KLT):
            if "autocorr" not in self._calib:
                raise ValueError(f"{self.layer_name}: klt was not calibrated (no calibration batch ran)")
            s = self._calib["autocorr"] / self._calib["count"]
            # KLT.fit takes activations; a square-root factor of S has the same autocorrelation.
            values, vectors = torch.linalg.eigh(s)
            n = s.shape[0]
            factor = vectors * values.clamp_min(0).mul(n).sqrt()
            self.seq.fit(factor)
        self._calib = {}
        self._qweight = None
        self._int_weight = None
        self.calibrating = False

    def _observe(self, x: torch.Tensor) -> None:
        xd = x.detach().double().reshape(-1, *x.shape[-2:])
        if self.feature.needs_calibration:
            m = xd.abs().amax(dim=(0, 1))
            prev = self._calib.get("absmax")
            self._calib["absmax"] = m if prev is None else torch.maximum(prev, m)
        if isinstance(self.seq, KLT):
            # KLT sees L's input, X R; a feature transform still being calibrated is not applied yet.
            xf = xd if self.feature.needs_calibration else self.feature.transform_activations(xd)
            s = torch.einsum("bid,bjd->ij", xf, xf)
            prev = self._calib.get("autocorr")
            if prev is not None and prev.shape != s.shape:
                raise ValueError(f"{self.layer_name}: klt calibration batches must share one token count")
            self._calib["autocorr"] = s if prev is None else prev + s
            self._calib["count"] = self._calib.get("count", 0) + xf.shape[0] * xf.shape[-1]

    # -- weights --------------------------------------------------------------------------
    def transformed_weight(self) -> torch.Tensor:
        """R^T-side weight (out, in) in float, before quantization."""
        return self.feature.transform_weight(self.linear.weight.detach())

    @property
    def needs_weight_calibration(self) -> bool:
        """Whether the weights come from calibration data (GPTQ, GPFQ, AXE), not round to nearest."""
        return self.config.w_bits is not None and self.config.weight_method != "rtn"

    def set_quantized_weight(self, qt) -> None:
        """Use `qt` (a QuantizedTensor of the transformed weight, (out, in), e.g. from GPTQ) as
        this layer's quantized weight on both paths; None goes back to the config's quantizer."""
        self._calibrated_weight = qt
        self._qweight = None
        self._int_weight = None

    @property
    def calibrated_weight(self):
        """The QuantizedTensor set by set_quantized_weight (e.g. GPTQ's), None otherwise."""
        return self._calibrated_weight

    def _weight_quant(self):
        cfg = self.config
        if self._calibrated_weight is not None:
            return self._calibrated_weight
        if self.needs_weight_calibration:
            raise ValueError(f"{self.layer_name}: weight_method={cfg.weight_method!r} needs calibration data "
                             "(stamp_sim.nn.calibrate_weights) before the layer runs")
        w = self.transformed_weight()
        if cfg.weight_l1 != "none":
            return self._a2q_weight(w)
        return quantize(w, cfg.w_bits, cfg.w_granularity, symmetric=cfg.w_symmetric,
                        group_size=cfg.w_group_size, clip_ratio=cfg.w_clip)

    def _a2q_weight(self, w: torch.Tensor):
        """Per-channel weights whose L1 norms rule out overflow of the config's accumulator
        for every activation the layer can produce (symmetric, up to max(a_bits, a_high_bits))."""
        from stamp_sim.quant import QuantizedTensor
        from stamp_sim.quant._budget import check_budget
        from stamp_sim.quant.a2q import a2q_quantize

        from stamp_sim.nn.integer import accumulator_budget

        cfg = self.config
        a2q = accumulator_budget(cfg)
        try:  # a budget under one code would silently zero the layer: refuse, naming the minimum width
            check_budget(a2q, cfg.w_bits, cfg.w_symmetric, cfg.w_granularity, w.shape[1])
        except ValueError as exc:
            raise ValueError(f"{self.layer_name}: {exc}") from None
        res = a2q_quantize(w.T, a2q)  # (in x out) as A2Q states it
        q = res.q.T.to(w.dtype)
        scale = res.scale.reshape(-1, 1).to(w.dtype)
        return QuantizedTensor(q=q, scale=scale, zero_point=torch.zeros_like(scale),
                               bits=torch.tensor(cfg.w_bits), shape=w.shape, symmetric=True)

    def weight_codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(integer codes (out, in), per-output-channel scales (out, 1)) of the weight."""
        qt = self._weight_quant()
        return qt.q, qt.scale

    def quantized_weight(self) -> torch.Tensor:
        """Fake-quantized transformed weight (out, in), computed once and cached."""
        if self._qweight is None:
            w = self.transformed_weight()
            self._qweight = w if self.config.w_bits is None else self._weight_quant().dequantize().to(w.dtype)
        return self._qweight

    # -- activations ----------------------------------------------------------------------
    def row_bits(self, z: torch.Tensor, transformed: bool) -> torch.Tensor:
        """Widths in bits per row of the (transformed) activation z (batch, rows, d)."""
        cfg = self.config
        rows = z.shape[-2]
        if not transformed and rows == 1:
            return torch.full((*z.shape[:-2], 1), cfg.a_bits, dtype=torch.int64, device=z.device)
        k = cfg.high_row_count(rows)
        method = cfg.allocation.value
        if k == 0:
            return torch.full((*z.shape[:-2], rows), cfg.a_bits, dtype=torch.int64, device=z.device)
        alloc = allocate_bits(
            z if method != "first-k" else None, method, rows=rows, k=k, low_bits=cfg.a_bits,
            high_bits=cfg.a_high_bits, allowed=cfg.allowed_bits if method == "energy" else None,
        )
        bits = alloc.bits
        if method == "first-k":
            bits = bits.to(z.device).expand(*z.shape[:-2], rows)
        return bits

    def seq_for(self, tokens: int):
        """The sequence transform used for `tokens` rows, or None (one token: decoding).

        stamp_sim.nn.sequence.sequence_for is the rule (the one the cost model prices as
        hw_models.padded_rows): short sequences run fewer DWT levels, a ViT's CLS row and
        the config's sink_tokens stay untransformed.
        """
        if self.seq is None or tokens <= 1:
            return None
        if tokens not in self._short_seq:
            self._short_seq[tokens] = sequence_for(self.seq, tokens, self.config.sink_tokens)
        return self._short_seq[tokens]

    def transform_input(self, x: torch.Tensor):
        """(L X R, L or None): the activation the quantizer sees and the L applied."""
        xf = self.feature.transform_activations(x)
        seq = self.seq_for(x.shape[-2])
        return (seq.forward(xf), seq) if seq is not None else (xf, None)

    def quantize_input(self, z: torch.Tensor, bits: torch.Tensor):
        cfg = self.config
        return quantize(z, bits, cfg.a_granularity, symmetric=cfg.a_symmetric,
                        group_size=cfg.a_group_size, clip_ratio=cfg.a_clip)

    def record(self, x: torch.Tensor, z: torch.Tensor, zq: torch.Tensor, bits: torch.Tensor, seq) -> None:
        """Add one call to the running statistics: x the input, z = L X R, zq its dequantized
        codes, bits the row widths, seq the sequence transform applied (or None)."""
        s = self.stats
        back = seq.inverse(zq, tokens=x.shape[-2]) if seq is not None else zq
        back = self.feature.inverse_activations(back)
        x = x.detach()
        s.signal += sum_of_squares(x)
        # the difference in x's dtype (a 4- or 8-bit quantizer's error is far above its
        # rounding), only the sums in float64: two fewer float64 copies of the activation
        s.noise += sum_of_squares(x - back.detach().to(x.dtype))
        zd = z.detach()
        e = (zd * zd).sum(dim=-1, dtype=torch.float64)
        k = self.config.high_rows
        s.first_k_energy += float(e[..., :k].sum())
        s.total_energy += float(e.sum())
        s.bits_sum += float(bits.double().sum())
        s.rows += int(bits.numel())
        s.calls += 1

    # -- forward --------------------------------------------------------------------------
    @torch.no_grad()  # a forward-only simulator: rounding has no useful gradient anyway
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if self.calibrating:
            self._observe(x if x.dim() >= 2 else x.unsqueeze(0))
            return self.linear(x)
        if cfg.a_bits is None and cfg.w_bits is None:
            return self.linear(x)
        if self.weights_only:
            return self.weight_only_forward(x)
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(0)
        if x.dim() != 3:
            raise ValueError(f"{self.layer_name}: input has shape {tuple(x.shape)}; allowed: (batch, tokens, features)")
        if self.mode == "int":
            from stamp_sim.nn.integer import integer_forward

            y = integer_forward(self, x)
        else:
            y = self.fake_forward(x)
        return y.squeeze(0) if squeeze else y

    def weight_only_forward(self, x: torch.Tensor) -> torch.Tensor:
        """(X R) Q(R^T W)^T + b: the quantized weight on the float (feature-transformed) input,
        no sequence transform, no activation quantizer, no statistics."""
        if self.config.w_bits is None:
            return self.linear(x)
        y = self.feature.transform_activations(x) @ self.quantized_weight().T.to(x.dtype)
        return y + self.linear.bias if self.linear.bias is not None else y

    def fake_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The fake-quant float path on x (batch, tokens, in), whatever ``mode`` says."""
        cfg = self.config
        tokens = x.shape[-2]
        w = self.quantized_weight()
        if cfg.a_bits is None:
            xf = self.feature.transform_activations(x)
            y = xf @ w.T.to(x.dtype)
        else:
            z, seq = self.transform_input(x)
            bits = self.row_bits(z, seq is not None)
            zq = self.quantize_input(z, bits).dequantize().to(x.dtype)
            if self.record_stats:
                self.record(x, z, zq, bits, seq)
                if cfg.w_bits is not None:  # an integer GEMM that provably cannot overflow here
                    self.stats.outputs += int(zq.shape[0] * zq.shape[-2] * w.shape[0])
            y = zq @ w.T.to(x.dtype)
            if seq is not None:
                y = seq.inverse(y, tokens=tokens)
        if self.linear.bias is not None:
            y = y + self.linear.bias
        return y

    def extra_repr(self) -> str:
        return f"{self.layer_name!r}, config={self.config.name!r}, mode={self.mode!r}"
