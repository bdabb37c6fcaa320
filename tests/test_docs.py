"""The documentation runs: the README's Python blocks and every docstring example (>>>)."""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# kernels/ and hw_models/ install inside stamp_sim but live beside it, so walk_packages over
# stamp_sim alone does not reach them.
PACKAGES = ("stamp_sim", "stamp_sim.kernels", "stamp_sim.hw_models")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return names


def _readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_readme_has_python_blocks():
    assert _readme_blocks(), "README.md has no ```python block to run"


@pytest.mark.parametrize("index", range(len(_readme_blocks())))
def test_readme_python_block_runs(index):
    exec(compile(_readme_blocks()[index], f"README.md python block {index}", "exec"), {"__name__": "readme"})


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (see the output above)"
