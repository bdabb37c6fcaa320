"""The names other parts of stamp-sim rely on (ARCHITECTURE.md: contracts)."""

import hw_models

CONTRACT = [
    "load_profile", "ProfileError", "price", "price_layer", "totals", "LayerCost", "ENERGY_TERMS", "TIME_TERMS",
    "LayerPrecision", "bound_of", "padded_rows", "effective_levels", "FeatureTransformKind",
]  # fmt: skip


def test_contract_names_are_exported():
    for name in CONTRACT:
        assert hasattr(hw_models, name), name
    for name in hw_models.__all__:
        assert hasattr(hw_models, name), name


def test_feature_transform_kind_has_no_old_alias():
    # stamp_sim has two other FeatureTransform classes; hw_models' enum is named apart.
    assert not hasattr(hw_models, "FeatureTransform")
    assert [k.value for k in hw_models.FeatureTransformKind] == ["none", "hadamard", "smoothquant"]
    assert hw_models.LayerPrecision(feature_transform="hadamard").feature_transform is hw_models.FeatureTransformKind.HADAMARD
