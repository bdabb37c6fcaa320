"""GGUF files through transformers: converted once to a plain Hugging Face folder, cached.

transformers dequantizes a GGUF's weights to float32 on load, so the "fp" reference
of a GGUF model is its dequantized weights. Parsing and dequantizing take seconds to
minutes; the first load writes the converted model (and the tokenizer, when the file
carries one) under the stamp-sim cache, keyed by the file's SHA-256 and the
transformers version, and later loads read that folder.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import tempfile
from pathlib import Path

from . import cache
from ._hf import quiet_transformers
from .errors import ModelInputError, require

__all__ = ["DONE_MARKER", "converted_gguf_dir", "gguf_config", "supported_gguf_architectures"]

DONE_MARKER = "stamp-sim-converted.json"
TOKENIZER_MARKER = "stamp-sim-no-tokenizer"


def _require(what: str) -> None:
    require(what, ("gguf", "pip install gguf"), ("accelerate", "pip install accelerate"))


def supported_gguf_architectures() -> tuple[str, ...]:
    """GGUF ``general.architecture`` values transformers can load, sorted."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return tuple(sorted(a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in ("general", "tokenizer")))


def _unsupported(gguf: Path, exc: Exception) -> ModelInputError:
    return ModelInputError(f"{gguf}: transformers cannot load this GGUF ({str(exc).strip().splitlines()[0]}); "
                           f"GGUF architectures it loads: {', '.join(supported_gguf_architectures())}")


def gguf_config(gguf: Path, what: str):
    """The transformers config in a GGUF's metadata (no dequantization; seconds for a big vocabulary)."""
    _require(what)
    with quiet_transformers(what):
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
        except (ValueError, KeyError) as exc:
            raise _unsupported(gguf, exc) from None
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    return config


def converted_gguf_dir(gguf: Path, prefix: str, what: str) -> Path:
    """``<cache>/<prefix>-<sha16>-tf<version>/``: config.json, float32 model.safetensors and,
    when the GGUF carries a tokenizer, its files; converts the first time."""
    _require(what)
    with quiet_transformers(what):
        import transformers

        key = f"{cache.file_sha256(gguf)[:16]}-tf{transformers.__version__}"
        final = cache.cache_dir() / f"{prefix}-{key}"
        if (final / DONE_MARKER).is_file():
            return final
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
        try:
            _convert(gguf, tmp)
            (tmp / DONE_MARKER).write_text(json.dumps({"gguf": str(gguf), "key": key}))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        cache.publish_dir_atomic(tmp, final)
        return final


@contextlib.contextmanager
def _no_gguf_bar():
    """Silence transformers' GGUF dequantization bar (plain tqdm, which its progress-bar switch
    does not reach): the caller's "loading model" line already says a conversion runs."""
    from unittest import mock

    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from tqdm.auto import tqdm

    with mock.patch.object(gguf_utils, "tqdm", functools.partial(tqdm, disable=True)):
        yield


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with _no_gguf_bar():
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                         local_files_only=True)
    except (ValueError, KeyError) as exc:
        raise _unsupported(gguf, exc) from None
    # The weights are plain float32 now; dropping the GGUF quantizer makes the
    # saved folder an ordinary checkpoint that loads without the gguf package.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.save_pretrained(out)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    except (ValueError, KeyError, OSError, TypeError):
        # A GGUF need not carry a tokenizer (tests write bare ones); the model then runs
        # on synthetic token ids and refuses --data.
        (out / TOKENIZER_MARKER).write_text("the GGUF file has no tokenizer transformers can read\n")
        return
    tokenizer.save_pretrained(out)
