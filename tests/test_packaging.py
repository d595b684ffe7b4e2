"""The architecture: imports point one way (schedules <- optim <- nets), checked in fresh
interpreters; no import circle between modules; no module over 400 lines; no submodule hidden
by a same-named attribute; each package's public surface is exactly its `__all__`."""

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("_descent", "schedules", "optim", "nets")
FORBIDDEN = {
    "_descent": {"schedules", "optim", "nets"},
    "schedules": {"optim", "nets"},
    "optim": {"nets"},  # optim re-exports optax's schedule names from schedules
    "nets": set(),
}
MAX_LINES = 400


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    code = (
        f"import sys, json; import {package}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(json.loads(subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout))
    assert not (loaded & FORBIDDEN[package]), f"{package} imports {loaded & FORBIDDEN[package]}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_all_names_exist_and_are_unique(package):
    module = importlib.import_module(package)
    names = module.__all__ if hasattr(module, "__all__") else []
    assert len(names) == len(set(names)), "duplicate names in __all__"
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ lists names it does not define: {missing}"


def source_files(folders=PACKAGES + ("tests", "benchmarks")):
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports_of(path: Path) -> set[str]:
    """The modules of ours that `path` imports, anywhere in its code (functions included)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if is_module(full) else base)
    return {name for name in found if name.split(".")[0] in PACKAGES and name != here}


def test_no_import_circle():
    graph = {module_name(p): imports_of(p) for p in source_files(PACKAGES)}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles = []

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in source_files() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_submodule_is_hidden_by_an_attribute():
    hidden = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            module = importlib.import_module(info.name)
            parent_name, _, child = info.name.rpartition(".")
            parent = importlib.import_module(parent_name)
            if getattr(parent, child) is not module:
                hidden.append(f"{info.name} (hidden by {getattr(parent, child)!r})")
    assert not hidden, f"submodules hidden by a same-named attribute: {hidden}"


def test_private_names_stay_in_their_module():
    """No `from x import _name` across modules (tests may reach into a module they test)."""
    crossing = []
    for path in source_files(PACKAGES):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
                crossing += [
                    f"{path.relative_to(ROOT)}: {node.module}.{alias.name}"
                    for alias in node.names if alias.name.startswith("_")
                ]
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not (
                node.attr.startswith("__")
            ):
                value = node.value
                while isinstance(value, ast.Attribute):
                    value = value.value
                if isinstance(value, ast.Name) and value.id in ("optim", "nets", "schedules"):
                    crossing.append(f"{path.relative_to(ROOT)}: {ast.unparse(node)}")
    assert not crossing, f"private names used across modules: {crossing}"
