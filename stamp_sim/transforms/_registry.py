"""Name -> transform-class registries, filled by a decorator on each class.

A new transform is one new decorated dataclass in its own module; the factories
`sequence_transform` and `feature_transform` never change, and neither do their callers:
`sequence_transform_from(name, available)` takes, from a mapping of every parameter the
caller can offer, only the ones the registered dataclass declares (its init fields).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "Registry",
    "SEQUENCE_TRANSFORMS",
    "FEATURE_TRANSFORMS",
    "sequence_transform",
    "sequence_transform_from",
    "feature_transform",
    "feature_transform_from",
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

    def check_name(self, name: object, param: str = "name") -> str:
        """Return `name` if it is registered, else raise ValueError listing the names sorted."""
        if not isinstance(name, str) or name not in self._classes:
            raise ValueError(
                f"{param}={name!r} is not a {self.kind}; choose one of {list(self.names())}"
            )
        return name

    def parameters(self, name: str) -> tuple[str, ...]:
        """The parameters (init fields) the class registered as `name` takes, sorted."""
        cls = self._classes[self.check_name(name)]
        return tuple(sorted(f.name for f in dataclasses.fields(cls) if f.init))

    def build_from(self, name: str, available: Mapping[str, Any]) -> Any:
        """Instantiate `name` with the entries of `available` that its class declares.

        `available` is everything a caller can offer (e.g. a PrecisionConfig's transform
        parameters); the rest is ignored. A required parameter missing from it raises
        ValueError naming it and what was available.
        """
        wanted = self.parameters(name)
        params = {key: available[key] for key in wanted if key in available}
        missing = sorted(set(self._required(name)) - set(params))
        if missing:
            raise ValueError(
                f"{self.kind} {name!r} needs parameter(s) {missing}; available: {sorted(available)}"
            )
        return self.build(name, params)

    def _required(self, name: str) -> tuple[str, ...]:
        return tuple(
            f.name
            for f in dataclasses.fields(self._classes[name])
            if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )

    def build(self, name: str, params: Mapping[str, Any]) -> Any:
        """Instantiate the class registered as `name` with `params`.

        Raises ValueError for an unknown name, an unknown parameter or a missing
        required one, each listing what is allowed (sorted).
        """
        cls = self._classes[self.check_name(name)]
        allowed = list(self.parameters(name))
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(
                f"{self.kind} {name!r} got unknown parameter(s) {unknown}; allowed: {allowed}"
            )
        missing = sorted(set(self._required(name)) - set(params))
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


def sequence_transform_from(name: str, available: Mapping[str, Any]) -> Any:
    """Build sequence transform `name` from the entries of `available` it declares.

    Example: `sequence_transform_from("dct", {"levels": 3, "wavelet": "haar"})` is `DCT()`;
    with "dwt" it is `DWT(levels=3, wavelet="haar")`.
    """
    return SEQUENCE_TRANSFORMS.build_from(name, available)


def feature_transform_from(name: str, available: Mapping[str, Any]) -> Any:
    """Build feature transform `name` from the entries of `available` it declares."""
    return FEATURE_TRANSFORMS.build_from(name, available)


def sequence_transform_names() -> tuple[str, ...]:
    """Registered sequence transform names, sorted."""
    return SEQUENCE_TRANSFORMS.names()


def feature_transform_names() -> tuple[str, ...]:
    """Registered feature transform names, sorted."""
    return FEATURE_TRANSFORMS.names()
