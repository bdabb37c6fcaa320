"""The plan of ``stamp-sim sweep``: models x configs x profiles (x tokens), from YAML.

A plan file::

    models: [tiny-llama, smollm2-135m]
    configs: [fp, w4a4, {extends: w4a4-stamp, name: w4a4-stamp16, high_rows: 16}]
    profiles: [npu, gpu]
    tokens: [128]          # one number or a list
    windows: 2
    calib_windows: 1
    seed: 0
    out: reports
    data: my_corpus.jsonl  # optional: your own text (relative to this file), as run --data
    data_field: text

Loaded with yaml.safe_load and checked at once: one ConfigError listing every problem,
each naming the file, the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from stamp_sim.config import (DEFAULT_CALIB_WINDOWS, DEFAULT_INT_LAYERS, ConfigError, MixedConfig, PrecisionConfig,
                              RunConfig, get_preset, load_mixed)

__all__ = ["SweepPlan", "load_plan", "plan_from_dict"]

_LISTS = ("models", "configs", "profiles", "tokens")


@dataclass(frozen=True)
class SweepPlan:
    """models : registry names. configs : precision configs evaluated on every model.
    profiles : hardware profiles every config is priced on. tokens : tokens per window,
    one run per value. data / data_field : the evaluation text (None: the built-in sample).
    The rest as in RunConfig (shared by every model)."""

    models: tuple[str, ...]
    configs: tuple[PrecisionConfig | MixedConfig, ...]
    profiles: tuple[str, ...] = ("npu",)
    tokens: tuple[int, ...] = (512,)
    windows: int = 4
    calib_windows: int = DEFAULT_CALIB_WINDOWS
    seed: int = 0
    out: str = "reports"
    device: str = "cpu"
    int_layers: int | None = DEFAULT_INT_LAYERS
    data: str | None = None
    data_field: str = "text"

    def __post_init__(self) -> None:
        for key in _LISTS:
            object.__setattr__(self, key, tuple(getattr(self, key)))
            if not getattr(self, key):
                raise ConfigError(f"SweepPlan.{key} is empty; allowed: one or more values")
        for key in ("models", "tokens"):
            values = list(getattr(self, key))
            dup = sorted({str(v) for v in values if values.count(v) > 1})
            if dup:
                raise ConfigError(f"SweepPlan.{key} repeats {dup}; allowed: distinct values")
        self.runs()  # RunConfig checks every other field

    def runs(self) -> list[RunConfig]:
        """One RunConfig per (model, tokens), models outer; every other field the plan shares
        with RunConfig is passed as it is (a field added to both cannot be left behind)."""
        run_fields = {f.name for f in dataclasses.fields(RunConfig)}
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name in run_fields and f.name not in ("model", "tokens")}
        return [RunConfig(model=m, tokens=t, **shared) for m in self.models for t in self.tokens]

    def to_dict(self) -> dict:
        """Plain dict (what run.json records; ``plan_from_dict`` reads it back)."""
        out = dataclasses.asdict(self)
        out.update({k: list(getattr(self, k)) for k in _LISTS})
        out["configs"] = [{"mixed": c.to_dict()} if isinstance(c, MixedConfig) else c.to_dict() for c in self.configs]
        return out


def _config(item, where: str, base: Path) -> PrecisionConfig | MixedConfig:
    if isinstance(item, str) and item.startswith("mixed:"):
        path = Path(item[len("mixed:"):])
        return load_mixed(path if path.is_absolute() else base / path)
    if isinstance(item, str):
        return get_preset(item)
    if isinstance(item, dict) and set(item) == {"mixed"}:
        return MixedConfig.from_dict(item["mixed"], source=where)
    if isinstance(item, dict):
        return PrecisionConfig.from_dict(item, source=where)
    raise ConfigError(f"{item!r} is neither a preset name nor a config mapping")


def _problems(data: dict, source: str, base: Path) -> tuple[dict, list[str]]:
    """(SweepPlan keyword arguments, problems found), each problem one sentence."""
    fields = {f.name for f in dataclasses.fields(SweepPlan)}
    problems = [f"{source}: unknown field {k!r}; allowed: {', '.join(sorted(fields))}"
                for k in sorted(set(data) - fields, key=str)]
    problems += [f"{source}: field {k!r} is missing; a plan needs models and configs"
                 for k in ("models", "configs") if k not in data]
    kwargs = {k: v for k, v in data.items() if k in fields}
    for key in _LISTS:
        if key in kwargs and not isinstance(kwargs[key], list):
            kwargs[key] = [kwargs[key]]
    for key, kind in (("models", str), ("profiles", str), ("tokens", int)):
        for i, v in enumerate(kwargs.get(key, [])):
            if not isinstance(v, kind) or isinstance(v, bool):
                problems.append(f"{source}: {key}[{i}]={v!r} is invalid; allowed: {kind.__name__} values")
    configs = []
    for i, item in enumerate(kwargs.get("configs", [])):
        try:
            configs.append(_config(item, f"{source}: configs[{i}]", base))
        except ConfigError as exc:
            problems.append(f"{source}: configs[{i}]: {exc}")
    kwargs["configs"] = configs
    if isinstance(kwargs.get("data"), str) and kwargs["data"] and not Path(kwargs["data"]).is_absolute():
        # Like mixed:PATH, a data file is named relative to the plan (run.json records the resolved path).
        kwargs["data"] = str(base / kwargs["data"])
    return kwargs, problems


def plan_from_dict(data, source: str = "plan", base: Path | None = None) -> SweepPlan:
    """A SweepPlan from a mapping; ConfigError listing every problem (one per line).

    base : the folder ``mixed:PATH`` configs are relative to (the plan file's)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with models, configs, profiles, ...; "
                          f"got {type(data).__name__}")
    kwargs, problems = _problems(data, source, base or Path.cwd())
    if not problems:
        try:
            return SweepPlan(**kwargs)
        except ConfigError as exc:
            problems.append(f"{source}: {exc}")
    raise ConfigError("\n".join(problems))


def load_plan(path: str | Path) -> SweepPlan:
    """Read a sweep plan YAML file (see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the sweep plan ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return plan_from_dict(data, str(path), path.parent)
