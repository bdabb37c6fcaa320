"""Built-in profiles load and carry a source for every number; bad files raise one
ProfileError naming the file, the field, the value and what is allowed."""

import re
import textwrap
from pathlib import Path

import pytest

from stamp_sim import hw_models
from stamp_sim.hw_models import Dataflow, OperandMode, ProfileError, load_profile
from stamp_sim.hw_models import _schema

BUILTINS = ["edge-gpu", "gpu", "h200", "lunar-lake-npu", "npu", "snapdragon-8-elite", "tiny"]


def write(tmp_path: Path, text: str, name: str = "chip.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_builtin_names():
    assert hw_models.builtin_names() == BUILTINS


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_loads_with_explicit_sources(name):
    prof = load_profile(name)
    assert prof.name == name
    assert OperandMode.FP16 in prof.modes
    assert prof.sources  # every leaf has one
    for field, source in prof.sources.items():
        assert "no source given" not in source, f"{name}: {field} has no source"
        assert len(source) > 5


def test_npu_headline_numbers():
    npu = load_profile("npu")
    assert npu.memory.dram_gbps == 76.8  # LPDDR5X-4800 x 64 bit
    assert set(npu.modes) == {OperandMode.INT4, OperandMode.INT8, OperandMode.FP16}
    # 2 ops x 5 arrays x 64 x 64 PEs x 1.1 GHz = 45.056 TOPS: INT8 at one MAC per PE per cycle.
    assert npu.packing(OperandMode.INT8) == pytest.approx(1.0)
    assert npu.packing(OperandMode.INT4) == pytest.approx(2.0)
    assert npu.mac_array.dataflow is Dataflow.WS
    assert "COST_MODEL" in npu.source("memory.dram_gbps")


def test_gpu_has_no_int4_and_h100_peaks():
    gpu = load_profile("gpu")
    assert OperandMode.INT4 not in gpu.modes
    assert gpu.modes[OperandMode.INT8].peak_tops == 1979
    assert gpu.memory.dram_gbps == 3350


def test_profile_is_frozen():
    npu = load_profile("npu")
    with pytest.raises(AttributeError):
        npu.clock_mhz = 1.0
    with pytest.raises(TypeError):
        npu.modes[OperandMode.INT16] = None


def test_schema_fields_documented_in_readme():
    readme = (Path(hw_models.__file__).parent / "README.md").read_text()
    for section, fields in _schema.FIELDS.items():
        for field in fields:
            key = f"{section}.{field}" if section else field
            assert f"`{key}`" in readme, key
    for mode in _schema.MODE_NAMES:
        assert f"`{mode}`" in readme


def test_extends_overrides_a_few_numbers(tmp_path):
    path = write(
        tmp_path,
        """
        extends: npu
        name: my-phone
        memory:
          dram_gbps: {value: 84.8, source: "Snapdragon 8 Elite, LPDDR5X-5300"}
        energy:
          dram_pj_per_byte: 40
        """,
    )
    prof = load_profile(path)
    npu = load_profile("npu")
    assert prof.name == "my-phone"
    assert prof.memory.dram_gbps == 84.8
    assert prof.energy.dram_pj_per_byte == 40
    assert prof.source("memory.dram_gbps") == "Snapdragon 8 Elite, LPDDR5X-5300"
    assert prof.source("energy.dram_pj_per_byte") == f"{path}, no source given"
    # Everything else is the base's, sources included.
    assert prof.memory.sram_kib == npu.memory.sram_kib
    assert prof.source("clock_mhz") == npu.source("clock_mhz")


def test_extends_chain_of_user_files_relative_path(tmp_path):
    write(tmp_path, "extends: tiny\nclock_mhz: 500\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nvector:\n  gops: 2\n", "child.yaml")
    prof = load_profile(child)
    assert (prof.clock_mhz, prof.vector.gops, prof.name) == (500, 2, "child")


def problems_of(excinfo) -> list[str]:
    return [line.strip()[2:] for line in str(excinfo.value).splitlines() if line.strip().startswith("- ")]


def test_every_problem_in_one_error(tmp_path):
    path = write(
        tmp_path,
        """
        extends: tiny
        clock_mhz: -5
        mac_array:
          rows: 4.5
          dataflow: {value: rs, source: "typo"}
        modes:
          int3: {peak_tops: 1}
          int8: {peak_tops: "fast"}
        memory:
          sram_mb: 4
        color: blue
        """,
    )
    with pytest.raises(ProfileError) as excinfo:
        load_profile(path)
    assert isinstance(excinfo.value, ValueError)
    found = problems_of(excinfo)
    expected = [
        "clock_mhz: got -5; allowed: a finite number > 0",
        "mac_array.rows: got 4.5; allowed: an integer > 0",
        "mac_array.dataflow: got 'rs'; allowed: is, os, ws",
        "modes.int3: unsupported precision mode; allowed: fp16, int16, int4, int8, w4a16, w4a8, w8a16",
        "modes.int8.peak_tops: got 'fast'; allowed: a finite number > 0",
        "memory.sram_mb: unknown field; allowed: dram_gbps, sram_kib",
        "color: unknown field; allowed:",
    ]
    for want in expected:
        assert any(f"{path}: {want}" in p for p in found), (want, found)
    assert len(found) == len(expected)


def test_missing_fields_and_fp16(tmp_path):
    path = write(tmp_path, "name: bare\nmodes:\n  int8: {peak_tops: 1}\n")
    with pytest.raises(ProfileError) as excinfo:
        load_profile(path)
    text = str(excinfo.value)
    assert f"{path}: modes.fp16: missing" in text
    assert f"{path}: memory.dram_gbps: missing; allowed: a finite number > 0" in text
    assert f"{path}: mac_array.dataflow: missing; allowed: is, os, ws" in text


def test_wrong_type_and_empty_source(tmp_path):
    path = write(
        tmp_path,
        """
        extends: tiny
        accumulator:
          widths_bits: {value: [32, 16], source: "descending"}
          behaviour: {value: wrap, source: ""}
        mac_array:
          count: true
        """,
    )
    with pytest.raises(ProfileError) as excinfo:
        load_profile(path)
    text = str(excinfo.value)
    assert "accumulator.widths_bits: got [32, 16]; allowed: a non-empty ascending list" in text
    assert "accumulator.behaviour.source: got ''; allowed: a non-empty string" in text
    assert "mac_array.count: got True; allowed: an integer > 0" in text


def test_duplicate_keys_rejected(tmp_path):
    path = write(tmp_path, "extends: tiny\nclock_mhz: 1\nmemory:\n  sram_kib: 1\n  sram_kib: 2\nclock_mhz: 3\n")
    with pytest.raises(ProfileError) as excinfo:
        load_profile(path)
    text = str(excinfo.value)
    assert str(path) in text
    assert "key 'sram_kib' repeated at line 5 (first at line 4)" in text
    assert "key 'clock_mhz' repeated at line 6 (first at line 2)" in text


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(ProfileError, match=re.escape(f"{tmp_path / 'nope.yaml'}: no such profile file")):
        load_profile(tmp_path / "nope.yaml")
    with pytest.raises(ProfileError, match="'tpu' is not a built-in profile.*allowed: edge-gpu, gpu, h200, lunar-lake-npu, npu, snapdragon-8-elite, tiny"):
        load_profile("tpu")


@pytest.mark.parametrize(
    "extends, message",
    [
        ("tpu", "extends: profile 'tpu' is not a built-in profile"),
        ("missing.yaml", "extends: .*missing.yaml: no such profile file"),
        ("42", None),  # a YAML int, not a name
    ],
)
def test_bad_extends(tmp_path, extends, message):
    path = write(tmp_path, f"extends: {extends}\n")
    with pytest.raises(ProfileError) as excinfo:
        load_profile(path)
    text = str(excinfo.value)
    assert str(path) in text
    if message:
        assert re.search(message, text), text
    else:
        assert "extends: got 42; allowed: a built-in name" in text


def test_extends_cycle(tmp_path):
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(ProfileError, match="extends: cycle"):
        load_profile(tmp_path / "a.yaml")


def test_not_yaml_and_not_a_mapping(tmp_path):
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(write(tmp_path, "clock_mhz: [1, 2\n", "bad.yaml"))
    with pytest.raises(ProfileError, match="top level is list; allowed: a mapping"):
        load_profile(write(tmp_path, "- 1\n- 2\n", "list.yaml"))


def test_unsafe_yaml_tags_refused(tmp_path):
    path = write(tmp_path, "extends: tiny\nclock_mhz: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(path)
