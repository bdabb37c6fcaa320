"""The worked examples in kernels' docstrings are run, so they stay true."""

import doctest
import importlib
from pathlib import Path

import pytest

import kernels

ROOT = Path(kernels.__file__).parent
WITH_EXAMPLES = sorted(
    ".".join(("kernels", *p.relative_to(ROOT).with_suffix("").parts))
    for p in ROOT.rglob("*.py")
    if ">>>" in p.read_text()
)


def test_examples_are_found():
    assert "kernels._registers" in WITH_EXAMPLES and "kernels.requant" in WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0, f"{name}: {result}"
