"""The arrows of the house have no circle: no two stamp_sim modules import each other, at
module level anywhere, or through an import inside a function in the costing path.

Modules are read with ast (nothing is imported): every .py under stamp_sim/, and hw_models/
and kernels/ as the stamp_sim.hw_models / stamp_sim.kernels they install as. An import of
a module's own package (``from stamp_sim import hw_models`` runs stamp_sim/__init__ first)
is not an arrow between rooms and is left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("stamp_sim", "hw_models", "kernels")
#: The costing path: resolving a model to its geometry, pricing it, results.csv's cost columns.
COSTING = ("stamp_sim.forward_cost", "stamp_sim.pricing", "stamp_sim.layer_pricing", "stamp_sim.models.geometry",
           "stamp_sim.models.geometry_hf", "stamp_sim.models.architecture", "stamp_sim.hw_models")
#: Circles closed only by imports inside functions, outside the costing path: the resolver's
#: registry / resolve / cards / local / workload look each other up at call time, and
#: `run` hands a cost-only model to workflows.cost_only. A new circle fails.
KNOWN_LAZY = [
    ["stamp_sim.models.cards", "stamp_sim.models.local", "stamp_sim.models.registry", "stamp_sim.models.resolve",
     "stamp_sim.models.workload"],
    ["stamp_sim.workflows.cost_only", "stamp_sim.workflows.run"],
]


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] != "stamp_sim":
        parts.insert(0, "stamp_sim")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")}


def _imports(path: Path, in_functions: bool) -> set[str]:
    """The stamp_sim modules `path` imports (at module level, or anywhere)."""
    me = _name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if in_function and not in_functions:
                pass
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - child.level + 1] if child.level else []
                module = ".".join(base + ([child.module] if child.module else []))
                found.add(module)
                found.update(f"{module}.{a.name}" for a in child.names)
            visit(child, inside)

    visit(ast.parse(path.read_text()), False)
    out = set()
    for name in found:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != me and not me.startswith(name + "."):
            out.add(name)
    return out


def _cycles(in_functions: bool) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    graph = {m: _imports(p, in_functions) for m, p in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(out)


def test_the_reader_sees_the_imports_it_must():
    assert "stamp_sim.layer_pricing" in _imports(MODULES["stamp_sim.forward_cost"], True)
    assert "stamp_sim.hw_models" in _imports(MODULES["stamp_sim.models.architecture"], False)
    assert "stamp_sim.models.resolve" in _imports(MODULES["stamp_sim.models.registry"], True)
    assert "stamp_sim.models.resolve" not in _imports(MODULES["stamp_sim.models.registry"], False)


def test_no_module_level_import_cycle():
    assert _cycles(in_functions=False) == []


def test_no_import_cycle_in_the_costing_path_and_no_new_one_anywhere():
    cycles = _cycles(in_functions=True)
    costing = [c for c in cycles if any(m.startswith(COSTING) for m in c)]
    assert costing == [], f"import cycles through the costing path: {costing}"
    assert [c for c in cycles if c not in KNOWN_LAZY] == [], cycles
