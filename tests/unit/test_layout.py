"""The package's shape: small modules, no part importing another that imports it back, services apart from the client.

Imports are read with `ast`, at module level and inside functions (a lazy import still runs), but not under
`if TYPE_CHECKING:`. A package's `__init__` importing its own modules is not a cycle: those modules are its body.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import frozen

import freescode_lsp

PACKAGE = Path(freescode_lsp.__file__).parent
MAX_LINES = 450
SERVICES = ("freescode_lsp.mesh.node", "freescode_lsp.mesh.registry")
CLIENT_SIDE = ("freescode_lsp.engines", "freescode_lsp.routing", "freescode_lsp.lsp.features", "freescode_lsp.completion.editor")
# Parts allowed to import each other for now, each with why: {frozenset({"part.a", "part.b"}): "reason"}.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}
# Modules allowed over MAX_LINES for now, each with why.
OVERSIZED: dict[str, str] = {}
# The folders of tests/, one per kind of test (what a test starts), never per subject.
TEST_KINDS = ("unit", "models", "cli", "lsp", "network", "editors")


@frozen
class Import:
    """One import of a module of the package by another: where it is written, and whether it runs only in a function."""

    source: str
    target: str
    line: int
    lazy: bool

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (line {self.line}{', in a function' if self.lazy else ''})"


def module_name(root: Path, path: Path) -> str:
    """The dotted name of a module file under the package root."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(root: Path, module: str) -> bool:
    """Whether the module is a package (an `__init__.py`)."""
    return root.joinpath(*module.split(".")[1:], "__init__.py").is_file()


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(node: ast.AST, lazy: bool) -> Iterator[tuple[ast.AST, bool]]:
    """Every node under `node` outside `if TYPE_CHECKING:` bodies, with whether it sits inside a function."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child.test):
            for other in child.orelse:
                yield other, lazy
                yield from _statements(other, lazy)
            continue
        yield child, lazy
        inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield from _statements(child, inner)


def imports_of(root: Path, path: Path, known: set[str]) -> list[Import]:
    """The package's modules that a module imports, relative imports resolved."""
    name = module_name(root, path)
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node, lazy in _statements(ast.parse(path.read_text(encoding="utf-8")), False):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*kept, *([node.module] if node.module else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found += [Import(name, target, node.lineno, lazy) for target in targets if target in known and target != name]
    return found


def import_graph(root: Path) -> dict[str, list[Import]]:
    """Each module of the package with the package's modules it imports."""
    files = {module_name(root, path): path for path in sorted(root.rglob("*.py"))}
    return {name: imports_of(root, path, set(files)) for name, path in files.items()}


def part_of(root: Path, module: str) -> str:
    """The part a module belongs to: its own package (a top-level module, or a package, is its own part)."""
    parent = module.rpartition(".")[0]
    return module if is_package(root, module) or parent == root.name else parent


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle of the graph, as a path that returns to its start (one per strongly connected group)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            group = set()
            while not group or node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for node in sorted(edges):
        if node not in order:
            visit(node)
    return [_loop(edges, group) for group in groups]


def _loop(edges: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first member back to itself, inside the group."""
    start = min(group)
    came: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(edges.get(node, set()) & group):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if nxt not in came:
                came[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"no loop through {sorted(group)}")


def module_edges(graph: dict[str, list[Import]]) -> dict[str, set[str]]:
    """Which modules each module imports."""
    return {name: {each.target for each in found} for name, found in graph.items()}


def part_edges(root: Path, graph: dict[str, list[Import]]) -> dict[str, set[str]]:
    """Which parts each part imports (imports inside a part left out)."""
    edges: dict[str, set[str]] = {}
    for found in graph.values():
        for each in found:
            source, target = part_of(root, each.source), part_of(root, each.target)
            if source != target:
                edges.setdefault(source, set()).add(target)
    return edges


def explained(loop: list[str], graph: dict[str, list[Import]], part: bool = False) -> str:
    """A cycle in words, with the imports that make each step."""
    steps = []
    for source, target in zip(loop, loop[1:], strict=False):
        made = [
            str(each)
            for found in graph.values()
            for each in found
            if ((part_of(PACKAGE, each.source), part_of(PACKAGE, each.target)) if part else (each.source, each.target))
            == (source, target)
        ]
        steps.append(f"  {source} -> {target}: {'; '.join(made[:3])}" if part else f"  {made[0]}")
    return " -> ".join(loop) + "\n" + "\n".join(steps)


GRAPH = import_graph(PACKAGE)


def test_no_module_is_over_the_line_limit() -> None:
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in PACKAGE.rglob("*.py")}
    over = sorted(
        f"{name}: {lines}"
        for path, lines in sizes.items()
        if lines > MAX_LINES and (name := path.relative_to(PACKAGE.parent).as_posix()) not in OVERSIZED
    )
    assert not over, f"modules over {MAX_LINES} lines: {over}"


def test_no_module_imports_one_that_imports_it_back() -> None:
    found = cycles(module_edges(GRAPH))
    assert not found, "import cycles between modules:\n" + "\n".join(explained(loop, GRAPH) for loop in found)


def test_no_part_imports_one_that_imports_it_back() -> None:
    found = [loop for loop in cycles(part_edges(PACKAGE, GRAPH)) if frozenset(loop) not in ALLOWED_CYCLES]
    assert not found, "import cycles between parts:\n" + "\n".join(explained(loop, GRAPH, part=True) for loop in found)


@pytest.mark.parametrize("service", SERVICES)
def test_the_network_services_never_reach_the_client_side(service: str) -> None:
    edges = module_edges(GRAPH)
    for start in (name for name in GRAPH if name == service or name.startswith(f"{service}.")):
        came = {start: start}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            assert not node.startswith(CLIENT_SIDE), f"{start} imports {node}: " + " -> ".join(_back(came, node))
            for nxt in sorted(edges[node] - set(came)):
                came[nxt] = node
                queue.append(nxt)


def _back(came: dict[str, str], node: str) -> list[str]:
    path = [node]
    while came[path[-1]] != path[-1]:
        path.append(came[path[-1]])
    return path[::-1]


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checker_sees_lazy_and_relative_imports_and_skips_type_checking(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "a.py": "from pkg import b\n",
            "b.py": "def later():\n    from . import a\n",
            "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.d import D\n",
            "d.py": "import pkg.c\n",
            "sub/__init__.py": "from pkg.sub.inner import x\n",
            "sub/inner.py": "from .. import e\nx = 1\n",
            "e.py": "import pkg.sub\n",
        },
    )
    graph = import_graph(root)
    assert cycles(module_edges(graph)) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.e", "pkg.sub", "pkg.sub.inner", "pkg.e"]]
    assert [each.lazy for each in graph["pkg.b"]] == [True]
    assert cycles(part_edges(root, graph)) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.e", "pkg.sub", "pkg.e"]]


def test_the_test_folders_are_the_kinds_of_test_the_readme_names() -> None:
    tests = Path(__file__).resolve().parents[1]
    readme = (tests.parent / "README.md").read_text(encoding="utf-8")
    folders = {path.name for path in tests.iterdir() if path.is_dir() and not path.name.startswith((".", "_"))}
    assert folders == set(TEST_KINDS)
    assert all(f"`{kind}/`" in readme for kind in TEST_KINDS)
