"""Wavelet choices and the level rule shared by `dwt` and `dwt2d`."""

from __future__ import annotations

import functools

import pywt

from ._checks import check_choice, check_int

__all__ = [
    "orthogonal_wavelets",
    "check_wavelet",
    "check_levels_for",
    "filter_length",
    "is_haar",
    "validate_levels",
]


@functools.cache
def orthogonal_wavelets() -> tuple[str, ...]:
    """PyWavelets' discrete wavelets whose periodized transform is orthonormal, sorted.

    Biorthogonal families (bior*, rbio*) are refused: their analysis matrix is not
    orthonormal, so energy per row would not add up to the signal's energy.
    """
    return tuple(
        sorted(w for w in pywt.wavelist(kind="discrete") if pywt.Wavelet(w).orthogonal)
    )


def check_wavelet(wavelet: object) -> str:
    return check_choice("wavelet", wavelet, orthogonal_wavelets())


def filter_length(wavelet: str) -> int:
    """Taps of the wavelet's decomposition filter (2 for Haar, 4 for db2): what
    pywt.dwt_max_level and hw_models.effective_levels take."""
    return pywt.Wavelet(wavelet).dec_len


def is_haar(wavelet: str) -> bool:
    """'haar' and 'db1' share the 2-tap filter and take the vectorized path."""
    return filter_length(wavelet) == 2


def check_levels_for(levels: int, wavelet: str, length: int, what: str) -> None:
    """Refuse `levels` deeper than pywt.dwt_max_level(length, filter length).

    That is PyWavelets' own rule (beyond it every coefficient is a boundary
    effect, and pywt warns); for Haar it reads 2^levels <= length. `length` is
    the unpadded count (tokens, or one grid side), so padding never buys depth.
    """
    filter_len = filter_length(wavelet)
    deepest = pywt.dwt_max_level(length, filter_len)
    if levels > deepest:
        allowed = f"[1, {deepest}]" if deepest >= 1 else "none (too short for one level)"
        raise ValueError(
            f"levels={levels} is too deep for {what}={length} with wavelet {wavelet!r} "
            f"(filter length {filter_len}); allowed: {allowed} "
            "(pywt.dwt_max_level)"
        )


def validate_levels(levels: object) -> int:
    return check_int("levels", levels, 1)
