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

Blocks may differ (``BlockShape``, one per block, filled by ``stamp_sim.models.architecture``
from the model's geometry): a sliding-window block attends to its last ``window`` tokens
(decode reads, and the cache holds, min(context + 1, window) tokens per such block); an
MoE block runs ``top_k`` experts per token, so ``mlp_width`` (elements through its
activation) is top_k x the expert width plus a shared expert's, and it adds a
``router_softmax`` over its experts and the ``expert_combine`` (each expert output scaled
by its routing weight and summed). ``qk_norm`` adds a norm per query and key head
(Qwen3, Gemma3); ``sandwich_norms`` a norm on each sublayer's output (Gemma2 / 3).

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

__all__ = ["ACTIVATIONS", "DECODER_COLUMNS", "OPS_PER_ELEMENT", "BlockShape", "DecoderShape", "KVPrecision",
           "price_decoder"]

# Vector-unit ops per element. RMSNorm: square, accumulate, scale by 1/rms, scale by the
# weight; rotary: x cos + rotate(x) sin; softmax: max, subtract, exp, sum, divide; SiLU:
# negate, exp, add one, divide (a gated MLP adds the gate's multiply); GELU (tanh form) about
# six; ReLU one compare; an MoE's expert_combine: scale by the routing weight, add.
OPS_PER_ELEMENT = {"norm": 4.0, "rotary": 3.0, "softmax": 5.0, "residual": 1.0, "silu_gated": 5.0, "gelu": 6.0,
                   "kv_quant": 3.0, "kv_dequant": 2.0, "gelu_gated": 7.0, "silu": 4.0, "relu": 1.0,
                   "expert_combine": 2.0}
#: The MLP activations priced (OPS_PER_ELEMENT keys); a gated one includes the gate's multiply.
ACTIVATIONS = ("gelu", "gelu_gated", "relu", "silu", "silu_gated")
_FP16_BYTES = 2.0
_FP32_BYTES = 4.0

DECODER_COLUMNS = (
    "layer", "kind", "block", "tokens", "k", "n", "macs", "vector_ops", "weight_bytes", "kv_bytes", "dram_bytes",
    "sram_bytes", "mac_pj", "accumulate_pj", "sram_pj", "dram_pj", "vector_pj", "energy_pj", "mac_s", "vector_s",
    "compute_s", "memory_s", "overhead_s", "latency_s", "latency_overlap_s", "bound",
)  # fmt: skip


@dataclass(frozen=True)
class BlockShape:
    """What one block does differently from the others.

    window : sliding-window attention over its last `window` tokens (None: every earlier
        token); mlp_width : elements per token through its MLP activation (None:
        DecoderShape.intermediate; an MoE block: top_k x expert width + shared expert width);
    experts / top_k : an MoE block's router width and experts per token (0: a dense MLP).
    """

    window: int | None = None
    mlp_width: int | None = None
    experts: int = 0
    top_k: int = 0

    def __post_init__(self) -> None:
        for key, lo in (("window", 1), ("mlp_width", 1), ("experts", 0), ("top_k", 0)):
            value = getattr(self, key)
            if value is None and key in ("window", "mlp_width"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= 2**24:
                raise ValueError(f"BlockShape.{key}={value!r} is out of range; allowed: integers {lo}..2^24"
                                 + (" or None" if key in ("window", "mlp_width") else ""))
        if (self.experts == 0) != (self.top_k == 0) or self.top_k > self.experts:
            raise ValueError(f"BlockShape.top_k={self.top_k} with experts={self.experts}; allowed: both 0 (dense) "
                             "or 1 <= top_k <= experts")


@dataclass(frozen=True)
class DecoderShape:
    """A decoder-only transformer's structure beyond its linear layers.

    layers : blocks; hidden : model width; heads / kv_heads : query and K / V heads;
    head_dim : features per head; intermediate : MLP width; vocab : embedding rows;
    gated_mlp : SwiGLU-style act(gate) x up (else one activation on fc1's output);
    rotary : rotary position embedding on q and k; tied_embeddings : lm_head shares the
    embedding table (its bytes are counted once, on lm_head's row); activation : an
    ACTIVATIONS key (None: silu_gated for a gated MLP, else gelu); qk_norm : a norm on each
    query and key head; sandwich_norms : a norm on each sublayer's output too (four a block);
    rotary_fraction : the share of each head's features rotated (GPT-NeoX: 0.25);
    blocks : one BlockShape per block (empty: every block the default BlockShape()).
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
    activation: str | None = None
    qk_norm: bool = False
    sandwich_norms: bool = False
    rotary_fraction: float = 1.0
    blocks: tuple[BlockShape, ...] = ()

    def __post_init__(self) -> None:
        for key in ("layers", "hidden", "heads", "kv_heads", "head_dim", "intermediate", "vocab"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**24:
                raise ValueError(f"DecoderShape.{key}={value!r} is out of range; allowed: integers 1..2^24")
        if self.heads % self.kv_heads:
            raise ValueError(f"DecoderShape.heads={self.heads} is not a multiple of kv_heads={self.kv_heads}; "
                             "allowed: grouped-query attention with equal groups")
        if self.activation is not None and self.activation not in ACTIVATIONS:
            raise ValueError(f"DecoderShape.activation={self.activation!r} is not priced; allowed: "
                             f"{', '.join(ACTIVATIONS)} or None")
        if not 0.0 < self.rotary_fraction <= 1.0:
            raise ValueError(f"DecoderShape.rotary_fraction={self.rotary_fraction!r} is out of range; allowed: (0, 1]")
        if self.blocks and (len(self.blocks) != self.layers or not all(isinstance(b, BlockShape) for b in self.blocks)):
            raise ValueError(f"DecoderShape.blocks holds {len(self.blocks)} entries for layers={self.layers}; "
                             "allowed: empty or one BlockShape per block")

    @property
    def activation_op(self) -> str:
        """The MLP activation's OPS_PER_ELEMENT key."""
        return self.activation or ("silu_gated" if self.gated_mlp else "gelu")

    def block(self, index: int) -> BlockShape:
        """Block `index`'s BlockShape (the default one when `blocks` is empty)."""
        return self.blocks[index] if self.blocks else BlockShape()

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


def _windowed_keys(queries: int, keys: int, decode: bool, window: int | None) -> tuple[int, float, int]:
    """(keys of the GEMM shape, scores per head, keys the cache holds) of one block.

    Causal prefill: query i sees i + 1 keys (the GEMM runs (s + 1) / 2 on average); a
    sliding window caps each query at `window` keys: w (w + 1) / 2 + (s - w) w scores in all.
    Decode: the new token sees every cached key, or the last `window`."""
    held = keys if window is None else min(keys, window)
    if decode:
        return held, queries * held, held
    if window is None or queries <= window:
        return -(-(queries + 1) // 2), queries * (queries + 1) / 2, held
    scores = window * (window + 1) / 2 + (queries - window) * window
    return int(np.ceil(scores / queries)), scores, held


def _attention_rows(profile, shape: DecoderShape, kv: KVPrecision, queries: int, keys: int,
                    decode: bool, window: int | None = None) -> list[dict]:
    """scores, softmax and values of one block: `queries` new tokens against `keys` keys
    (the last `window` of them for a sliding-window block)."""
    hd, group = shape.head_dim, shape.group
    n_keys, scores_per_head, held = _windowed_keys(queries, keys, decode, window)
    if decode:
        kv_reads, per_pass = 1.0, held
    else:
        # Flash-attention tiling: K and V stream once per block of queries (Q in, O out) in half the SRAM.
        q_and_o = 2.0 * queries * shape.heads * hd * _FP16_BYTES
        kv_reads = max(1.0, float(np.ceil(q_and_o / (profile.memory.sram_bytes / 2.0))))
        # A window's tile of T queries needs T + window - 1 keys, not all of them.
        per_pass = keys if window is None else min(keys, int(np.ceil(queries / kv_reads)) + window - 1)
    # The cache as prefill stored it: transformed, its high rows at high_bits. Every read
    # dequantizes it and runs the transform's inverse (a quarter of kv_cache_cost's
    # forward-and-inverse ops on K and V) before the product.
    cache = kv.cache_cost(profile, shape.block_kv_shape, held)
    read = cache if per_pass == held else kv.cache_cost(profile, shape.block_kv_shape, per_pass)
    half_read = read.bytes / 2.0  # K or V
    qo_bytes = queries * shape.heads * hd * _FP16_BYTES
    dequant = 0.0
    if kv.bits is not None:
        dequant = OPS_PER_ELEMENT["kv_dequant"] * per_pass * shape.kv_heads * hd * kv_reads
    rows = []
    for kind, (k, n) in (("scores", (hd, n_keys)), ("values", (n_keys, hd))):
        dram = qo_bytes + half_read * kv_reads
        row = {"layer": kind, "kind": kind, "tokens": queries, "k": k, "n": n,
               "kv_bytes": cache.bytes / 2.0, "dram_bytes": dram, "vector_ops": dequant}
        gemm = _fp16_gemm(profile, queries * group, k, n, shape.kv_heads)
        # The GEMM shape rounds causal keys up; count the MACs the scores really need.
        gemm["macs"] = scores_per_head * shape.heads * hd
        row.update(gemm)
        row["sram_bytes"] = gemm["sram_bytes"] + dram
        row["vector_pj"] = dequant * profile.energy.vector_op_pj + kv_reads * read.transform_pj / 4.0
        row["vector_s"] = dequant / profile.vector_ops_per_s + kv_reads * read.transform_s / 4.0
        rows.append(row)
    rows.insert(1, _vector_row(profile, "softmax", "softmax", queries,
                               scores_per_head * shape.heads, OPS_PER_ELEMENT["softmax"]))
    return rows


def _kv_write_row(profile, shape: DecoderShape, kv: KVPrecision, tokens: int, decode: bool,
                  window: int | None = None) -> dict:
    """The block's new K and V rows written to the cache (quantized, transformed in prefill);
    a sliding-window block keeps only its last `window` tokens."""
    kept = tokens if window is None else min(tokens, window)
    cost = kv.cache_cost(profile, shape.block_kv_shape, kept, transform=not decode)
    quant = OPS_PER_ELEMENT["kv_quant"] * 2.0 * kept * shape.kv_heads * shape.head_dim if kv.bits is not None else 0.0
    # The transform's forward runs before the write; its inverse belongs to the reads.
    transform_pj, transform_s = cost.transform_pj / 2.0, cost.transform_s / 2.0
    return {"layer": "kv_write", "kind": "kv_write", "tokens": tokens, "kv_bytes": cost.bytes,
            "dram_bytes": cost.bytes, "sram_bytes": cost.bytes, "vector_ops": quant,
            "vector_pj": quant * profile.energy.vector_op_pj + transform_pj,
            "vector_s": quant / profile.vector_ops_per_s + transform_s}


def _block_rows(profile, shape: DecoderShape, kv: KVPrecision, s: int, keys: int, decode: bool,
                block: BlockShape) -> list[dict]:
    """Every non-linear op of one block, in execution order."""
    h = shape.hidden
    heads = s * (shape.heads + shape.kv_heads)  # query and key heads of the s tokens
    rows = [_vector_row(profile, "input_norm", "norm", s, s * h, OPS_PER_ELEMENT["norm"])]
    if shape.qk_norm:
        rows.append(_vector_row(profile, "qk_norm", "qk_norm", s, heads * shape.head_dim, OPS_PER_ELEMENT["norm"]))
    if shape.rotary:
        rows.append(_vector_row(profile, "rotary", "rotary", s, heads * shape.head_dim * shape.rotary_fraction,
                                OPS_PER_ELEMENT["rotary"]))
    if kv.qk_rotation:
        ops = float(feature_transform_ops(heads, shape.head_dim, FEATURE_CODES[FeatureTransformKind.HADAMARD]))
        rows.append(_vector_row(profile, "qk_rotation", "qk_rotation", s, heads * shape.head_dim,
                                ops / (heads * shape.head_dim)))
    rows.append(_kv_write_row(profile, shape, kv, s, decode, block.window))
    rows += _attention_rows(profile, shape, kv, s, keys, decode, block.window)
    if shape.sandwich_norms:
        rows.append(_vector_row(profile, "attn_out_norm", "norm", s, s * h, OPS_PER_ELEMENT["norm"]))
    rows += [_vector_row(profile, "attn_residual", "residual", s, s * h, OPS_PER_ELEMENT["residual"]),
             _vector_row(profile, "post_norm", "norm", s, s * h, OPS_PER_ELEMENT["norm"])]
    if block.experts:
        rows.append(_vector_row(profile, "router_softmax", "router_softmax", s, s * block.experts,
                                OPS_PER_ELEMENT["softmax"]))
    width = shape.intermediate if block.mlp_width is None else block.mlp_width
    rows.append(_vector_row(profile, "activation", "activation", s, s * width, OPS_PER_ELEMENT[shape.activation_op]))
    if block.experts:
        rows.append(_vector_row(profile, "expert_combine", "expert_combine", s, s * block.top_k * h,
                                OPS_PER_ELEMENT["expert_combine"]))
    if shape.sandwich_norms:
        rows.append(_vector_row(profile, "mlp_out_norm", "norm", s, s * h, OPS_PER_ELEMENT["norm"]))
    rows.append(_vector_row(profile, "mlp_residual", "residual", s, s * h, OPS_PER_ELEMENT["residual"]))
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
    # Priced once per distinct BlockShape: blocks of one shape run the same ops; only the names differ.
    priced: dict[BlockShape, list[dict]] = {}
    for b in range(shape.layers):
        variant = shape.block(b)
        if variant not in priced:
            priced[variant] = _block_rows(profile, shape, kv, s, keys, decode, variant)
    rows = [_embedding_row(profile, shape, s, embedding_bits)]
    rows += [{**r, "layer": f"model.layers.{b}.{r['layer']}", "block": b} for b in range(shape.layers)
             for r in priced[shape.block(b)]]
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
