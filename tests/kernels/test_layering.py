"""kernels stands alone: no stamp_sim or hw_models imports; torch only where the GEMM/torch backend needs it."""

import ast
from pathlib import Path

import kernels

ROOT = Path(kernels.__file__).parent
# torch backend; torch._int_mm and dtype checks of torch tensors handed in (both imported lazily)
TORCH_ALLOWED = {"gpu.py", "_intgemm.py", "_checks.py"}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module.split(".")[0]


def test_kernels_imports_only_numpy_numba_and_itself():
    allowed = {"kernels", "numpy", "numba", "llvmlite", "__future__", "dataclasses", "enum", "functools", "math",
               "mmap", "os", "threading", "typing"}
    for path in sorted(ROOT.glob("*.py")):
        extra = set(_imports(path)) - allowed - ({"torch"} if path.name in TORCH_ALLOWED else set())
        assert not extra, f"{path.name} imports {sorted(extra)}"
