"""Imports flow one way: the import graph of src/rsft, read with ``ast``, against the layers of docs/architecture.md.

Every ``import``/``from ... import`` counts, including the lazy ones inside functions (a lazy import is still a
dependency; it only moves the cost). ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else
to ``pkg`` itself. The implicit import of a parent package's ``__init__`` is not an edge.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rsft"

# Lowest first. A package may import packages of lower layers only (and itself). Keep in step with the picture in
# docs/architecture.md; a new dependency that is right goes here (and there), one that is not gets restructured.
LAYERS: list[set[str]] = [
    {"_version"},
    {"_util"},
    {"core", "config", "resources"},
    {"chat"},
    {"tasks", "sandbox", "toy"},
    {"data", "generate"},
    {"train", "judges"},
    {"bench"},
    {"eval"},
    {"analysis"},
    {"report"},
    {"rollouts", "study"},
    {"cli"},
    {"rsft"},  # the package's own __init__: the public surface, imported by nothing inside
]
LAYER = {pkg: i for i, group in enumerate(LAYERS) for pkg in group}


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = list(p.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the rsft modules it imports."""
    edges: dict[str, set[str]] = defaultdict(set)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for name in names:
                if name == "rsft" or name.startswith("rsft."):
                    target = known(name)
                    if target and target != mod:
                        edges[mod].add(target)
    return edges


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "rsft"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _edges(_modules())


def test_the_graph_is_read(graph):
    """The reader sees edges of every kind (top-level, lazy, submodule-from-package) and finds a known cycle: a
    blind reader would pass every other test here."""
    assert "rsft.train.config" in graph["rsft.train.sft"]  # top-level import
    assert "rsft.tasks.toyworld" in graph["rsft.study.run"]  # lazy import inside a function
    assert "rsft.analysis.detector" in graph["rsft.analysis.analyze"]  # `from rsft.analysis import detector`
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_package_has_a_layer(graph):
    packages = {_package(m) for m in _modules()}
    assert packages - set(LAYER) == set(), "add the new package to LAYERS (and docs/architecture.md)"


def test_nothing_below_the_cli_imports_it(graph):
    upward = sorted(
        f"{m} -> {t}" for m, ts in graph.items() for t in ts if _package(t) == "cli" and _package(m) != "cli"
    )
    assert not upward, "take a say/progress callback instead (rsft._util.progress):\n" + "\n".join(upward)


def test_imports_flow_down_the_layers(graph):
    bad = sorted(
        f"{m} -> {t}"
        for m, ts in graph.items()
        for t in ts
        if _package(m) != _package(t) and LAYER[_package(t)] >= LAYER[_package(m)]
    )
    assert not bad, "imports going up or sideways (see docs/architecture.md):\n" + "\n".join(bad)


def test_no_cycles_between_packages(graph):
    packages: dict[str, set[str]] = defaultdict(set)
    for m, ts in graph.items():
        packages[_package(m)] |= {_package(t) for t in ts if _package(t) != _package(m)}
    cycles = _cycles(packages)
    assert not cycles, f"package cycles: {cycles}"


def test_no_cycles_between_files(graph):
    cycles = _cycles(graph)
    assert not cycles, f"file cycles: {cycles}"
