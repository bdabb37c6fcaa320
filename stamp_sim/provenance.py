"""What a run records to be reproduced: package versions, the git revision, UTC timestamps."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import subprocess
import sys
from pathlib import Path

from stamp_sim import __version__

__all__ = ["exact_gemm", "git_revision", "utc_now", "versions"]

_PACKAGES = ("torch", "numpy", "numba", "transformers", "pywavelets", "pandas")


def versions() -> dict[str, str | None]:
    """Python's, stamp-sim's and the numeric packages' versions (None: not installed)."""
    out: dict[str, str | None] = {"python": sys.version.split()[0], "stamp-sim": __version__}
    for pkg in _PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_revision() -> str:
    """The short git revision of the installed source, or "unknown" outside a checkout."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def exact_gemm(device: str = "cpu") -> str:
    """The exact integer GEMM engine the kernels use on `device` and why, e.g. "float32 (fastest
    measured ...)": speeds of the integer path depend on it, results never do."""
    from stamp_sim.kernels import engine_choice

    return engine_choice("cuda" if str(device).startswith("cuda") else "cpu").describe()
