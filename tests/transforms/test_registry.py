"""Factories: names, parameter checking and the shared input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stamp_sim.transforms import (
    DWT,
    feature_transform,
    sequence_transform,
    sequence_transform_names,
)


def test_sequence_names():
    assert sequence_transform_names() == ("dct", "dwt", "dwt2d", "identity", "klt", "wht")


def test_factory_builds_frozen_configs():
    t = sequence_transform("dwt", levels=2, wavelet="db4")
    assert t == DWT(levels=2, wavelet="db4") and t.name == "dwt"
    with pytest.raises(AttributeError):
        t.levels = 3


def test_unknown_names_list_choices_sorted():
    with pytest.raises(
        ValueError,
        match=r"name='haar' is not a sequence transform; choose one of "
        r"\['dct', 'dwt', 'dwt2d', 'identity', 'klt', 'wht'\]",
    ):
        sequence_transform("haar")
    with pytest.raises(ValueError, match=r"name='quarot' .*\['hadamard', 'none', 'smoothquant'\]"):
        feature_transform("quarot")


def test_unknown_and_missing_parameters():
    with pytest.raises(
        ValueError, match=r"unknown parameter\(s\) \['level'\]; allowed: \['levels', 'wavelet'\]"
    ):
        sequence_transform("dwt", level=3)
    with pytest.raises(ValueError, match=r"'dwt2d' needs parameter\(s\) \['grid'\]"):
        sequence_transform("dwt2d")
    with pytest.raises(
        ValueError, match=r"'dct' got unknown parameter\(s\) \['levels'\]; allowed: \[\]"
    ):
        sequence_transform("dct", levels=3)


@pytest.mark.parametrize("name", ["identity", "dwt", "dct", "wht"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_forward_refuses_nan_and_inf(name, bad):
    x = np.ones((8, 2))
    x[3, 1] = bad
    with pytest.raises(ValueError, match=r"x holds 1 NaN/Inf value\(s\) \(shape \(8, 2\)\)"):
        sequence_transform(name).forward(x)
    with pytest.raises(ValueError, match=r"x holds 1 NaN/Inf"):
        sequence_transform(name).forward(torch.from_numpy(x))


def test_bad_array_kinds():
    t = sequence_transform("dct")
    with pytest.raises(ValueError, match=r"x has shape \(8,\); allowed: \(\.\.\., tokens, f"):
        t.forward(np.ones(8))
    with pytest.raises(ValueError, match=r"x has dtype int64"):
        t.forward(np.ones((8, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"x has dtype torch.int32"):
        t.forward(torch.ones(8, 2, dtype=torch.int32))
    with pytest.raises(TypeError, match=r"x must be a numpy array or a torch tensor, got list"):
        t.forward([[1.0], [2.0]])


def test_huge_finite_values_are_not_mistaken_for_inf():
    """The NaN/Inf check sums first; a float32 sum that overflows must not be refused."""
    x = np.full((8, 2), 3e38, dtype=np.float32)
    y = sequence_transform("identity").forward(x)
    np.testing.assert_array_equal(y, x)


def test_build_from_takes_only_the_declared_parameters():
    from stamp_sim.transforms import DCT, DWT2D, feature_transform_from, sequence_transform_from
    from stamp_sim.transforms._registry import SEQUENCE_TRANSFORMS

    offered = {"levels": 2, "wavelet": "db2", "seed": 5, "alpha": 0.25, "grid": (4, 4)}
    assert sequence_transform_from("dwt", offered) == DWT(levels=2, wavelet="db2")
    assert sequence_transform_from("dct", offered) == DCT()
    assert sequence_transform_from("dwt2d", offered) == DWT2D(grid=(4, 4), levels=2, wavelet="db2")
    assert feature_transform_from("hadamard", offered).seed == 5
    assert feature_transform_from("smoothquant", offered).alpha == 0.25
    assert feature_transform_from("none", offered).name == "none"
    assert SEQUENCE_TRANSFORMS.parameters("dwt2d") == ("grid", "levels", "wavelet")
    with pytest.raises(
        ValueError, match=r"'dwt2d' needs parameter\(s\) \['grid'\]; available: \['levels', 'wavelet'\]"
    ):
        sequence_transform_from("dwt2d", {"levels": 2, "wavelet": "haar"})
    with pytest.raises(ValueError, match=r"wavelet='nope' is not allowed"):
        sequence_transform_from("dwt", {"wavelet": "nope"})
    with pytest.raises(ValueError, match=r"name='fft' is not a sequence transform; choose one of \['dct'"):
        sequence_transform_from("fft", offered)


def test_only_calibrated_feature_transforms_need_calibration():
    assert [feature_transform(n).needs_calibration for n in ("hadamard", "none", "smoothquant")] == [
        False, False, True]
