"""kernels stands alone: no stamp_sim or hw_models imports; torch only where the GEMM/torch backend needs it;
Numba only inside kernels/numba_backend/."""

import ast
from pathlib import Path

import kernels

ROOT = Path(kernels.__file__).parent
# torch backend; torch._int_mm and dtype checks of torch tensors handed in (both imported lazily)
TORCH_ALLOWED = {"torch_backend.py", "numba_backend/_intgemm.py", "_checks.py"}
NUMBA = {"numba", "llvmlite"}


def _modules():
    """(path relative to kernels/, parsed module) of every module of the package, subpackages included."""
    for path in sorted(ROOT.rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text())


def _imports(tree, full: bool = False):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name if full else a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module if full else node.module.split(".")[0]


def test_kernels_imports_only_numpy_numba_and_itself():
    allowed = {"kernels", "numpy", "__future__", "dataclasses", "enum", "functools", "math", "mmap", "os",
               "threading", "typing"}
    for name, tree in _modules():
        extra = set(_imports(tree)) - allowed - ({"torch"} if name in TORCH_ALLOWED else set())
        extra -= NUMBA if name.startswith("numba_backend/") else set()
        assert not extra, f"{name} imports {sorted(extra)}"
