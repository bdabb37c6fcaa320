"""Model registry: ``load_model(name)`` and ``available_models()``.

Each loader module registers itself with :func:`register_model`, so adding a
model is one new decorated function, not an edit here. A spec carries two
callables: ``load`` (weights and tokenizer, slow) and ``skeleton`` (the same
architecture on the meta device, no weights, used to trace GEMM shapes).
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Any, Callable

__all__ = [
    "LoadedModel",
    "ModelKind",
    "ModelSpec",
    "available_models",
    "load_model",
    "model_spec",
    "register_model",
    "registered_spec",
]


class ModelKind(str, enum.Enum):
    """What a model consumes and how accuracy is judged downstream."""

    CAUSAL_LM = "causal-lm"  # token ids in, next-token logits out: perplexity, KL
    ENCODER = "encoder"  # token ids in, embeddings out: output SQNR, cosine
    VIT = "vit"  # pixel values in, patch embeddings out: output SQNR, cosine
    DIT = "dit"  # diffusion transformer on a latent token grid: priced only (architecture cards)


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model and what is needed to feed it.

    Attributes
    ----------
    name : str
        Registry name (``"smollm2-135m"``).
    kind : ModelKind
    model : torch.nn.Module
        float32, CPU, eval mode, parameters with ``requires_grad=False``.
    tokenizer : object or None
        Hugging Face tokenizer for text models; None for the ViT and the tiny Llama.
    grid : (int, int) or None
        ViT patch grid (h, w) for its input size; None for text models.
    image_size : int or None
        ViT input side in pixels; None for text models.
    notes : str
        Caveats a report must repeat (e.g. "fp = dequantized Q4_1").
    source : str
        The file or folder the weights came from.
    """

    name: str
    kind: ModelKind
    model: Any
    tokenizer: Any
    grid: tuple[int, int] | None
    image_size: int | None
    notes: str
    source: str

    @property
    def tokens(self) -> int | None:
        """Sequence length of one ViT input (CLS + h*w patches); None for text."""
        return None if self.grid is None else 1 + self.grid[0] * self.grid[1]


@dataclass(frozen=True)
class ModelSpec:
    """How to load one model and how to build it without weights.

    Registered models, local paths and architecture cards all resolve to one
    (:func:`model_spec`). ``cost_only`` names why a model has no weights to load
    (a config.json alone, a card); it is empty for loadable models. ``shapes``,
    when set, gives the workload directly (tokens -> DataFrame) for architectures
    with no torch skeleton (the DiT cards). ``source`` is the path or citation.
    """

    name: str
    kind: ModelKind
    notes: str
    load: Callable[[], LoadedModel]
    skeleton: Callable[[], Any]
    image_size: int | None = None
    source: str = ""
    cost_only: str = ""
    shapes: Callable[[int | None], Any] | None = None

    @property
    def loadable(self) -> bool:
        """True when weights exist to evaluate accuracy (not a config or a card alone)."""
        return not self.cost_only
    #: What a slow first load will do ("" when nothing: already converted, or nothing to convert).
    first_load: Callable[[], str] = lambda: ""


_SPECS: dict[str, ModelSpec] = {}
_LOADED: dict[str, LoadedModel] = {}
_LOCK = threading.Lock()


def register_model(
    name: str,
    *,
    kind: ModelKind,
    notes: str,
    skeleton: Callable[[], Any],
    image_size: int | None = None,
    first_load: Callable[[], str] | None = None,
) -> Callable[[Callable[[], LoadedModel]], Callable[[], LoadedModel]]:
    """Decorator: register ``load`` (no arguments, returns LoadedModel) under ``name``.

    first_load() says, before loading, what a first load will do that later ones skip."""

    def decorate(load: Callable[[], LoadedModel]) -> Callable[[], LoadedModel]:
        if name in _SPECS:
            raise ValueError(f"model name {name!r} is registered twice")
        _SPECS[name] = ModelSpec(name, kind, notes, load, skeleton, image_size,
                                *([first_load] if first_load else []))
        return load

    return decorate


def available_models() -> tuple[str, ...]:
    """Registered model names, sorted."""
    return tuple(sorted(_SPECS))


def registered_spec(name: str) -> ModelSpec | None:
    """The registered spec called ``name``, or None."""
    return _SPECS.get(name) if isinstance(name, str) else None


def model_spec(name: str) -> ModelSpec:
    """The spec for a registered name, an architecture card or a local path (see ``resolve``).

    Raises ValueError (ModelInputError) naming the value and what is allowed.
    """
    spec = registered_spec(name)
    if spec is not None:
        return spec
    from .resolve import resolve_spec  # resolve builds on this module

    return resolve_spec(name)


def load_model(name: str, *, fresh: bool = False) -> LoadedModel:
    """Load a registered model (offline; nothing is fetched from a hub).

    Parameters
    ----------
    name : str
        One of :func:`available_models`.
    fresh : bool
        The default returns one shared instance per process, so repeated calls
        are free. Code that modifies the model in place (wrapping its linear
        layers) must pass ``fresh=True`` or ``copy.deepcopy(record.model)``.

    Raises
    ------
    ValueError
        Unknown name.
    MissingPackageError
        A package the model ships in is not installed; the message says what to run.
    """
    spec = model_spec(name)
    if fresh:
        return spec.load()
    with _LOCK:
        if name not in _LOADED:
            _LOADED[name] = spec.load()
        return _LOADED[name]
