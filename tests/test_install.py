"""The project installs without a generic top-level module name, and works beside the other
distributions that own one (PyPI's `kernels`, a dependency of transformers >= 5.25).

kernels/ and hw_models/ install as stamp_sim.kernels and stamp_sim.hw_models; these tests
import the whole project in a fresh interpreter, from outside the checkout and from its root,
and check where every module came from."""

import ast
import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OWN_FOLDERS = {"stamp_sim": "stamp_sim", "kernels": "stamp_sim.kernels", "hw_models": "stamp_sim.hw_models"}

# Imports every module of the project, then transformers' modeling code (which imports PyPI's
# `kernels` when it is installed), and reports where each module came from.
PROBE = r"""
import importlib, json, pkgutil, sys
import stamp_sim, stamp_sim.kernels, stamp_sim.hw_models
names = []
for package in (stamp_sim, stamp_sim.kernels, stamp_sim.hw_models):
    names.append(package.__name__)
    names += [i.name for i in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + ".")
              if not i.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
import transformers.modeling_utils
import kernels
print(json.dumps({
    "own": {n: getattr(m, "__file__", None) for n, m in sys.modules.items()
            if n == "stamp_sim" or n.startswith("stamp_sim.")},
    "walked": names,
    "kernels": kernels.__file__,
    "tops": {n: getattr(sys.modules.get(n), "__file__", None) for n in ("kernels", "hw_models")},
}))
"""


def _probe(cwd: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _inside(path: str | None, folder: str) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(ROOT / folder)


def test_the_other_kernels_distribution_is_installed_here():
    """The lock installs transformers' `kernels`, so the tests below meet the real clash."""
    assert importlib.metadata.version("kernels"), "PyPI's kernels is not installed"


@pytest.mark.parametrize("where", ["outside", "checkout root"])
def test_every_own_module_resolves_inside_the_project(where, tmp_path):
    report = _probe(tmp_path if where == "outside" else ROOT)
    assert len(report["walked"]) > 100
    for name, path in report["own"].items():
        folder = "kernels" if name.startswith("stamp_sim.kernels") else (
            "hw_models" if name.startswith("stamp_sim.hw_models") else "stamp_sim")
        assert _inside(path, folder), f"{name} was loaded from {path}"
    # the other distribution's module is its own, never this project's folder
    assert not _inside(report["kernels"], "kernels"), report["kernels"]
    assert report["tops"]["hw_models"] is None


def test_a_top_level_import_from_the_checkout_root_is_not_this_project():
    """From the root, Python finds the folders as top-level modules; they step aside."""
    code = ("import importlib.util, kernels, sys\n"
            "print(kernels.__file__)\n"
            "try:\n    import hw_models\nexcept ModuleNotFoundError as e:\n    print('refused:', e)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    kernels_file, refusal = done.stdout.strip().splitlines()
    assert not _inside(kernels_file, "kernels"), kernels_file
    assert "stamp_sim.hw_models" in refusal


def _own_top_level_imports(path: Path) -> list[str]:
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
        bad += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                if n.split(".")[0] in ("kernels", "hw_models")]
    return bad


def test_no_source_file_imports_a_generic_top_level_name():
    files = [p for folder in ("stamp_sim", "kernels", "hw_models", "tests", "benchmarks", "tools")
             for p in (ROOT / folder).rglob("*.py")]
    bad = [line for path in files for line in _own_top_level_imports(path)]
    assert not bad, bad


def test_pyproject_installs_every_package_folder_under_its_stamp_sim_name():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = tool["package-dir"]
    assert dirs == {"stamp_sim.kernels": "kernels", "stamp_sim.hw_models": "hw_models"}
    expected = set()
    for folder, name in OWN_FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            expected.add(".".join((name, *rel)))
    assert set(tool["packages"]) == expected
    assert not any(p.split(".")[0] != "stamp_sim" for p in tool["packages"])
