"""Refresh requirements/*.txt, the tested lock, from the newest releases, only if the tests pass.

    python tools/refresh_lock.py               # newest releases -> throwaway env -> fast tests -> lock
    python tools/refresh_lock.py --check-only  # the same, but never writes the lock
    python tools/refresh_lock.py --lowest      # the lowest versions pyproject.toml allows (its lower bounds)
    python tools/refresh_lock.py --keep-pins   # re-resolve keeping today's pins (after editing pyproject.toml)

Why a lock: any release of any dependency can break a fresh install overnight (transformers
5.25 did, by depending on a distribution that owns the module name `kernels`). The README's
commands and .ci/run install exactly what the lock pins; this script is how the lock moves.
It is a contributor's tool, not part of CI: a new upstream release must not block an
unrelated change.

Steps: resolve each lock with uv (against torch==2.13.0, whose CPU build the set-up installs
first), build a throwaway virtual environment from the new lock as the README does, run the
fast test suite of this checkout in it, and only when that passes copy the new lock over the
old one and print what moved. Locks are for CPython 3.11 on Linux x86_64 (what CI runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQ = ROOT / "requirements"
UV_VERSION = "0.13.10"
# lock file -> (what uv resolves, its arguments), in resolution order
LOCKS = {
    "test.txt": ["pyproject.toml", "--extra", "test", "--extra", "cluster"],
    "run.txt": ["pyproject.toml", "--extra", "models"],
    "test-nodeps.txt": ["requirements/test-nodeps.in", "--no-deps"],
    "run-nodeps.txt": ["requirements/run-nodeps.in", "--no-deps"],
}
# The main job runs the versions the tests ran: its lock is resolved inside the tests' lock.
INSIDE = {"run.txt": "test.txt", "run-nodeps.txt": "test-nodeps.txt"}
TARGET = ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28"]
# The CUDA build of torch would bring these: a lock holding one was resolved against the wrong torch.
CUDA_ONLY = ("nvidia-", "triton", "cuda-")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("$", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, **kw)


def _find_links() -> list[str]:
    """pip's find-links on this machine (where a CPU build of torch may lie), for uv too."""
    links = os.environ.get("PIP_FIND_LINKS", "")
    if not links:
        got = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"],
                             capture_output=True, text=True)
        links = got.stdout.strip() if got.returncode == 0 else ""
    return [arg for link in links.split() for arg in ("--find-links", link)]


def _uv(tools: Path) -> Path:
    _run([sys.executable, "-m", "venv", tools], check=True)
    _run([tools / "bin" / "python", "-m", "pip", "install", "-q", f"uv=={UV_VERSION}"], check=True)
    return tools / "bin" / "uv"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.split()[0]
    return pins


def _torch_constraint(out: Path) -> Path:
    """requirements/torch.in, narrowed to the CPU build's local version where find-links holds
    one: a lowest-version resolution would otherwise prefer plain 2.13.0, the CUDA build."""
    pin = (REQ / "torch.in").read_text().split("torch==", 1)[1].split()[0]
    links = _find_links()[1::2]
    cpu = [w for link in links for w in Path(link.removeprefix("file://")).glob(f"torch-{pin}+cpu-*.whl")]
    path = out.parent / "torch-constraint.txt"
    path.write_text(f"torch=={pin}+cpu\n" if cpu else f"torch=={pin}\n")
    return path


def _compile(uv: Path, out: Path, mode: str) -> None:
    torch_pin = _torch_constraint(out)
    for name, args in LOCKS.items():
        target = out / name
        if mode == "keep-pins" and (REQ / name).exists():
            shutil.copy(REQ / name, target)  # uv keeps the pins it finds in the output file
        resolution = ["--upgrade"] if mode == "newest" else (
            ["--resolution", "lowest-direct", "--upgrade"] if mode == "lowest" else [])
        inside = ["--constraint", out / INSIDE[name]] if name in INSIDE else []
        _run([uv, "pip", "compile", *args, "--constraint", torch_pin, *inside, "--no-emit-package", "torch",
              *TARGET, *_find_links(), *resolution, "--quiet",
              "--custom-compile-command", "python tools/refresh_lock.py", "-o", target], check=True)
        cuda = [p for p in _pins(target) if p.startswith(CUDA_ONLY)]
        if cuda:
            sys.exit(f"{name}: resolved against torch's CUDA build ({', '.join(cuda[:3])} ...); make a CPU wheel of "
                     "torch==2.13.0 findable (PIP_FIND_LINKS, or pip's find-links) and run again")


