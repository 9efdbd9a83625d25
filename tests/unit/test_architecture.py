"""The import contracts of helpers/ (docs/architecture.md): its layers, the local cloud reached only
through the localcloud package, and no import cycle between any two modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_import_linter_contracts_are_kept() -> None:
    """[tool.importlinter] in pyproject.toml: the layers contract and the localcloud API contract.

    In a process of its own, as a developer runs it: run inside the test process it changed what a
    later test's logger (create_order's) writes.
    """
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--config", "pyproject.toml", "--no-cache"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "2 kept, 0 broken" in report, report


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each one a cycle or more."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_helpers_modules() -> None:
    graph = grimp.build_graph("helpers", cache_dir=None)
    modules = set(graph.modules)
    assert len(modules) > 40, sorted(modules)  # the whole package was read
    cycles = _cycles(graph, modules)
    details = []
    for cycle in cycles:
        first, *rest = cycle
        for other in rest:
            there = graph.find_shortest_chain(importer=first, imported=other)
            back = graph.find_shortest_chain(importer=other, imported=first)
            details.append(f"{' -> '.join(there or ())}  and back  {' -> '.join(back or ())}")
    assert not cycles, "import cycles in helpers:\n" + "\n".join(details)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="a")
    graph.add_import(importer="b", imported="c")
    assert _cycles(graph, {"a", "b", "c"}) == [["a", "b"]]
