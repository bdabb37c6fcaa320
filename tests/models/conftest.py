import importlib.util

import pytest


def needs(module: str, install: str):
    """Skip marker for tests that need an optional package."""
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None, reason=f"{module} is not installed ({install})"
    )


needs_transformers = needs("transformers", "pip install transformers")