def _test_env(env: Path, locks: Path) -> float:
    """A fresh environment installed from `locks` as the README does; returns the set-up seconds."""
    start = time.perf_counter()
    _run([sys.executable, "-m", "venv", env], check=True)
    pip = [env / "bin" / "python", "-m", "pip", "install", "-q"]
    _run([*pip, "torch==2.13.0"], check=True)
    _run([*pip, "--no-deps", "-r", locks / "test.txt", "-e", "."], check=True)
    _run([env / "bin" / "python", "-m", "pip", "check"], check=True)  # the lock is complete and consistent
    # after the check: these wheels' declared dependencies are deliberately left out
    _run([*pip, "--no-deps", "-r", locks / "test-nodeps.txt"], check=True)
    return time.perf_counter() - start


def _moved(old_dir: Path, new_dir: Path) -> list[str]:
    lines = []
    for name in LOCKS:
        old, new = _pins(old_dir / name), _pins(new_dir / name)
        for pkg in sorted(old.keys() | new.keys()):
            if old.get(pkg) != new.get(pkg):
                lines.append(f"  {name:16s} {pkg:32s} {old.get(pkg, '-'):>14s} -> {new.get(pkg, '-')}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--lowest", action="store_true", help="test pyproject.toml's lower bounds; never writes")
    group.add_argument("--keep-pins", action="store_true", help="re-resolve, keeping today's pins where allowed")
    parser.add_argument("--check-only", action="store_true", help="resolve and test, but leave the lock alone")
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (default: the fast suite)")
    args = parser.parse_args()
    mode = "lowest" if args.lowest else ("keep-pins" if args.keep_pins else "newest")
    with tempfile.TemporaryDirectory(prefix="stamp-sim-lock-") as tmp:
        tmp = Path(tmp)
        (tmp / "lock").mkdir()
        _compile(_uv(tmp / "tools"), tmp / "lock", mode)
        print(f"\nresolved ({mode}); changes against requirements/:", *(_moved(REQ, tmp / "lock") or ["  none"]),
              sep="\n", flush=True)
        setup_s = _test_env(tmp / "env", tmp / "lock")
        print(f"\nthrowaway environment set up in {setup_s:.0f} s; running the tests", flush=True)
        # The candidate stands in requirements/ while the tests run (they check the lock, and
        # that the environment matches it); the old lock comes back unless it is accepted.
        (tmp / "old").mkdir()
        for name in LOCKS:
            if (REQ / name).exists():
                shutil.copy(REQ / name, tmp / "old" / name)
            shutil.copy(tmp / "lock" / name, REQ / name)
        accepted = False
        try:
            start = time.perf_counter()
            tests = _run([tmp / "env" / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *(args.pytest_args or [])], env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
            print(f"tests {'passed' if tests.returncode == 0 else 'FAILED'} in {time.perf_counter() - start:.0f} s "
                  f"with the {mode} releases", flush=True)
            accepted = tests.returncode == 0 and mode != "lowest" and not args.check_only
        finally:
            if not accepted:
                for name in LOCKS:
                    (REQ / name).unlink(missing_ok=True)
                    if (tmp / "old" / name).exists():
                        shutil.copy(tmp / "old" / name, REQ / name)
        if tests.returncode != 0:
            print("the lock is unchanged", file=sys.stderr)
            return 1
        print("requirements/ updated: commit it with the printed changes in the message" if accepted else
              "the lock is unchanged (" + ("--lowest" if mode == "lowest" else "--check-only") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
