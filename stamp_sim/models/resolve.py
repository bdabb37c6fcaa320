"""The one resolver behind every ``--model``: a registered name, an architecture card, or a path.

Order: a registered model name (``smollm2-135m``), then a card name (``llama-3-8b``, or
``card:NAME`` to reach a card a registered model shadows), then a path: a ``.gguf`` file,
a ``config.json`` (cost only) or a Hugging Face folder (cost only without weights).
Specs of paths are cached per resolved path within the process.
"""

from __future__ import annotations

import functools
from pathlib import Path

from .errors import ModelInputError
from .registry import ModelSpec, available_models, registered_spec

__all__ = ["CARD_PREFIX", "catalog", "resolve_spec"]

CARD_PREFIX = "card:"


def _looks_like_path(ref: str) -> bool:
    return "/" in ref or "\\" in ref or ref.endswith((".gguf", ".json")) or ref.startswith(".") or Path(ref).exists()


@functools.lru_cache(maxsize=32)
def _path_spec(path: Path) -> ModelSpec:
    from .local import config_json_spec, folder_spec, gguf_spec

    if not path.exists():
        raise ModelInputError(f"model path {str(path)!r} does not exist; allowed: a registered model "
                              f"({', '.join(available_models())}), a card (stamp-sim models), a Hugging Face "
                              "folder, a .gguf file or a config.json")
    if path.is_dir():
        return folder_spec(path)
    if path.suffix == ".gguf":
        return gguf_spec(path)
    if path.suffix == ".json":
        return config_json_spec(path)
    raise ModelInputError(f"model path {str(path)!r} is a {path.suffix or 'suffix-less'} file; allowed: a Hugging "
                          "Face folder, a .gguf file or a config.json")


def resolve_spec(ref: str) -> ModelSpec:
    """ModelSpec for ``ref`` (see the module docstring); ModelInputError naming what is allowed."""
    from .cards import card_names, card_spec

    if not isinstance(ref, str) or not ref:
        raise ModelInputError(f"model {ref!r} is invalid; allowed: a model name, a card name or a path")
    spec = registered_spec(ref)
    if spec is not None:
        return spec
    card = ref[len(CARD_PREFIX):] if ref.startswith(CARD_PREFIX) else ref
    if card in card_names():
        return card_spec(card)
    if ref.startswith(CARD_PREFIX) or not _looks_like_path(ref):
        raise ModelInputError(f"unknown model {ref!r}; choose one of: {', '.join(available_models())}; "
                              f"cards (cost only): {', '.join(card_names())}; or a path to a Hugging Face "
                              "folder, a .gguf file or a config.json")
    return _path_spec(Path(ref).expanduser().resolve())


def catalog():
    """Every model ``--model`` knows by name: registered models, then cards.

    Returns
    -------
    pandas.DataFrame with columns name, kind, use ("loadable" or "cost only"), source
    (the card's published config, or the registered model's notes).
    """
    import pandas as pd

    from .cards import card_names, card_spec

    rows = [(n, registered_spec(n).kind.value, "loadable", registered_spec(n).notes) for n in available_models()]
    for n in card_names():
        spec = card_spec(n)
        rows.append((CARD_PREFIX + n if registered_spec(n) else n, spec.kind.value, "cost only", spec.source))
    return pd.DataFrame(rows, columns=["name", "kind", "use", "source"])
