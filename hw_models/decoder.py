"""Everything of a decoder's forward pass that is not a linear layer, priced on a profile.

The linear layers (lm_head included) are GEMM rows of ``hw_models.price``; this module
prices the rest, one row per op and block, in the same units and with the same
``latency_s`` / ``energy_pj`` / ``weight_bytes`` columns, so the rows of both tables sum
to the whole forward:

- attention's two products per block, ``scores`` (Q K^T) and ``values`` (P V), fp16
  MACs on the MAC array. Grouped-query attention runs the q heads that share a K / V head
  as the rows of one GEMM against that head's keys, so the cache is read once per K / V
  head. Prefill is causal: s (s + 1) / 2 scores per head, a GEMM of (s + 1) / 2 keys on
  average. In decode the one new token attends to ``context`` cached tokens.
- the K / V cache: written at prefill (``kv_write``, at the cache's width, with its
  STaMP transform where configured), read by every decode step from DRAM at the cache's
  width and dequantized on the vector unit (a STaMP cache through its inverse transform,
  its high rows at their width); prefill's attention reads K and V once per
  block of queries that fits half the SRAM (flash-attention tiling).
- ``qk_rotation``: where the cache is quantized under a rotation (QuaRot / SpinQuant), an
  online Hadamard of each query and key head after the rotary embedding, head_dim padded
  to a power of two: tokens x (heads + kv_heads) x Dp log2 Dp adds (as
  ``transform_ops.feature_transform_ops``), fused next to rotary;
- ``softmax``, the two ``norm`` per block and the final one, ``rotary`` on q and k,
  two ``residual`` adds, the MLP ``activation`` (and a gated MLP's multiply): vector-unit
  element ops fused into the kernels next to them, so their operands cross SRAM, not
  DRAM (the linear layers already read their inputs from and write their outputs to DRAM).
- ``embedding``: the token rows gathered from the table in DRAM.
- ``call``: the profile's fixed cost of one forward call (efficiency.call_overhead_us).

Assumptions are op counts per element (``OPS_PER_ELEMENT``), each stated where used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._tables import FP16
from .bound import BOUNDS, is_memory_bound
from .kv_cache import KVCacheShape, kv_cache_cost
from .mac_array import dataflow_code, gemm_cycles_float, operand_accesses
from .precision import FeatureTransformKind, Phase
from .profile import HardwareProfile, OperandMode
from .transform_ops import FEATURE_CODES, feature_transform_ops

__all__ = ["DECODER_COLUMNS", "OPS_PER_ELEMENT", "DecoderShape", "KVPrecision", "price_decoder"]

# Vector-unit ops per element. RMSNorm: square, accumulate, scale by 1/rms, scale by the
# weight; rotary: x cos + rotate(x) sin; softmax: max, subtract, exp, sum, divide; SiLU:
# negate, exp, add one, divide, then the gate's multiply; GELU (tanh form) about six.
OPS_PER_ELEMENT = {"norm": 4.0, "rotary": 3.0, "softmax": 5.0, "residual": 1.0, "silu_gated": 5.0, "gelu": 6.0,
                   "kv_quant": 3.0, "kv_dequant": 2.0}
_FP16_BYTES = 2.0
_FP32_BYTES = 4.0

DECODER_COLUMNS = (
    "layer", "kind", "block", "tokens", "k", "n", "macs", "vector_ops", "weight_bytes", "kv_bytes", "dram_bytes",
    "sram_bytes", "mac_pj", "accumulate_pj", "sram_pj", "dram_pj", "vector_pj", "energy_pj", "mac_s", "vector_s",
    "compute_s", "memory_s", "overhead_s", "latency_s", "latency_overlap_s", "bound",
)  # fmt: skip


@dataclass(frozen=True)
class DecoderShape:
    """A decoder-only transformer's structure beyond its linear layers.

    layers : blocks; hidden : model width; heads / kv_heads : query and K / V heads;
    head_dim : features per head; intermediate : MLP width; vocab : embedding rows;
    gated_mlp : SwiGLU-style act(gate) x up (else one activation on fc1's output);
    rotary : rotary position embedding on q and k; tied_embeddings : lm_head shares the
    embedding table (its bytes are counted once, on lm_head's row).
    """

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    gated_mlp: bool = True
    rotary: bool = True
    tied_embeddings: bool = True

    def __post_init__(self) -> None:
        for key in ("layers", "hidden", "heads", "kv_heads", "head_dim", "intermediate", "vocab"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**24:
                raise ValueError(f"DecoderShape.{key}={value!r} is out of range; allowed: integers 1..2^24")
        if self.heads % self.kv_heads:
            raise ValueError(f"DecoderShape.heads={self.heads} is not a multiple of kv_heads={self.kv_heads}; "
                             "allowed: grouped-query attention with equal groups")

    @property
    def kv_shape(self) -> KVCacheShape:
        return KVCacheShape(layers=self.layers, kv_heads=self.kv_heads, head_dim=self.head_dim)

    @property
    def block_kv_shape(self) -> KVCacheShape:
        """One block's K / V cache (what each block writes and reads)."""
        return KVCacheShape(layers=1, kv_heads=self.kv_heads, head_dim=self.head_dim)

    @property
    def group(self) -> int:
        """Query heads per K / V head."""
        return self.heads // self.kv_heads


@dataclass(frozen=True)
class KVPrecision:
    """The K / V cache's storage (kv_cache_cost's arguments): bits None = fp16.

    qk_rotation : queries and keys are rotated online (a Hadamard per head) before the
        cache is written and read, as QuaRot / SpinQuant do for a quantized cache.
    """

    bits: int | None = None
    high_tokens: int = 0
    high_bits: int | None = None
    zero_points: bool = False
    seq_transform: str = "identity"
    seq_levels: int = 3
    filter_length: int = 2
    prefix: int = 0
    qk_rotation: bool = False

    def cache_cost(self, profile: HardwareProfile, shape: KVCacheShape, tokens: int, transform: bool = True):
        """kv_cache_cost of `tokens` tokens; without `transform`, as plain per-token rows."""
        seq = self.seq_transform if transform else "identity"
        return kv_cache_cost(profile, shape, int(tokens), self.bits, high_tokens=self.high_tokens if transform else 0,
                             high_bits=self.high_bits, zero_points=self.zero_points, seq_transform=seq,
                             seq_levels=self.seq_levels, filter_length=self.filter_length, prefix=self.prefix)


def _vector_row(profile: HardwareProfile, name: str, kind: str, tokens: int, elements: float,
                ops_per_element: float) -> dict:
    """An element-wise op fused next to a GEMM: its fp16 operand read and result written in SRAM."""
    ops = elements * ops_per_element
    sram = 2.0 * elements * _FP16_BYTES
    return {"layer": name, "kind": kind, "tokens": tokens, "vector_ops": ops, "sram_bytes": sram,
            "sram_pj": sram * profile.energy.sram_pj_per_byte, "vector_pj": ops * profile.energy.vector_op_pj,
            "vector_s": ops / profile.vector_ops_per_s}


def _fp16_gemm(profile: HardwareProfile, m: int, k: int, n: int, count: int) -> dict:
    """`count` independent m x k x n fp16 GEMMs on the MAC array: MACs, energy, seconds."""
    arr, spec = profile.mac_array, profile.modes[OperandMode.FP16]
    eff = spec.efficiency(m, profile.efficiency.small_m_rows)
    flow = dataflow_code(arr.dataflow)
    cycles = float(gemm_cycles_float(m, k, n, arr.rows, arr.cols, flow, arr.count, arr.fill))
    macs = float(m) * k * n * count
    inp, wgt, out = operand_accesses(m, k, n, arr.rows, arr.cols, flow)
    sram = count * (float(inp) + float(wgt)) * _FP16_BYTES + count * float(out) * _FP32_BYTES
    e = profile.energy
    return {"macs": macs, "mac_pj": macs * e.fp16_multiply_pj, "accumulate_pj": macs * e.fp32_add_pj,
            "sram_bytes": sram, "mac_s": count * cycles / (profile.packing(OperandMode.FP16) * eff * profile.clock_hz)}


def _attention_rows(profile, shape: DecoderShape, kv: KVPrecision, queries: int, keys: int,
                    decode: bool) -> list[dict]:
    """scores, softmax and values of one block: `queries` new tokens against `keys` keys."""
    hd, group = shape.head_dim, shape.group
    # Causal prefill: query i sees i + 1 keys; the GEMM runs (s + 1) / 2 keys on average.
    n_keys = keys if decode else -(-(queries + 1) // 2)
    scores_per_head = queries * keys if decode else queries * (queries + 1) / 2
    # The cache as prefill stored it: transformed, its high rows at high_bits. Every read
    # dequantizes it and runs the transform's inverse (a quarter of kv_cache_cost's
    # forward-and-inverse ops on K and V) before the product.
    cache = kv.cache_cost(profile, shape.block_kv_shape, keys)
    if decode:
        kv_reads = 1.0
    else:
        # Flash-attention tiling: K and V stream once per block of queries (Q in, O out) in half the SRAM.
        q_and_o = 2.0 * queries * shape.heads * hd * _FP16_BYTES
        kv_reads = max(1.0, float(np.ceil(q_and_o / (profile.memory.sram_bytes / 2.0))))
    half_cache = cache.bytes / 2.0  # K or V
    qo_bytes = queries * shape.heads * hd * _FP16_BYTES
    dequant = (OPS_PER_ELEMENT["kv_dequant"] * keys * shape.kv_heads * hd * kv_reads) if kv.bits is not None else 0.0
    rows = []
    for kind, (k, n), dram in (("scores", (hd, n_keys), qo_bytes + half_cache * kv_reads),
                               ("values", (n_keys, hd), qo_bytes + half_cache * kv_reads)):
        row = {"layer": kind, "kind": kind, "tokens": queries, "k": k, "n": n,
               "kv_bytes": half_cache, "dram_bytes": dram, "vector_ops": dequant}
        gemm = _fp16_gemm(profile, queries * group, k, n, shape.kv_heads)
        # The GEMM shape rounds causal keys up; count the MACs the scores really need.
        gemm["macs"] = scores_per_head * shape.heads * hd
        row.update(gemm)
        row["sram_bytes"] = gemm["sram_bytes"] + dram
        row["vector_pj"] = dequant * profile.energy.vector_op_pj + kv_reads * cache.transform_pj / 4.0
        row["vector_s"] = dequant / profile.vector_ops_per_s + kv_reads * cache.transform_s / 4.0
        rows.append(row)
    rows.insert(1, _vector_row(profile, "softmax", "softmax", queries,
                               scores_per_head * shape.heads, OPS_PER_ELEMENT["softmax"]))
    return rows


def _kv_write_row(profile, shape: DecoderShape, kv: KVPrecision, tokens: int, decode: bool) -> dict:
    """The block's new K and V rows written to the cache (quantized, transformed in prefill)."""
    cost = kv.cache_cost(profile, shape.block_kv_shape, tokens, transform=not decode)
    quant = OPS_PER_ELEMENT["kv_quant"] * 2.0 * tokens * shape.kv_heads * shape.head_dim if kv.bits is not None else 0.0
    # The transform's forward runs before the write; its inverse belongs to the reads.
    transform_pj, transform_s = cost.transform_pj / 2.0, cost.transform_s / 2.0
    return {"layer": "kv_write", "kind": "kv_write", "tokens": tokens, "kv_bytes": cost.bytes,
            "dram_bytes": cost.bytes, "sram_bytes": cost.bytes, "vector_ops": quant,
            "vector_pj": quant * profile.energy.vector_op_pj + transform_pj,
            "vector_s": quant / profile.vector_ops_per_s + transform_s}


def _block_rows(profile, shape: DecoderShape, kv: KVPrecision, s: int, keys: int, decode: bool) -> list[dict]:
    """Every non-linear op of one block, in execution order (every block's are the same)."""
    h = shape.hidden
    rows = [_vector_row(profile, "input_norm", "norm", s, s * h, OPS_PER_ELEMENT["norm"])]
    if shape.rotary:
        rows.append(_vector_row(profile, "rotary", "rotary", s, s * (shape.heads + shape.kv_heads) * shape.head_dim,
                                OPS_PER_ELEMENT["rotary"]))
    if kv.qk_rotation:
        heads = s * (shape.heads + shape.kv_heads)
        ops = float(feature_transform_ops(heads, shape.head_dim, FEATURE_CODES[FeatureTransformKind.HADAMARD]))
        rows.append(_vector_row(profile, "qk_rotation", "qk_rotation", s, heads * shape.head_dim,
                                ops / (heads * shape.head_dim)))
    rows.append(_kv_write_row(profile, shape, kv, s, decode))
    rows += _attention_rows(profile, shape, kv, s, keys, decode)
    act = "silu_gated" if shape.gated_mlp else "gelu"
    rows += [_vector_row(profile, "attn_residual", "residual", s, s * h, OPS_PER_ELEMENT["residual"]),
             _vector_row(profile, "post_norm", "norm", s, s * h, OPS_PER_ELEMENT["norm"]),
             _vector_row(profile, "activation", "activation", s, s * shape.intermediate, OPS_PER_ELEMENT[act]),
             _vector_row(profile, "mlp_residual", "residual", s, s * h, OPS_PER_ELEMENT["residual"])]
    return rows


def _embedding_row(profile, shape: DecoderShape, s: int, table_bits: int | None) -> dict:
    """The s token rows gathered from the embedding table (DRAM) and written out as fp16."""
    bits = 16 if table_bits is None else table_bits
    read = s * shape.hidden * bits / 8.0
    written = s * shape.hidden * _FP16_BYTES
    own = 0.0 if shape.tied_embeddings else shape.vocab * shape.hidden * bits / 8.0
    return {"layer": "embed_tokens", "kind": "embedding", "block": -1, "tokens": s, "weight_bytes": own,
            "dram_bytes": read + written, "sram_bytes": read + written}


def price_decoder(shape: DecoderShape, profile: HardwareProfile, phase: str | Phase, tokens: int,
                  context: int = 0, kv: KVPrecision | None = None, embedding_bits: int | None = None) -> pd.DataFrame:
    """The non-linear ops of one forward, one row per op and block (DECODER_COLUMNS).

    phase : "prefill" runs `tokens` tokens and writes their cache; "decode" runs one token
        that attends to `context` cached tokens (plus itself) and appends to the cache.
    kv : the cache's precision (None: fp16). embedding_bits : the table's width (None: fp16).
    Units: bytes, MACs, element ops, pJ, seconds.
    """
    phase = Phase(phase)
    decode = phase is Phase.DECODE
    for name, value, lo in (("tokens", tokens, 1), ("context", context, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= 2**24:
            raise ValueError(f"{name}={value!r} is out of range; allowed: integers {lo}..2^24")
    kv = kv or KVPrecision()
    s = 1 if decode else int(tokens)
    keys = int(context) + 1 if decode else s
    # Priced once: every block runs the same ops on the same shapes; only the names differ.
    block = _block_rows(profile, shape, kv, s, keys, decode)
    rows = [_embedding_row(profile, shape, s, embedding_bits)]
    rows += [{**r, "layer": f"model.layers.{b}.{r['layer']}", "block": b} for b in range(shape.layers) for r in block]
    rows.append({**_vector_row(profile, "model.norm", "norm", s, s * shape.hidden, OPS_PER_ELEMENT["norm"]), "block": -1})
    frame = _finish(pd.DataFrame(rows), profile)
    if profile.efficiency.call_overhead_us > 0:
        # The runtime's fixed cost of one forward call: a row of its own, so it shows in the breakdown.
        call = {c: 0.0 for c in DECODER_COLUMNS}
        wait = profile.efficiency.call_overhead_us * 1e-6
        call.update(layer="call", kind="call", block=-1, tokens=s, k=0, n=0, overhead_s=wait, latency_s=wait,
                    latency_overlap_s=wait, bound="compute")
        frame = pd.concat([frame, pd.DataFrame([call]).astype(frame.dtypes.to_dict())], ignore_index=True)
    return frame


def _finish(frame: pd.DataFrame, profile: HardwareProfile) -> pd.DataFrame:
    """Fill the missing counts with 0, add DRAM energy and time, latency, bound."""
    for col in DECODER_COLUMNS:
        if col not in frame:
            frame[col] = 0.0
    numeric = [c for c in DECODER_COLUMNS if c not in ("layer", "kind", "bound")]
    frame[numeric] = frame[numeric].fillna(0.0)
    e = profile.energy
    frame["dram_pj"] = frame["dram_bytes"] * e.dram_pj_per_byte
    frame["sram_pj"] = np.where(frame["sram_pj"] > 0, frame["sram_pj"], frame["sram_bytes"] * e.sram_pj_per_byte)
    frame["energy_pj"] = frame[["mac_pj", "accumulate_pj", "sram_pj", "dram_pj", "vector_pj"]].sum(axis=1)
    frame["compute_s"] = frame["mac_s"] + frame["vector_s"]
    frame["memory_s"] = frame["dram_bytes"] / profile.dram_bytes_per_s
    # Attention's products are kernels of their own; the fused element-wise ops are not.
    frame["overhead_s"] = np.where(frame["macs"] > 0, profile.efficiency.kernel_overhead_us * 1e-6, 0.0)
    frame["latency_s"] = np.maximum(frame["compute_s"], frame["memory_s"]) + frame["overhead_s"]
    frame["latency_overlap_s"] = (np.maximum(np.maximum(frame["mac_s"], frame["vector_s"]), frame["memory_s"])
                                  + frame["overhead_s"])
    memory = is_memory_bound(frame["memory_s"].to_numpy(), frame["compute_s"].to_numpy())
    frame["bound"] = pd.Categorical.from_codes(memory.astype(np.int8), categories=list(BOUNDS))
    return frame.astype({"block": "int64", "tokens": "int64", "k": "int64", "n": "int64"})[list(DECODER_COLUMNS)]
