"""Name -> transform-class registries, filled by a decorator on each class.

A new transform is one new decorated dataclass in its own module; the factories
`sequence_transform` and `feature_transform` never change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "Registry",
    "SEQUENCE_TRANSFORMS",
    "FEATURE_TRANSFORMS",
    "sequence_transform",
    "feature_transform",
    "sequence_transform_names",
    "feature_transform_names",
]

T = TypeVar("T", bound=type)


class Registry:
    """Maps a name to a dataclass and builds it from keyword parameters with clear errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: make `cls` buildable as `name`; sets `cls.name`."""

        def decorate(cls: T) -> T:
            if name in self._classes:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{self.kind} {name!r}: {cls.__name__} must be a dataclass")
            cls.name = name  # type: ignore[attr-defined]
            self._classes[name] = cls
            return cls

        return decorate

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._classes))

    def build(self, name: str, params: dict[str, Any]) -> Any:
        """Instantiate the class registered as `name` with `params`.

        Raises ValueError for an unknown name, an unknown parameter or a missing
        required one, each listing what is allowed (sorted).
        """
        if not isinstance(name, str) or name not in self._classes:
            raise ValueError(
                f"name={name!r} is not a {self.kind}; choose one of {list(self.names())}"
            )
        cls = self._classes[name]
        fields = [f for f in dataclasses.fields(cls) if f.init]
        allowed = sorted(f.name for f in fields)
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(
                f"{self.kind} {name!r} got unknown parameter(s) {unknown}; allowed: {allowed}"
            )
        missing = sorted(
            f.name
            for f in fields
            if f.name not in params
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        )
        if missing:
            raise ValueError(
                f"{self.kind} {name!r} needs parameter(s) {missing}; allowed: {allowed}"
            )
        return cls(**params)


SEQUENCE_TRANSFORMS = Registry("sequence transform")
FEATURE_TRANSFORMS = Registry("feature transform")


def sequence_transform(name: str, **params: Any) -> Any:
    """Build a sequence (token-axis) transform by name: see `sequence_transform_names()`.

    Example: `sequence_transform("dwt", levels=3, wavelet="haar").forward(x)`.
    """
    return SEQUENCE_TRANSFORMS.build(name, params)


def feature_transform(name: str, **params: Any) -> Any:
    """Build a feature (channel-axis) transform by name: see `feature_transform_names()`."""
    return FEATURE_TRANSFORMS.build(name, params)


def sequence_transform_names() -> tuple[str, ...]:
    """Registered sequence transform names, sorted."""
    return SEQUENCE_TRANSFORMS.names()


def feature_transform_names() -> tuple[str, ...]:
    """Registered feature transform names, sorted."""
    return FEATURE_TRANSFORMS.names()
