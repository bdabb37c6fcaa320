"""Fuzz: hypothesis-made YAML documents and field values against the profile and config
loaders, and option values against the CLI on tiny-llama.

Every example must give a valid object or the project's error class naming the field
(ProfileError / ConfigError; exit 1 or 2 from the CLI), never another exception or a
traceback. Example counts are fixed so the whole file runs in well under a minute.
"""

import copy
import math
import os

import click
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stamp_sim.hw_models import HardwareProfile, ProfileError, load_profile
from stamp_sim.hw_models._loader import PROFILE_DIR
from stamp_sim.config import ConfigError, PrecisionConfig, load_configs

# STAMP_FUZZ_SCALE=10 runs ten times as many examples (a deeper search than the suite's).
_SCALE = int(os.environ.get("STAMP_FUZZ_SCALE", "1"))
FUZZ = settings(max_examples=150 * _SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CLI_FUZZ = settings(max_examples=30 * _SCALE, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["ws", "os", "wrap", "saturate", "int8", "fp16", "w4a4", "per-group"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3),
    st.fixed_dictionaries({"value": inner, "source": inner})), max_leaves=6)

BASE_PROFILE = yaml.safe_load((PROFILE_DIR / "tiny.yaml").read_text())


def _paths(tree, prefix=()):
    """Dotted paths of every node of a profile document (sections, leaves, value/source)."""
    for key, value in tree.items():
        path = (*prefix, key)
        yield path
        if isinstance(value, dict):
            yield from _paths(value, path)


PROFILE_PATHS = sorted(_paths(BASE_PROFILE))


def _write(tmp_path_factory, text: str):
    path = tmp_path_factory.mktemp("fuzz") / "doc.yaml"
    path.write_text(text)
    return path


def _named(path: tuple, message: str) -> bool:
    """The error names the mutated field: its dotted path, or the section/leaf holding it."""
    parts = [str(p) for p in path if p not in ("value",)]
    return any(".".join(parts[:i]) in message for i in range(len(parts), 0, -1))


@FUZZ
@given(path=st.sampled_from(PROFILE_PATHS), action=st.sampled_from(["replace", "delete", "add"]), value=VALUES,
       extra=st.text(min_size=1, max_size=8))
def test_profile_field_mutations_give_a_profile_or_a_profile_error_naming_the_field(
        tmp_path_factory, path, action, value, extra):
    doc = copy.deepcopy(BASE_PROFILE)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if action == "replace":
        node[path[-1]] = value
    elif action == "delete":
        del node[path[-1]]
    elif isinstance(node[path[-1]], dict):
        node[path[-1]][extra] = value
    else:
        node[f"{path[-1]}{extra}"] = value
    file = _write(tmp_path_factory, yaml.safe_dump(doc, allow_unicode=True))
    try:
        profile = load_profile(file)
    except ProfileError as exc:
        message = str(exc)
        assert message.startswith(str(file)) or str(file) in message.splitlines()[0]
        if path[-1] not in ("name", "description"):  # free text: any value of a string type is valid
            assert _named(path, message), (path, action, message)
        return
    assert isinstance(profile, HardwareProfile)
    for number in (profile.clock_mhz, profile.memory.dram_gbps, profile.energy.dram_pj_per_byte):
        assert math.isfinite(number) and number >= 0


@FUZZ
@given(text=st.one_of(st.text(max_size=200), VALUES.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
                      st.lists(st.sampled_from(["a: ", "- ", "&x ", "*x ", "[", "]", "{", "}", "? ", ": ", "\n",
                                                "  ", "!!str ", "'", '"', "1", "clock_mhz"]),
                               max_size=40).map("".join)))
def test_any_yaml_text_gives_a_loader_error_never_another_exception(tmp_path_factory, text):
    file = _write(tmp_path_factory, text)
    with pytest.raises(ProfileError):
        load_profile(file)  # no random text is a complete profile
    try:
        configs = load_configs(file)
    except ConfigError as exc:
        assert str(file) in str(exc)
    else:
        assert configs and all(hasattr(c, "name") for c in configs)


FIELDS = sorted(PrecisionConfig.__dataclass_fields__)


@FUZZ
@given(changes=st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), VALUES, min_size=1,
                               max_size=3),
       base=st.sampled_from(["w4a4", "w4a4-stamp", "w4a4-stamp-acc16", "fp"]))
