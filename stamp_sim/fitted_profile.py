"""Write a fitted profile: a YAML that ``extends:`` the base and holds only the fitted
values, each with its source, plus a ``provenance`` block (the measurements' sha256, the
date, what was fitted and kept, every row's in-sample residual) that pricing ignores.

Values are written at full float precision, so the file prices the rows exactly as the
fit reported them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from stamp_sim import hw_models
from stamp_sim.report.io import write_text_atomic

__all__ = ["extends_reference", "file_sha256", "fitted_profile_yaml", "provenance_block", "write_fitted_profile"]


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of the file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def extends_reference(base: str, out: str | Path) -> str:
    """What the fitted file's ``extends:`` says: a built-in name as given, a path relative to
    the fitted file's folder (the loader resolves it from there)."""
    if base in hw_models.builtin_names():
        return base
    return os.path.relpath(Path(base).expanduser().resolve(), Path(out).expanduser().resolve().parent)


def _nest(values: Mapping[str, float], source: str) -> dict:
    """{'modes.int8.large_m_efficiency': x} -> {'modes': {'int8': {'large_m_efficiency': {value, source}}}}."""
    out: dict = {}
    for dotted, value in values.items():
        node = out
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = {"value": float(value), "source": source}
    return out


def fitted_profile_yaml(base_ref: str, base: hw_models.HardwareProfile, fitted: Mapping[str, float],
                        provenance: Mapping, measurements: str, rows: int) -> str:
    """The fitted profile's YAML text. fitted : dotted path -> value of the fitted
    parameters only. provenance : the block written under ``provenance:``."""
    date = str(provenance.get("date", ""))
    source = (f"stamp-sim calibrate: fitted to {measurements} ({rows} rows, sha256 "
              f"{str(provenance.get('sha256', ''))[:12]}), {date}")
    name = f"{base.name}-calibrated"[:80]
    doc = {"name": name, "description": f"{base.name} with {len(fitted)} values fitted to {Path(measurements).name}",
           "extends": base_ref, **_nest(fitted, source), "provenance": dict(provenance)}
    header = f"# Written by stamp-sim calibrate: {base.name} ({base_ref}) with its fitted values; see provenance.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def write_fitted_profile(out: str | Path, base_ref: str, base: hw_models.HardwareProfile,
                         fitted: Mapping[str, float], provenance: Mapping, measurements: str,
                         rows: int) -> Path:
    """Write fitted_profile_yaml to `out` atomically and check it loads; returns the path."""
    text = fitted_profile_yaml(base_ref, base, fitted, provenance, measurements, rows)
    path = write_text_atomic(text, out)
    try:
        hw_models.load_profile(path)
    except hw_models.ProfileError:
        path.unlink(missing_ok=True)
        raise
    return path


def provenance_block(measurements: str | Path, base_ref: str, fitted: Sequence[str], kept: Mapping[str, str],
                     residuals: Sequence[Mapping]) -> dict:
    """The provenance mapping: file, sha256, UTC date, base, fitted and kept parameters,
    per-row residuals."""
    return {"measurements": str(measurements), "sha256": file_sha256(measurements),
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "base": base_ref,
            "fitted": list(fitted), "kept": dict(kept), "rows": [dict(r) for r in residuals]}
