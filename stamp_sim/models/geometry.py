"""A model's geometry: ordered blocks of declared kinds, each with its GEMMs and its
decode-time state, built once from any source (``geometry_hf.geometry``) and priced
without the model's name (``forward_cost.price_forward``).

A decoder is an ``embedding`` block, then per layer an ``attention`` block and an ``mlp``
(or ``moe_mlp``) block, then an ``lm_head`` block (the final norm and the output
projection). Each GEMM is per token: ``k`` in-features, ``n`` out-features, and
``rows_per_token`` rows a token sends through it: 1 for a dense layer, top_k for an MoE
expert GEMM (one of ``experts`` weight copies). Units: parameters are counts, bytes are
bytes (the K / V cache at fp16: 2 bytes a value).

``recurrent`` (SSM / linear-recurrent) blocks are declared for the hybrid-models work:
their decode-time state is a fixed number of bytes (``state_bytes``), not bytes per token.
No source builds one yet, and the cost model refuses them (``architecture.decoder_shape_of``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["FP16_BYTES", "Attention", "Block", "BlockKind", "Gemm", "GemmKind", "Mlp", "MlpKind", "ModelGeometry"]

#: Bytes of one fp16 value: the K / V cache's width in kv_bytes_per_token.
FP16_BYTES = 2


class BlockKind(str, enum.Enum):
    """What a block is; costing prices each kind its own way."""

    EMBEDDING = "embedding"
    ATTENTION = "attention"
    MLP = "mlp"
    MOE_MLP = "moe_mlp"
    RECURRENT = "recurrent"  # reserved for SSM / recurrent blocks: declared, not priced yet
    LM_HEAD = "lm_head"


class GemmKind(str, enum.Enum):
    """A GEMM's role (the workload's ``kind`` column; ``models.workload.linear_kind`` names
    the same roles from module names). qkv and gate_up are GEMMs fused at the source
    (GPT-2's c_attn, Phi-3's qkv_proj and gate_up_proj)."""

    Q = "q"
    K = "k"
    V = "v"
    QKV = "qkv"
    O = "o"  # noqa: E741  the attention output projection, as the workload names it
    GATE = "gate"
    UP = "up"
    GATE_UP = "gate_up"
    DOWN = "down"
    FC1 = "fc1"
    FC2 = "fc2"
    ROUTER = "router"
    SHARED_GATE = "shared_gate"
    LM_HEAD = "lm_head"


class MlpKind(str, enum.Enum):
    GATED = "gated"  # act(gate) x up, then down (SwiGLU, GeGLU)
    PLAIN = "plain"  # act(fc1), then fc2


def _check_ints(owner: str, obj, keys: tuple[str, ...], lo: int = 1) -> None:
    for key in keys:
        value = getattr(obj, key)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= 2**40:
            raise ValueError(f"{owner}.{key}={value!r} is out of range; allowed: integers {lo}..2^40")


@dataclass(frozen=True)
class Gemm:
    """One linear layer per token: (rows_per_token x k) @ (k x n).

    name : module path ("model.layers.0.self_attn.q_proj"; an MoE expert GEMM names the
        experts' module, its rows add ".{expert}" before the last part); kind : its role;
    rows_per_token : 1 dense, top_k for an expert GEMM; experts : weight copies it is one
        of (1 dense, E for an expert GEMM); fused : the group of separate GEMMs reading the
        same input that a runtime fuses into one ("qkv", "gate_up"), None when alone;
    bias : an n-vector added per output (parameters only; not priced).
    """

    name: str
    kind: GemmKind
    k: int
    n: int
    rows_per_token: int = 1
    experts: int = 1
    fused: str | None = None
    bias: bool = False

    def __post_init__(self) -> None:
        _check_ints("Gemm", self, ("k", "n", "rows_per_token", "experts"))
        if not isinstance(self.kind, GemmKind):
            raise ValueError(f"Gemm.kind={self.kind!r} is not a GemmKind; allowed: "
                             f"{', '.join(sorted(k.value for k in GemmKind))}")
        if self.rows_per_token > self.experts:
            raise ValueError(f"Gemm.rows_per_token={self.rows_per_token} exceeds experts={self.experts}; allowed: "
                             "1 for a dense GEMM, top_k <= experts for an expert GEMM")

    @property
    def parameters(self) -> int:
        """Weights (and biases) of every copy."""
        return self.experts * (self.k * self.n + (self.n if self.bias else 0))

    @property
    def active_parameters(self) -> int:
        """Weights (and biases) one token runs through."""
        return self.rows_per_token * (self.k * self.n + (self.n if self.bias else 0))

    @property
    def macs_per_token(self) -> int:
        return self.rows_per_token * self.k * self.n


@dataclass(frozen=True)
class Attention:
    """An attention block's variant: MHA (kv_heads = heads), GQA, MQA (kv_heads = 1).

    head_dim : features per head; window : sliding-window attention over the last
    `window` tokens (None: all earlier tokens); rotary : rotary position embedding on q and
    k, on `rotary_fraction` of each head's features; qk_norm : a norm per query and key head;
    parallel : attention and MLP read the same block input and add to one residual
    (GPT-NeoX, Phi-2): the same ops, priced as the sequential form.
    """

    heads: int
    kv_heads: int
    head_dim: int
    window: int | None = None
    rotary: bool = True
    rotary_fraction: float = 1.0
    qk_norm: bool = False
    parallel: bool = False

    def __post_init__(self) -> None:
        _check_ints("Attention", self, ("heads", "kv_heads", "head_dim"))
        if self.heads % self.kv_heads:
            raise ValueError(f"Attention.heads={self.heads} is not a multiple of kv_heads={self.kv_heads}; "
                             "allowed: grouped-query attention with equal groups")
        if self.window is not None:
            _check_ints("Attention", self, ("window",))
        if not 0.0 < self.rotary_fraction <= 1.0:
            raise ValueError(f"Attention.rotary_fraction={self.rotary_fraction!r} is out of range; allowed: (0, 1]")

    @property
    def kv_bytes_per_token(self) -> int:
        """K and V of one token in this block at fp16, bytes: 2 x kv_heads x head_dim x 2."""
        return 2 * self.kv_heads * self.head_dim * FP16_BYTES

    def cached_tokens(self, context: int) -> int:
        """Tokens the cache holds at `context` tokens: all of them, or the last `window`."""
        return context if self.window is None else min(context, self.window)


@dataclass(frozen=True)
class Mlp:
    """A dense or MoE MLP. activation : the config's name for it ("silu", "gelu", "relu");
    intermediate : a dense MLP's width, or one expert's; experts / top_k : an MoE's expert
    count and experts per token (0 / 0 dense); shared_intermediate : an always-on shared
    expert's width (Qwen2-MoE; 0 without)."""

    kind: MlpKind
    activation: str
    intermediate: int
    experts: int = 0
    top_k: int = 0
    shared_intermediate: int = 0

    def __post_init__(self) -> None:
        _check_ints("Mlp", self, ("intermediate",))
        _check_ints("Mlp", self, ("experts", "top_k", "shared_intermediate"), lo=0)
        if (self.experts == 0) != (self.top_k == 0) or self.top_k > self.experts:
            raise ValueError(f"Mlp.top_k={self.top_k} with experts={self.experts}; allowed: both 0 (dense) or "
                             "1 <= top_k <= experts")

    @property
    def activation_width(self) -> int:
        """Elements per token through the activation: the routed experts' and the shared expert's."""
        return self.intermediate * max(self.top_k, 1) + self.shared_intermediate


@dataclass(frozen=True)
class Block:
    """One block in execution order.

    layer : decoder layer index (-1 for embedding and lm_head); gemms : its linear layers in
    execution order; attention / mlp : the variant of an attention / MLP block;
    norms : norms on the hidden stream it runs per token; other_parameters : parameters
    outside its GEMMs (norm weights and biases, embedding tables); state_bytes : a recurrent
    block's fixed decode-time state.
    """

    kind: BlockKind
    layer: int
    gemms: tuple[Gemm, ...] = ()
    attention: Attention | None = None
    mlp: Mlp | None = None
    norms: int = 0
    other_parameters: int = 0
    state_bytes: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.kind, BlockKind):
            raise ValueError(f"Block.kind={self.kind!r} is not a BlockKind; allowed: "
                             f"{', '.join(sorted(k.value for k in BlockKind))}")
        needs = {BlockKind.ATTENTION: "attention", BlockKind.MLP: "mlp", BlockKind.MOE_MLP: "mlp"}.get(self.kind)
        if needs and getattr(self, needs) is None:
            raise ValueError(f"Block.{needs}=None for a {self.kind.value} block; allowed: its {needs} variant")
        if self.kind is BlockKind.MOE_MLP and not self.mlp.experts:
            raise ValueError("Block.mlp.experts=0 for a moe_mlp block; allowed: an MoE Mlp (experts >= 1)")

    @property
    def kv_bytes_per_token(self) -> int:
        """Decode-time K / V bytes this block adds per cached token (fp16; 0 without attention)."""
        return self.attention.kv_bytes_per_token if self.attention is not None else 0


