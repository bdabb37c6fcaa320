"""kernels stands alone: no stamp_sim or hw_models imports; torch only where the GEMM/torch backend needs it;
Numba only inside kernels/numba_backend/."""

import ast
from pathlib import Path

from stamp_sim import kernels

ROOT = Path(kernels.__file__).parent
# torch backend; torch._int_mm and dtype checks of torch tensors handed in (both imported lazily)
TORCH_ALLOWED = {"torch_backend.py", "exact_gemm.py", "numba_backend/_intgemm.py", "_checks.py"}
NUMBA = {"numba", "llvmlite"}


def _modules():
    """(path relative to kernels/, parsed module) of every module of the package, subpackages included."""
    for path in sorted(ROOT.rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text())


def _imports(tree, name: str = "__init__.py", full: bool = False):
    """Absolute names imported by module `name`; a relative import is resolved inside `kernels`
    (the package imports itself only relatively, so it works under any install name)."""
    package = ["kernels", *name.split("/")[:-1]]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name if full else a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level <= len(package), f"{name} imports beyond the package: level {node.level}"
                base = package[:len(package) - node.level + 1]
                targets = [".".join(base + ([node.module] if node.module else []) + ([] if node.module else [a.name]))
                           for a in node.names]
            else:
                targets = [node.module]
            yield from (t if full else t.split(".")[0] for t in targets)


def test_kernels_imports_only_numpy_numba_and_itself():
    allowed = {"kernels", "numpy", "__future__", "dataclasses", "enum", "functools", "math", "mmap", "os",
               "threading", "typing", "importlib", "sys", "pathlib", "contextlib", "json", "time"}
    for name, tree in _modules():
        extra = set(_imports(tree, name)) - allowed - ({"torch"} if name in TORCH_ALLOWED else set())
        extra -= NUMBA if name.startswith("numba_backend/") else set()
        assert not extra, f"{name} imports {sorted(extra)}"


def test_only_the_dispatcher_reaches_into_numba_backend():
    """The Numba internals sit in numba_backend/ and only int_matmul's dispatch imports them, so
    backend="torch" or "reference" never loads Numba."""
    for name, tree in _modules():
        if name.startswith("numba_backend/"):
            continue
        reached = {m for m in _imports(tree, name, full=True) if m.startswith("kernels.numba_backend")}
        assert not reached or name == "matmul.py", f"{name} imports {sorted(reached)}"


def _listed(package_doc: str) -> set[str]:
    """Module / subpackage names at the start of the lines under 'Where things are:'."""
    section = package_doc.split("Where things are:", 1)[1]
    return {line.split()[1].rstrip("/") for line in section.splitlines() if line.startswith("- ")}


def test_where_things_are_lists_every_module():
    """The maps in kernels/__init__.py and numba_backend/__init__.py name every module there is."""
    from stamp_sim.kernels import numba_backend

    for package in (kernels, numba_backend):
        folder = Path(package.__file__).parent
        present = {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
        present |= {p.name for p in folder.iterdir() if (p / "__init__.py").exists()}
        assert _listed(package.__doc__) == present, package.__name__
