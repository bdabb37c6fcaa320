import pytest
import yaml

from stamp_sim.kernels import AccumulatorSpec
from stamp_sim.config import PRESETS, ConfigError, PrecisionConfig, get_preset, load_configs


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_yaml(name):
    cfg = get_preset(name)
    assert PrecisionConfig.from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict()))) == cfg


def test_required_presets_exist_with_paper_settings():
    assert {"fp", "w8a8", "w4a8", "w4a4", "w4a4-first64", "w4a4-stamp", "w4a4-hadamard",
            "w4a4-hadamard-stamp"} <= set(PRESETS)
    stamp = get_preset("w4a4-stamp")
    assert (stamp.seq_transform, stamp.seq_levels, stamp.wavelet, stamp.high_rows, stamp.a_high_bits) == (
        "dwt", 3, "haar", 64, 8)
    assert stamp.average_activation_bits(4096) == 4.0625
    assert get_preset("w4a4-stamp-acc16").accumulator == AccumulatorSpec(16, "saturate", 64, 32)


def test_load_configs_mixes_names_and_mappings(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- w4a4\n- {extends: w4a4-stamp, name: stamp-db4, wavelet: db4}\n"
                    "- name: acc12\n  extends: w4a4\n  accumulator: {bits: 12, mode: saturate}\n")
    configs = load_configs(path)
    assert [c.name for c in configs] == ["w4a4", "stamp-db4", "acc12"]
    assert configs[1].wavelet == "db4" and configs[1].seq_transform == "dwt"
    assert configs[2].accumulator == AccumulatorSpec(12, "saturate")


@pytest.mark.parametrize(
    "text, match",
    [
        ("- nosuch\n", "preset 'nosuch' is unknown"),
        ("- {name: x, w_bits: 1}\n", "w_bits=1"),
        ("- {name: x, colour: red}\n", "unknown field"),
        ("- {name: x, seq_transform: fft}\n", "seq_transform='fft'"),
        ("- {name: x, a_bits: 4, allocation: best}\n", "allocation='best'"),
        ("- {name: x, w_bits: 4, a_bits: 4, accumulator: {bits: 99}}\n", "bits=99"),
        ("- w4a4\n- w4a4\n", "repeated"),
        ("{a: [\n", "not valid YAML"),
        ("[]\n", "non-empty list"),
    ],
)
def test_bad_config_files_name_file_and_field(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_configs(path)
    assert str(path) in str(info.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="cannot read"):
        load_configs("/nonexistent/c.yaml")


def test_bits_range_and_preset_error():
    with pytest.raises(ValueError, match="a_bits=17"):
        PrecisionConfig(name="x", a_bits=17)
    with pytest.raises(ValueError, match="allowed: executorch-8da4w, fp, genie-w4a16, llamacpp-q4_0, w4a16, w4a4"):
        get_preset("w3a3")


def test_transform_names_come_from_the_transforms_registry():
    from stamp_sim.transforms import feature_transform_names, sequence_transform_names

    with pytest.raises(ConfigError, match=f"seq_transform='fft' is not a transform; allowed: "
                                          f"{', '.join(sequence_transform_names())}$"):
        PrecisionConfig(seq_transform="fft")
    with pytest.raises(ConfigError, match=f"feature_transform='quarot' is not a transform; allowed: "
                                          f"{', '.join(feature_transform_names())}$"):
        PrecisionConfig(feature_transform="quarot")
    cfg = get_preset("w4a4-hadamard")
    assert cfg.feature_transform == "hadamard" and type(cfg.feature_transform) is str
    assert cfg.to_dict()["feature_transform"] == "hadamard"


def test_transform_parameters_offer_every_transform_field():
    cfg = PrecisionConfig(seq_levels=2, wavelet="db2", hadamard_seed=3, smoothquant_alpha=0.25)
    assert cfg.transform_parameters() == {"levels": 2, "wavelet": "db2", "seed": 3, "alpha": 0.25}
