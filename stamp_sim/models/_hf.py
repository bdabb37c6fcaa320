"""Quiet, offline calls into Hugging Face transformers."""

from __future__ import annotations

import contextlib
from typing import Iterator

from .errors import require

__all__ = ["TRANSFORMERS_INSTALL", "quiet_transformers", "freeze"]

TRANSFORMERS_INSTALL = "pip install transformers"


@contextlib.contextmanager
def quiet_transformers(what: str) -> Iterator[None]:
    """Check transformers is installed; silence its progress bars and info logs inside.

    Loading reports and "Loading weights" bars would interleave with the
    CLI's own bars on stderr; real problems still surface as errors or as
    warnings (which pytest turns into failures). One bar is not covered:
    transformers' GGUF dequantization uses plain tqdm; the SmolLM2 loader
    silences that one itself (``smollm2._no_gguf_bar``).
    """
    require(what, ("transformers", TRANSFORMERS_INSTALL))
    from transformers.utils import logging as hf_logging

    bars_were_off = hf_logging.is_progress_bar_enabled() is False
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if not bars_were_off:
            hf_logging.enable_progress_bar()


def freeze(model):
    """Put a torch model in eval mode with gradients off; returns it."""
    model.eval()
    model.requires_grad_(False)
    return model