def test_config_field_values_give_a_config_or_a_config_error_naming_each_field(tmp_path_factory, changes, base):
    item = {"extends": base, "name": "fuzzed", **changes}
    file = _write(tmp_path_factory, yaml.safe_dump([item], allow_unicode=True))
    try:
        (cfg,) = load_configs(file)
    except ConfigError as exc:
        lines = str(exc).splitlines()
        assert all(line.startswith(f"{file}: item 0: ") for line in lines), lines
        # each line names a field of the item (or says which fields are unknown)
        for line in lines:
            assert "unknown field" in line or any(f"PrecisionConfig.{f}" in line for f in FIELDS) \
                or "extends" in line, line
        return
    assert isinstance(cfg, PrecisionConfig)
    assert PrecisionConfig.from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict()))) == cfg


# -- the CLI ---------------------------------------------------------------------------

INTS = st.one_of(st.integers(-3, 3000), st.integers(-(2**70), 2**70), st.sampled_from(["x", "", "1.5", "1e3"]))


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    (root / "good.yaml").write_text("- w4a4\n- {extends: w4a4-stamp, name: s16, high_rows: 16}\n")
    (root / "bad.yaml").write_text("- {name: b, a_bits: 99, w_clip: x}\n")
    (root / "group.yaml").write_text("- {name: g, w_bits: 4, a_bits: 8, w_granularity: per-group, "
                                     "w_group_size: 48}\n")
    (root / "prof.yaml").write_text("extends: tiny\nmemory: {dram_gbps: -1}\n")
    return root


@CLI_FUZZ
@given(tokens=INTS, windows=INTS, calib=INTS, seed=INTS, int_layers=st.one_of(st.none(), INTS),
       hw=st.sampled_from(["tiny", "npu", "nosuch", "prof.yaml", "good.yaml"]),
       configs=st.sampled_from(["good.yaml", "bad.yaml", "group.yaml", "missing.yaml"]))
def test_run_options_on_tiny_llama_are_checked_before_any_file(cli_files, monkeypatch, tmp_path_factory, tokens,
                                                             windows, calib, seed, int_layers, hw, configs):
    pytest.importorskip("transformers")
    import stamp_sim.workflows.run as workflow

    def reached(*args, **kwargs):  # every check passed: the run directory would be created now
        raise click.exceptions.Exit(0)

    monkeypatch.setattr(workflow, "_open_run_dir", reached)
    out = tmp_path_factory.mktemp("out")
    args = ["run", "--model", "tiny-llama", "--tokens", str(tokens), "--windows", str(windows),
            "--calib-windows", str(calib), "--seed", str(seed), "--hw", str(cli_files / hw) if "." in hw else hw,
            "--configs", str(cli_files / configs), "--out", str(out), "--no-progress"]
    if int_layers is not None:
        args += ["--int-layers", str(int_layers)]
    result = CliRunner().invoke(main(), args)
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert not any(out.iterdir())
    if result.exit_code == 0:  # an independent statement of what is valid
        assert all(isinstance(v, int) for v in (tokens, windows, calib, seed))
        assert 2 <= tokens <= 2048 and 1 <= windows <= 100_000 and 0 <= calib and 0 <= seed < 2**32
        assert hw in ("tiny", "npu") and configs == "good.yaml"
    else:
        assert any(line.startswith("Error: ") for line in result.output.splitlines()), result.output


@CLI_FUZZ
@given(tokens=st.one_of(st.none(), INTS), config=st.sampled_from(["w4a4", "w4a4-stamp", "fp", "bogus"]),
       phase=st.sampled_from(["prefill", "decode", "both"]), hw=st.sampled_from(["tiny", "gpu", "prof.yaml", "x"]),
       shape=st.one_of(st.none(), st.tuples(INTS, INTS, INTS).map(lambda t: ",".join(map(str, t)))))
def test_cost_options_give_a_table_or_one_error(cli_files, tokens, config, phase, hw, shape):
    pytest.importorskip("transformers")
    args = ["cost", "--config", config, "--phase", phase, "--hw", str(cli_files / hw) if "." in hw else hw]
    args += ["--shape", shape] if shape is not None else ["--model", "tiny-llama"]
    if tokens is not None:
        args += ["--tokens", str(tokens)]
    result = CliRunner().invoke(main(), args)
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    if result.exit_code == 0:  # one summary line for the config, its energy and latencies finite and >= 0
        row = next(line.split() for line in result.output.splitlines() if line.split()[:1] == [config])
        numbers = [float(v.replace(",", "")) for v in row[1:4]]
        assert all(math.isfinite(v) and v >= 0 for v in numbers), row


def main():
    from stamp_sim.cli import main as group

    return group