@dataclass(frozen=True)
class ModelGeometry:
    """A model's blocks in execution order and what they share.

    name : how the model was named; model_type : its transformers model_type; vocab, hidden :
    vocabulary and model width; dtype_bytes : bytes of one float weight as published (2 for
    bf16 / fp16, 4 for fp32); tied_embeddings : lm_head reuses the embedding table (its
    weights counted once).
    """

    name: str
    model_type: str
    blocks: tuple[Block, ...]
    vocab: int
    hidden: int
    dtype_bytes: int = 2
    tied_embeddings: bool = True

    def __post_init__(self) -> None:
        _check_ints("ModelGeometry", self, ("vocab", "hidden", "dtype_bytes"))
        kinds = [b.kind for b in self.blocks]
        if not kinds or kinds[0] is not BlockKind.EMBEDDING or kinds[-1] is not BlockKind.LM_HEAD:
            raise ValueError(f"ModelGeometry.blocks of {self.name!r} run {[k.value for k in kinds][:3]}...; allowed: "
                             "an embedding block first and an lm_head block last")

    @property
    def layers(self) -> int:
        """Decoder layers (blocks between the embedding and lm_head, grouped by layer)."""
        return len({b.layer for b in self.blocks if b.layer >= 0})

    def blocks_of(self, *kinds: BlockKind) -> tuple[Block, ...]:
        return tuple(b for b in self.blocks if b.kind in kinds)

    def gemms(self) -> tuple[Gemm, ...]:
        """Every GEMM in execution order (lm_head last)."""
        return tuple(g for b in self.blocks for g in b.gemms)

    def _lm_head_shared(self) -> int:
        """lm_head's weights already counted in the embedding table (tied)."""
        return sum(g.parameters for g in self.blocks[-1].gemms if g.kind is GemmKind.LM_HEAD) \
            if self.tied_embeddings else 0

    def parameter_count(self) -> int:
        """Every parameter stored: GEMMs (every expert), norms, embedding tables (a tied lm_head once)."""
        return sum(g.parameters for g in self.gemms()) + sum(b.other_parameters for b in self.blocks) \
            - self._lm_head_shared()

    def active_parameter_count(self) -> int:
        """Parameters one token runs through: an MoE's top_k experts (not all of them)."""
        return sum(g.active_parameters for g in self.gemms()) + sum(b.other_parameters for b in self.blocks) \
            - self._lm_head_shared()

    def kv_bytes_per_token(self) -> int:
        """K / V cache bytes per token over every attention block at fp16 (no window applied):
        2 x layers x kv_heads x head_dim x 2 for a uniform decoder."""
        return sum(b.kv_bytes_per_token for b in self.blocks)

    def kv_cache_bytes(self, context: int) -> int:
        """The fp16 K / V cache at `context` tokens: a sliding-window block holds its last `window`."""
        return sum(b.attention.cached_tokens(int(context)) * b.kv_bytes_per_token
                   for b in self.blocks if b.attention is not None)

    def state_bytes(self) -> int:
        """Fixed decode-time state of the recurrent blocks (0 for a pure transformer)."""
        return sum(b.state_bytes for b in self.blocks)
