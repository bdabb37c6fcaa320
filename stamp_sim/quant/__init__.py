"""Quantizers (per-tensor/token/channel/group, mixed bits per row; GPTQ, GPFQ, AXE) and bit allocation."""

from stamp_sim.quant._uniform import (
    Granularity,
    QuantizedTensor,
    dequantize,
    fake_quantize,
    quantize,
    quantizer_range,
)
from stamp_sim.quant.a2q import A2QConfig, A2QWeights, a2q_l1_bound, a2q_plus_l1_bound, a2q_quantize
from stamp_sim.quant.allocation import ALLOCATION_METHODS, BitAllocation, allocate_bits, row_energy
from stamp_sim.quant.gpfq import gpfq_quantize
from stamp_sim.quant.gptq import gptq_quantize

__all__ = [
    "A2QConfig",
    "A2QWeights",
    "a2q_l1_bound",
    "a2q_plus_l1_bound",
    "a2q_quantize",
    "ALLOCATION_METHODS",
    "BitAllocation",
    "Granularity",
    "QuantizedTensor",
    "allocate_bits",
    "gpfq_quantize",
    "gptq_quantize",
    "dequantize",
    "fake_quantize",
    "quantize",
    "quantizer_range",
    "row_energy",
]
