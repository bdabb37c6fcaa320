"""Read a hardware profile YAML in three steps: load (safe), validate (all problems), build.

A file may ``extends: NAME_OR_PATH``: the base is loaded first and the file's values
override it leaf by leaf. Every leaf is written either as ``{value: X, source: "..."}``
or as a bare value, whose source is then recorded as "<file>, no source given".
"""

from __future__ import annotations

import functools
from pathlib import Path

from . import _schema as S
from .yaml_io import key_text, load_yaml, short_repr
from .profile import (
    AccBehaviour,
    AccumulatorUnit,
    Dataflow,
    Efficiency,
    EnergyTable,
    Execution,
    Fill,
    HardwareProfile,
    MacArray,
    MemorySystem,
    MixedRows,
    ModeSpec,
    OperandMode,
    ProfileError,
    VectorUnit,
    WeightOnly,
    WeightScales,
)

__all__ = ["builtin_names", "load_profile", "PROFILE_DIR"]

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
_MAX_EXTENDS_DEPTH = 8


def builtin_names() -> list[str]:
    """Names of the built-in profiles (``hw_models/profiles/NAME.yaml``), sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> HardwareProfile:
    """The built-in profile NAME, or the profile in a YAML file.

    A bare name (no path separator, no ``.yaml``/``.yml`` suffix) picks
    ``hw_models/profiles/NAME.yaml``; anything else is read as a path.
    Raises ProfileError naming the file, each bad field, its value and what is allowed.
    """
    path = _resolve(name_or_path, relative_to=None)
    if path.parent == PROFILE_DIR:
        return _load_builtin(path.stem)
    return _load_path(path)


@functools.lru_cache(maxsize=None)
def _load_builtin(name: str) -> HardwareProfile:
    # Built-ins are read-only package data and profiles are frozen: load each once.
    return _load_path(PROFILE_DIR / f"{name}.yaml")


def _resolve(name_or_path: str | Path, relative_to: Path | None) -> Path:
    text = str(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or "/" in text or "\\" in text or text.endswith((".yaml", ".yml"))
    if not looks_like_path:
        if text in builtin_names():
            return PROFILE_DIR / f"{text}.yaml"
        raise ProfileError(
            f"profile {short_repr(text)} is not a built-in profile and not a path; allowed: {', '.join(builtin_names())} "
            "or a path to a .yaml file"
        )
    path = Path(text).expanduser()
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if not path.is_file():
        raise ProfileError(f"{path}: no such profile file")
    return path


def _read(path: Path) -> dict:
    data = load_yaml(path, what="the profile file", error=ProfileError)
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: top level is {type(data).__name__}; allowed: a mapping of profile fields")
    ours = set(S.TOP_LEVEL) | set(S.FIELDS[""]) | set(S.SECTIONS)
    if data and not any(isinstance(k, str) and k in ours for k in data):
        # Name only our schema's fields: the file's own keys may be anything (even /etc/shadow).
        raise ProfileError(f"{path}: not a stamp-sim profile (none of its {len(data)} top-level keys is a profile "
                           f"field); allowed: {', '.join(sorted(ours))}")
    return data


def _leaf(raw: object, file: Path) -> dict:
    """Normalize one leaf to {value, source, file}; a malformed leaf keeps its raw form for the error."""
    if isinstance(raw, dict) and set(raw) <= {"value", "source"} and "value" in raw:
        source = raw.get("source")
        return {"value": raw["value"], "source": source, "file": file, "explicit": True}
    return {"value": raw, "source": f"{file}, no source given", "file": file, "explicit": False}


def _flatten(data: dict, file: Path, problems: list[str]) -> dict[str, dict]:
    """Dotted path -> normalized leaf for one file; unknown keys go to `problems`."""
    out: dict[str, dict] = {}
    allowed_top = sorted(set(S.TOP_LEVEL) | set(S.FIELDS[""]) | set(S.SECTIONS))
    for key, raw in data.items():
        if key in S.TOP_LEVEL:
            out[key] = {"value": raw, "source": None, "file": file, "explicit": True}
        elif key in S.FIELDS[""]:
            out[key] = _leaf(raw, file)
        elif key == "modes":
            _flatten_modes(raw, file, problems, out)
        elif key in S.FIELDS:
            if not isinstance(raw, dict):
                problems.append(f"{file}: {key}: got {short_repr(raw)}; allowed: a mapping with {', '.join(sorted(S.FIELDS[key]))}")
                continue
            for sub, value in raw.items():
                if sub not in S.FIELDS[key]:
                    problems.append(
                        f"{file}: {key}.{key_text(sub)}: unknown field; allowed: {', '.join(sorted(S.FIELDS[key]))}"
                    )
                else:
                    out[f"{key}.{sub}"] = _leaf(value, file)
        else:
            problems.append(f"{file}: {key_text(key)}: unknown field; allowed: {', '.join(allowed_top)}")
    return out


def _flatten_modes(raw: object, file: Path, problems: list[str], out: dict) -> None:
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{file}: modes: got {short_repr(raw)}; allowed: a mapping from {', '.join(S.MODE_NAMES)} to {{peak_tops}}")
        return
    for mode, spec in raw.items():
        if mode not in S.MODE_NAMES:
            problems.append(f"{file}: modes.{key_text(mode)}: unsupported precision mode; allowed: {', '.join(sorted(S.MODE_NAMES))}")
            continue
        if not isinstance(spec, dict):
            problems.append(f"{file}: modes.{mode}: got {short_repr(spec)}; allowed: a mapping with {', '.join(S.MODE_FIELDS)}")
            continue
        for sub, value in spec.items():
            if sub not in S.MODE_FIELDS:
                problems.append(f"{file}: modes.{mode}.{key_text(sub)}: unknown field; allowed: {', '.join(sorted(S.MODE_FIELDS))}")
            else:
                out[f"modes.{mode}.{sub}"] = _leaf(value, file)


def _collect(path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, dict], list[str]]:
    """Flattened leaves of `path` merged over its ``extends`` chain, plus structural problems."""
    if len(chain) > _MAX_EXTENDS_DEPTH:
        raise ProfileError(f"{path}: extends: chain deeper than {_MAX_EXTENDS_DEPTH}; allowed: a short chain")
    data = _read(path)
    problems: list[str] = []
    leaves = _flatten(data, path, problems)
    if "extends" not in leaves:
        return leaves, problems
    base_ref = leaves.pop("extends")["value"]
    if not isinstance(base_ref, str) or not base_ref:
        problems.append(
            f"{path}: extends: got {short_repr(base_ref)}; allowed: a built-in name ({', '.join(builtin_names())}) or a path"
        )
        return leaves, problems
    try:
        base_path = _resolve(base_ref, relative_to=path.parent).resolve()
    except ProfileError as exc:
        raise ProfileError(f"{path}: extends: {exc}") from None
    if base_path in chain or base_path == path.resolve():
        cycle = " -> ".join(str(p) for p in (*chain, path.resolve(), base_path))
        raise ProfileError(f"{path}: extends: cycle {cycle}; allowed: a chain without repeats")
    base, base_problems = _collect(base_path, (*chain, path.resolve()))
    # An extending file without its own name is not the base chip: name it after the file.
    base.pop("name", None)
    # ... nor described as the base chip: without its own description it says what it extends.
    base_description = base.pop("description", None)
    if "description" not in leaves and base_description is not None and isinstance(base_description["value"], str):
        described = f"extends {base_ref}: {base_description['value']}" if base_description["value"] else \
            f"extends {base_ref}"
        leaves["description"] = {**base_description, "value": described}
    return {**base, **leaves}, base_problems + problems


def _validate(leaves: dict[str, dict], path: Path, problems: list[str]) -> None:
    for section, fields in S.FIELDS.items():
        for field, check in fields.items():
            key = f"{section}.{field}" if section else field
            _check_leaf(leaves, key, check, path, problems)
    modes = sorted({k.split(".")[1] for k in leaves if k.startswith("modes.")})
    if S.REQUIRED_MODE not in modes:
        problems.append(
            f"{path}: modes.{S.REQUIRED_MODE}: missing; allowed: every profile has {S.REQUIRED_MODE} "
            "(float layers run there and unsupported modes fall back to it last)"
        )
    for mode in modes:
        for field, check in S.MODE_FIELDS.items():
            _check_leaf(leaves, f"modes.{mode}.{field}", check, path, problems)
    for key in ("name", "description"):
        if key in leaves and not isinstance(leaves[key]["value"], str):
            problems.append(f"{leaves[key]['file']}: {key}: got {short_repr(leaves[key]['value'])}; allowed: a string")
    name = leaves["name"]["value"] if "name" in leaves else path.stem
    if isinstance(name, str) and (not S.NAME_PATTERN.fullmatch(name) or name != name.strip()):
        where = "name" if "name" in leaves else "name (from the file name; give a name: field)"
        problems.append(f"{path}: {where}: got {short_repr(name)}; allowed: {S.NAME_ALLOWED}")


def _check_leaf(leaves: dict, key: str, check: S.Check, path: Path, problems: list[str]) -> None:
    leaf = leaves.get(key)
    default = S.DEFAULTS.get(key) or (S.MODE_DEFAULTS.get(key.rpartition(".")[2]) if key.startswith("modes.") else None)
    if leaf is None and default is not None:
        # Filled in here, so _build finds every field and `profiles show` prints its source.
        leaves[key] = {"value": default[0], "source": default[1], "file": path, "explicit": False}
        return
    if leaf is None:
        problems.append(f"{path}: {key}: missing; allowed: {check.allowed}")
        return
    if leaf["explicit"] and not (isinstance(leaf["source"], str) and leaf["source"].strip()):
        problems.append(f"{leaf['file']}: {key}.source: got {short_repr(leaf['source'])}; allowed: a non-empty string")
    if not S.check_value(check, leaf["value"]):
        problems.append(f"{leaf['file']}: {key}: got {short_repr(leaf['value'])}; allowed: {check.allowed}")


def _load_path(path: Path) -> HardwareProfile:
    leaves, problems = _collect(path, ())
    _validate(leaves, path, problems)
    if problems:
        raise ProfileError(f"{path}: {len(problems)} problem(s) in the profile:\n  - " + "\n  - ".join(problems))
    return _build(leaves, path)


def _build(leaves: dict[str, dict], path: Path) -> HardwareProfile:
    v = {k: leaf["value"] for k, leaf in leaves.items()}
    sources = {k: leaf["source"] for k, leaf in leaves.items() if k not in S.TOP_LEVEL}
    modes = {
        OperandMode(k.split(".")[1]): ModeSpec(
            peak_tops=float(val),
            large_m_efficiency=float(v[k.replace(".peak_tops", ".large_m_efficiency")]),
            small_m_efficiency=float(v[k.replace(".peak_tops", ".small_m_efficiency")]),
        )
        for k, val in v.items()
        if k.startswith("modes.") and k.endswith(".peak_tops")
    }
    return HardwareProfile(
        name=v.get("name", path.stem),
        description=v.get("description", ""),
        path=str(path),
        clock_mhz=float(v["clock_mhz"]),
        mac_array=MacArray(
            rows=v["mac_array.rows"],
            cols=v["mac_array.cols"],
            count=v["mac_array.count"],
            dataflow=Dataflow(v["mac_array.dataflow"]),
            fill=Fill(v["mac_array.fill"]),
        ),
        modes=dict(sorted(modes.items(), key=lambda kv: list(OperandMode).index(kv[0]))),
        accumulator=AccumulatorUnit(
            widths_bits=tuple(v["accumulator.widths_bits"]),
            behaviour=AccBehaviour(v["accumulator.behaviour"]),
        ),
        memory=MemorySystem(sram_kib=float(v["memory.sram_kib"]), dram_gbps=float(v["memory.dram_gbps"])),
        vector=VectorUnit(gops=float(v["vector.gops"])),
        energy=EnergyTable(**{f: float(v[f"energy.{f}"]) for f in S.FIELDS["energy"]}),
        sources=sources,
        efficiency=Efficiency(dram=float(v["efficiency.dram"]), vector=float(v["efficiency.vector"]),
                              small_m_rows=int(v["efficiency.small_m_rows"]),
                              kernel_overhead_us=float(v["efficiency.kernel_overhead_us"]),
                              call_overhead_us=float(v["efficiency.call_overhead_us"])),
        execution=Execution(weight_only=WeightOnly(v["execution.weight_only"]),
                            mixed_rows=MixedRows(v["execution.mixed_rows"]),
                            weight_scales=WeightScales(v["execution.weight_scales"])),
    )
