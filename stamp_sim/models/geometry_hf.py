"""ModelGeometry from a Hugging Face config, and ``geometry()`` for any model source.

Every source ends at a transformers config: a registered name or a card (its skeleton's
config), a Hugging Face folder, a config.json or a GGUF (``resolve``), a loaded model, or a
config dict. One builder per family (``_FAMILIES``, filled by ``@_family``) names the GEMMs
as transformers names the modules, so a mixed config's layer patterns and ``--per-layer``
read the same names as the traced workload (``models.workload``).

Read from the config: heads, K / V heads, head_dim; sliding windows from ``layer_types``
(transformers 5: "sliding_attention" / "full_attention" per layer, Gemma2's alternation,
Qwen2's max_window_layers) or else ``sliding_window`` (Mistral, Mixtral; Qwen2 / Qwen3 only
with ``use_sliding_window``); rotary from ``rope_parameters`` (transformers 5), ``rope_theta``
or ``position_embedding_type: rotary``; MoE from num_local_experts (Mixtral) or num_experts
(Qwen2-/Qwen3-MoE, with moe_intermediate_size, the shared expert, mlp_only_layers and
decoder_sparse_step).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from .errors import ModelInputError
from .geometry import Attention, Block, BlockKind, Gemm, GemmKind, Mlp, MlpKind, ModelGeometry
from .registry import LoadedModel, ModelKind, model_spec

__all__ = ["SUPPORTED_FAMILIES", "UnsupportedArchitectureError", "geometry", "geometry_from_config"]

_FAMILIES: dict[str, Callable[[Any, str], ModelGeometry]] = {}
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


class UnsupportedArchitectureError(ModelInputError):
    """A config whose model_type has no geometry builder (one line naming the supported ones)."""


def _family(*model_types: str):
    def register(build: Callable[[Any, str], ModelGeometry]):
        for t in model_types:
            _FAMILIES[t] = build
        return build

    return register


def _get(config, *names, default=None):
    """The first of `names` the config sets to something other than None."""
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return default


def _dtype_bytes(config) -> int:
    # transformers 5 warns on reading torch_dtype; older configs and dicts have only that name.
    dtype = config.dtype if hasattr(config, "dtype") else getattr(config, "torch_dtype", None)
    return _DTYPE_BYTES.get(str(dtype).removeprefix("torch."), 2) if dtype is not None else 2


def _rotary(config) -> tuple[bool, float]:
    """(rotary position embedding?, share of each head's features it rotates)."""
    rope = getattr(config, "rope_parameters", None)
    rotary = bool(rope) or getattr(config, "rope_theta", None) is not None \
        or getattr(config, "position_embedding_type", None) == "rotary"
    fraction = 1.0
    if isinstance(rope, Mapping) and "partial_rotary_factor" in rope:
        fraction = float(rope["partial_rotary_factor"])
    elif getattr(config, "rotary_pct", None) is not None:
        fraction = float(config.rotary_pct)
    elif getattr(config, "partial_rotary_factor", None) is not None:
        fraction = float(config.partial_rotary_factor)
    return rotary, fraction


def _windows(config, layers: int) -> list[int | None]:
    """Each layer's sliding window (None: full attention)."""
    window = getattr(config, "sliding_window", None) or None  # Qwen2-MoE writes 0 for none
    if getattr(config, "use_sliding_window", True) is False:
        window = None
    types = getattr(config, "layer_types", None)
    if types is None:
        return [window] * layers
    unknown = sorted({t for t in types} - {"sliding_attention", "full_attention"})
    if unknown:
        raise UnsupportedArchitectureError(f"model_type {config.model_type!r}: layer_types {unknown} have no "
                                           "geometry; allowed: sliding_attention, full_attention")
    return [window if t == "sliding_attention" and window else None for t in types[:layers]]


def _mlp_kind(config, gated: bool) -> tuple[MlpKind, str]:
    act = str(_get(config, "hidden_activation", "hidden_act", "activation_function", default="silu"))
    return (MlpKind.GATED if gated else MlpKind.PLAIN), act


def _heads(config) -> tuple[int, int, int]:
    heads = int(config.num_attention_heads)
    kv = int(_get(config, "num_key_value_heads", default=heads))
    head_dim = int(_get(config, "head_dim", default=config.hidden_size // heads))
    return heads, kv, head_dim


def _geometry(config, name: str, blocks: list[Block], embed_params: int, final_norm_params: int,
              head: str = "lm_head", tied: bool | None = None) -> ModelGeometry:
    h, vocab = int(config.hidden_size), int(config.vocab_size)
    tied = bool(_get(config, "tie_word_embeddings", default=True)) if tied is None else tied
    first = Block(BlockKind.EMBEDDING, -1, other_parameters=embed_params)
    last = Block(BlockKind.LM_HEAD, -1, gemms=(Gemm(head, GemmKind.LM_HEAD, h, vocab),), norms=1,
                 other_parameters=final_norm_params)
    return ModelGeometry(name=name, model_type=str(config.model_type), blocks=(first, *blocks, last), vocab=vocab,
                         hidden=h, dtype_bytes=_dtype_bytes(config), tied_embeddings=tied)


def _attention(config, prefix: str, window: int | None, *, fused: bool, qkv_bias: bool, o_bias: bool,
               qk_norm: bool, norms: int, norm_params: int, parallel: bool = False,
               names: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj"), layer: int) -> Block:
    h = int(config.hidden_size)
    heads, kv, hd = _heads(config)
    rotary, fraction = _rotary(config)
    if fused:  # one GEMM at the source
        gemms = [Gemm(f"{prefix}.{names[0]}", GemmKind.QKV, h, (heads + 2 * kv) * hd, bias=qkv_bias)]
    else:
        gemms = [Gemm(f"{prefix}.{names[0]}", GemmKind.Q, h, heads * hd, fused="qkv", bias=qkv_bias),
                 Gemm(f"{prefix}.{names[1]}", GemmKind.K, h, kv * hd, fused="qkv", bias=qkv_bias),
                 Gemm(f"{prefix}.{names[2]}", GemmKind.V, h, kv * hd, fused="qkv", bias=qkv_bias)]
    gemms.append(Gemm(f"{prefix}.{names[-1]}", GemmKind.O, heads * hd, h, bias=o_bias))
    att = Attention(heads, kv, hd, window=window, rotary=rotary, rotary_fraction=fraction, qk_norm=qk_norm,
                    parallel=parallel)
    return Block(BlockKind.ATTENTION, layer, tuple(gemms), attention=att, norms=norms,
                 other_parameters=norm_params + (2 * hd if qk_norm else 0))


def _gated(prefix: str, h: int, width: int, bias: bool = False, experts: int = 1, top_k: int = 1) -> list[Gemm]:
    return [Gemm(f"{prefix}.gate_proj", GemmKind.GATE, h, width, top_k, experts, fused="gate_up", bias=bias),
            Gemm(f"{prefix}.up_proj", GemmKind.UP, h, width, top_k, experts, fused="gate_up", bias=bias),
            Gemm(f"{prefix}.down_proj", GemmKind.DOWN, width, h, top_k, experts, bias=bias)]


def _moe(config, prefix: str, layer: int, norms: int, norm_params: int) -> Block | None:
    """The MoE block of `layer`, or None where the config puts a dense MLP (Qwen-MoE's
    mlp_only_layers and decoder_sparse_step)."""
    experts = int(_get(config, "num_local_experts", "num_experts", default=0))
    if not experts or layer in (getattr(config, "mlp_only_layers", None) or []):
        return None
    if (layer + 1) % int(_get(config, "decoder_sparse_step", default=1)):
        return None
    h, top_k = int(config.hidden_size), int(config.num_experts_per_tok)
    width = int(_get(config, "moe_intermediate_size", "intermediate_size"))
    shared = int(_get(config, "shared_expert_intermediate_size", default=0))
    gemms = [Gemm(f"{prefix}.gate", GemmKind.ROUTER, h, experts), *_gated(f"{prefix}.experts", h, width,
                                                                          experts=experts, top_k=top_k)]
    if shared:
        gemms += _gated(f"{prefix}.shared_expert", h, shared)
        gemms.append(Gemm(f"{prefix}.shared_expert_gate", GemmKind.SHARED_GATE, h, 1))
    _, act = _mlp_kind(config, True)
    mlp = Mlp(MlpKind.GATED, act, width, experts=experts, top_k=top_k, shared_intermediate=shared)
    return Block(BlockKind.MOE_MLP, layer, tuple(gemms), mlp=mlp, norms=norms, other_parameters=norm_params)


_QKV_BIAS = {"qwen2", "qwen2_moe"}
_QK_NORM = {"qwen3", "qwen3_moe", "gemma3_text"}
_SANDWICH = {"gemma2", "gemma3_text"}  # a norm after attention and after the MLP too


@_family("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
         "gemma3_text", "phi3")
def _llama_like(config, name: str) -> ModelGeometry:
    """Pre-norm decoders with RMSNorm, gated MLP (or MoE) and the Llama module names; Phi-3 fuses
    qkv_proj and gate_up_proj at the source."""
    t = config.model_type
    h, layers = int(config.hidden_size), int(config.num_hidden_layers)
    side = 2 if t in _SANDWICH else 1  # norms per sublayer
    attn_bias = bool(getattr(config, "attention_bias", False))
    mlp_bias = bool(getattr(config, "mlp_bias", False))
    blocks: list[Block] = []
    for i, window in enumerate(_windows(config, layers)):
        p = f"model.layers.{i}"
        names = ("qkv_proj", "o_proj") if t == "phi3" else ("q_proj", "k_proj", "v_proj", "o_proj")
        blocks.append(_attention(config, f"{p}.self_attn", window, fused=t == "phi3",
                                 qkv_bias=attn_bias or t in _QKV_BIAS, o_bias=attn_bias, qk_norm=t in _QK_NORM,
                                 norms=side, norm_params=side * h, names=names, layer=i))
        moe = _moe(config, f"{p}.mlp", i, side, side * h)
        if moe is not None:
            blocks.append(moe)
            continue
        width = int(config.intermediate_size)
        if t == "phi3":
            gemms = [Gemm(f"{p}.mlp.gate_up_proj", GemmKind.GATE_UP, h, 2 * width),
                     Gemm(f"{p}.mlp.down_proj", GemmKind.DOWN, width, h)]
        else:
            gemms = _gated(f"{p}.mlp", h, width, bias=mlp_bias)
        kind, act = _mlp_kind(config, True)
        blocks.append(Block(BlockKind.MLP, i, tuple(gemms), mlp=Mlp(kind, act, width), norms=side,
                            other_parameters=side * h))
    return _geometry(config, name, blocks, embed_params=int(config.vocab_size) * h, final_norm_params=h)


def _plain_mlp(config, prefix: str, layer: int, names: tuple[str, str], width: int, norm_params: int) -> Block:
    h = int(config.hidden_size)
    gemms = (Gemm(f"{prefix}.{names[0]}", GemmKind.FC1, h, width, bias=True),
             Gemm(f"{prefix}.{names[1]}", GemmKind.FC2, width, h, bias=True))
    kind, act = _mlp_kind(config, False)
    return Block(BlockKind.MLP, layer, gemms, mlp=Mlp(kind, act, width), norms=1, other_parameters=norm_params)


@_family("gpt2")
def _gpt2(config, name: str) -> ModelGeometry:
    """GPT-2: LayerNorms, learned positions, fused c_attn, plain GELU MLP (n_inner or 4 x hidden)."""
    h, layers = int(config.hidden_size), int(config.num_hidden_layers)
    width = int(_get(config, "n_inner", default=4 * h))
    blocks: list[Block] = []
    for i in range(layers):
        p = f"transformer.h.{i}"
        blocks.append(_attention(config, f"{p}.attn", None, fused=True, qkv_bias=True, o_bias=True, qk_norm=False,
                                 norms=1, norm_params=2 * h, names=("c_attn", "c_proj"), layer=i))
        blocks.append(_plain_mlp(config, f"{p}.mlp", i, ("c_fc", "c_proj"), width, 2 * h))
    positions = int(config.n_positions) * h
    return _geometry(config, name, blocks, embed_params=int(config.vocab_size) * h + positions,
                     final_norm_params=2 * h)


@_family("opt")
def _opt(config, name: str) -> ModelGeometry:
    """OPT: LayerNorms, learned positions (2 offset rows), plain ReLU MLP of ffn_dim."""
    h, layers = int(config.hidden_size), int(config.num_hidden_layers)
    if int(_get(config, "word_embed_proj_dim", default=h)) != h:
        raise UnsupportedArchitectureError(f"model_type 'opt' with word_embed_proj_dim={config.word_embed_proj_dim} "
                                           f"!= hidden_size={h} (project_in / project_out) has no geometry; allowed: "
                                           "word_embed_proj_dim equal to hidden_size")
    bias = bool(getattr(config, "enable_bias", True))
    blocks: list[Block] = []
    for i in range(layers):
        p = f"model.decoder.layers.{i}"
        blocks.append(_attention(config, f"{p}.self_attn", None, fused=False, qkv_bias=bias, o_bias=bias,
                                 qk_norm=False, norms=1, norm_params=2 * h,
                                 names=("q_proj", "k_proj", "v_proj", "out_proj"), layer=i))
        blocks.append(_plain_mlp(config, p, i, ("fc1", "fc2"), int(config.ffn_dim), 2 * h))
    final = 2 * h if getattr(config, "do_layer_norm_before", True) else 0
    positions = (int(config.max_position_embeddings) + 2) * h
    return _geometry(config, name, blocks, embed_params=int(config.vocab_size) * h + positions, final_norm_params=final)


@_family("gpt_neox")
def _gpt_neox(config, name: str) -> ModelGeometry:
    """GPT-NeoX (Pythia): LayerNorms, fused query_key_value, partial rotary, parallel residual."""
    h, layers = int(config.hidden_size), int(config.num_hidden_layers)
    parallel = bool(getattr(config, "use_parallel_residual", True))
    bias = bool(getattr(config, "attention_bias", True))
    blocks: list[Block] = []
    for i in range(layers):
        p = f"gpt_neox.layers.{i}"
        blocks.append(_attention(config, f"{p}.attention", None, fused=True, qkv_bias=bias, o_bias=bias,
                                 qk_norm=False, norms=1, norm_params=2 * h, parallel=parallel,
                                 names=("query_key_value", "dense"), layer=i))
        blocks.append(_plain_mlp(config, f"{p}.mlp", i, ("dense_h_to_4h", "dense_4h_to_h"),
                                 int(config.intermediate_size), 2 * h))
    return _geometry(config, name, blocks, embed_params=int(config.vocab_size) * h, final_norm_params=2 * h,
                     head="embed_out", tied=bool(getattr(config, "tie_word_embeddings", False)))


#: model_types with a geometry builder, sorted.
SUPPORTED_FAMILIES = tuple(sorted(_FAMILIES))


def _hf_config(data: Mapping):
    """A config.json mapping as a transformers config (its class fills the defaults)."""
    from .local import _config_from_dict

    return _config_from_dict(dict(data), Path("config.json"))


def geometry_from_config(config, name: str | None = None) -> ModelGeometry:
    """The ModelGeometry of a transformers PretrainedConfig or a config.json dict.

    UnsupportedArchitectureError (a ModelInputError) names the model_type and the
    supported ones (SUPPORTED_FAMILIES)."""
    if isinstance(config, Mapping):
        config = _hf_config(config)
    model_type = getattr(config, "model_type", None)
    build = _FAMILIES.get(model_type)
    if build is None:
        raise UnsupportedArchitectureError(f"model_type {model_type!r} has no model geometry; allowed: "
                                           f"{', '.join(SUPPORTED_FAMILIES)} (its linear layers alone: stamp-sim "
                                           "cost --linear-only)")
    return build(config, name or str(model_type))


@functools.lru_cache(maxsize=32)
def _named(ref: str) -> ModelGeometry:
    spec = model_spec(ref)
    if spec.kind is not ModelKind.CAUSAL_LM:
        raise ModelInputError(f"--model {ref}: a {spec.kind.value} model; allowed for the whole-model cost: "
                              "a causal LM (its linear layers alone: stamp-sim cost --linear-only)")
    # The skeleton's config is the resolved one: a card's published values, a folder's or a
    # GGUF's metadata, with the transformers class's defaults filled in.
    return geometry_from_config(spec.skeleton().config, name=ref)


def geometry(source) -> ModelGeometry:
    """The ModelGeometry of any model source, built once per name.

    source : a ModelGeometry (returned as is); a name, card or path as ``--model`` takes it
    (str or Path: registered model, card, HF folder, config.json, .gguf; cached per name); a
    LoadedModel; a transformers model (its .config); a PretrainedConfig; or a config dict.
    ModelInputError for a model that is not a causal LM or whose family has no geometry.
    """
    if isinstance(source, ModelGeometry):
        return source
    if isinstance(source, Path):
        source = str(source)
    if isinstance(source, str):
        return _named(source)
    if isinstance(source, LoadedModel):
        if source.kind is not ModelKind.CAUSAL_LM:
            raise ModelInputError(f"model {source.name}: a {source.kind.value} model; allowed for the whole-model "
                                  "cost: a causal LM")
        return geometry_from_config(source.model.config, name=source.name)
    if isinstance(source, Mapping):
        return geometry_from_config(source)
    config = getattr(source, "config", None)
    if config is not None and hasattr(config, "model_type"):
        return geometry_from_config(config, name=type(source).__name__)
    if hasattr(source, "model_type"):
        return geometry_from_config(source)
    raise TypeError(f"geometry(source): got {type(source).__name__}; allowed: ModelGeometry, a model name or path, "
                    "LoadedModel, a transformers model or config, a config dict")
