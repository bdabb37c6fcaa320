"""The names other parts of stamp-sim rely on (ARCHITECTURE.md: contracts)."""

from stamp_sim import hw_models

CONTRACT = [
    "load_profile", "ProfileError", "price", "price_layer", "totals", "LayerCost", "ENERGY_TERMS", "TIME_TERMS",
    "LayerPrecision", "bound_of", "padded_rows", "effective_levels", "FeatureTransformKind", "units",
]  # fmt: skip


def test_contract_names_are_exported():
    for name in CONTRACT:
        assert hasattr(hw_models, name), name
    for name in hw_models.__all__:
        assert hasattr(hw_models, name), name


def test_feature_transform_kind_has_no_old_alias():
    # stamp_sim has two other FeatureTransform classes; hw_models' enum is named apart.
    assert not hasattr(hw_models, "FeatureTransform")
    # hadamard-folded: a rotation folded into the weights offline (QuaRot's residual stream), free at run time.
    assert [k.value for k in hw_models.FeatureTransformKind] == ["none", "hadamard", "smoothquant", "hadamard-folded"]
    assert hw_models.LayerPrecision(feature_transform="hadamard").feature_transform is hw_models.FeatureTransformKind.HADAMARD


def test_units_convert_exactly_as_the_factors():
    u = hw_models.units
    for x in (0.0, 1.0, 30_627.84, 3.91e-7, 1e300):
        assert u.pj_to_mj(x) == x / 1e9
        assert u.s_to_ms(x) == x * 1e3
        assert u.s_to_us(x) == x * 1e6
        assert u.bytes_to_mb(x) == x / 1e6
    prof = hw_models.load_profile("tiny")
    assert prof.clock_hz == prof.clock_mhz * 1e6
    assert prof.memory.sram_bytes == prof.memory.sram_kib * 1024
