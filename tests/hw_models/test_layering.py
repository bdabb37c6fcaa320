"""hw_models stands alone: it imports neither the rest of stamp_sim nor kernels (ARCHITECTURE.md),
and itself only relatively."""

import ast
from pathlib import Path

from stamp_sim import hw_models

ALLOWED_THIRD_PARTY = {"numpy", "pandas", "yaml"}


def test_imports_only_numpy_pandas_yaml_and_itself():
    root = Path(hw_models.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom):
                # relative: the package imports itself this way, and never from above its own folder
                depth = len(path.relative_to(root).parts)
                assert node.level <= depth, f"{path.name} imports beyond hw_models: level {node.level}"
                continue
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in {"stamp_sim", "kernels"}, f"{path.name} imports {name}"
                if top != "hw_models" and top not in ALLOWED_THIRD_PARTY:
                    __import__(top)  # a standard-library module, or this fails loudly
                    assert top in __import__("sys").stdlib_module_names, f"{path.name} imports {name}"


def test_no_function_over_80_lines():
    """The cost model stays a composition of named terms (no function over 80 lines)."""
    root = Path(hw_models.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 80, f"{path.name}: {node.name} has {length} lines"
