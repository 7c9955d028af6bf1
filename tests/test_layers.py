"""The package's architecture: no import cycles, no import from a higher layer.

The graph is built from the source of every module of the installed `dilemma` package, parsed
with `ast` (nothing is imported but the packages themselves, to find their folders). Every
import statement counts: at module level, inside functions, and inside `if TYPE_CHECKING:`
blocks alike. An arrow goes from a module to the most specific `dilemma` module it names
(`from dilemma.core import decision` names `dilemma.core.decision`); the parent packages that
Python initialises on the way are not counted, so a package's `__init__` re-exporting its
subpackages creates no arrow back to every module below it.

Layers, ground floor up (a module may import its own layer and those below):

    0  dilemma.core
    1  dilemma.models, dilemma.records, dilemma.scenarios
    2  dilemma.agents
    3  dilemma.simulation; dilemma.evaluation (which may import only core, records, evaluation)
    4  dilemma.experiments
    5  the top-level modules (`dilemma`, the Python API)
    6  dilemma.cli, dilemma.report, dilemma.web, and `dilemma.__main__` (the command's entry
       point); report and web may not import cli.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = "dilemma"
RANKS = {
    "_version": 0,  # the version string alone: a leaf every layer may read
    "core": 0,
    "models": 1,
    "records": 1,
    "scenarios": 1,
    "agents": 2,
    "simulation": 3,
    "evaluation": 3,
    "experiments": 4,
    "cli": 6,
    "report": 6,
    "web": 6,
    "__main__": 6,
}
TOP = 5
"""The rank of a top-level module (or package) not named in RANKS."""
MAY_IMPORT = {
    "evaluation": {"_version", "core", "records", "evaluation"},
    "report": set(RANKS) - {"cli", "__main__"},
    "web": set(RANKS) - {"cli", "__main__"},
}
"""Subpackages restricted beyond their rank: the only subpackages they may import."""
CLI = "cli"


@dataclass(frozen=True)
class Arrow:
    """`source` imports `target` (line `line` of the source's file)."""

    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (line {self.line})"


def find_modules(root: str) -> dict[str, tuple[Path, bool]]:
    """Every module of package `root`: name -> (source file, whether it is a package)."""
    spec = importlib.util.find_spec(root)
    assert spec is not None and spec.origin is not None and spec.submodule_search_locations
    found = {root: (Path(spec.origin), True)}
    pending = [(root, list(spec.submodule_search_locations))]
    while pending:
        package, locations = pending.pop()
        for info in pkgutil.iter_modules(locations):
            name = f"{package}.{info.name}"
            sub = importlib.util.find_spec(name)
            assert sub is not None and sub.origin is not None, name
            found[name] = (Path(sub.origin), info.ispkg)
            if info.ispkg:
                assert sub.submodule_search_locations is not None
                pending.append((name, list(sub.submodule_search_locations)))
    return found


def _named(module: str, path: Path, is_package: bool) -> Iterator[tuple[str, int]]:
    """(dotted name, line) of everything an import statement of the module names."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def import_graph(root: str) -> dict[str, list[Arrow]]:
    """The arrows out of each module of package `root` to other modules of it."""
    modules = find_modules(root)
    graph: dict[str, list[Arrow]] = {}
    for module, (path, is_package) in modules.items():
        arrows: dict[str, Arrow] = {}
        for name, line in _named(module, path, is_package):
            target = name
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != module and target not in arrows:
                arrows[target] = Arrow(module, target, line)
        graph[module] = sorted(arrows.values(), key=lambda a: a.target)
    return graph


def cycles(graph: Mapping[str, list[Arrow]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = [a.target for a in graph[node]]
            if i < len(targets):
                work.append((node, i + 1))
                nxt = targets[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(found)


def _area(module: str) -> str:
    """The subpackage (or top-level module) directly under the root that holds `module`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def rank(module: str) -> int:
    """The layer of a module."""
    return RANKS.get(_area(module), TOP)


def violations(graph: Mapping[str, list[Arrow]]) -> list[Arrow]:
    """Every arrow to a higher layer or out of what a restricted subpackage may import."""
    bad = []
    for arrows in graph.values():
        for arrow in arrows:
            allowed = MAY_IMPORT.get(_area(arrow.source))
            if rank(arrow.target) > rank(arrow.source) or (
                allowed is not None and _area(arrow.target) not in allowed
            ):
                bad.append(arrow)
    return bad


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Arrow]]:
    return import_graph(ROOT)


def test_the_graph_covers_every_layer(graph):
    """The walk finds the mapped folders too, and the imports the engine is known to make."""
    assert {_area(m) for m in graph} >= set(RANKS) - {"__main__"}
    assert "dilemma.agents.state_agent" in graph
    assert "dilemma.evaluation.tables" in graph
    engine = {a.target for a in graph["dilemma.simulation.engine"]}
    assert {"dilemma.core.decision", "dilemma.simulation.world"} <= engine


def test_no_import_cycles(graph):
    """No cycle among the modules, apart from one inside the command line (next test)."""
    found = [c for c in cycles(graph) if not all(_area(m) == CLI for m in c)]
    assert found == []


def test_no_import_cycles_inside_the_command_line(graph):
    assert [c for c in cycles(graph) if all(_area(m) == CLI for m in c)] == []


def test_no_upward_imports(graph):
    assert [str(a) for a in violations(graph)] == []


def _package(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checks_find_cycles_and_upward_arrows(tmp_path, monkeypatch):
    """On a made-up package: function-level, relative and TYPE_CHECKING imports all count."""
    root = "layers_probe_pkg"
    _package(
        tmp_path,
        {
            f"{root}/__init__.py": "",
            f"{root}/core/__init__.py": "",
            f"{root}/core/a.py": "def f():\n    from ..agents import b\n",
            f"{root}/agents/__init__.py": "",
            f"{root}/agents/b.py": "from layers_probe_pkg.core.a import f\n",
            f"{root}/evaluation/__init__.py": "",
            f"{root}/evaluation/c.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    import layers_probe_pkg.models.d\n"
            ),
            f"{root}/models/__init__.py": "",
            f"{root}/models/d.py": "from . import e\n",
            f"{root}/models/e.py": "",
            f"{root}/web/__init__.py": "from layers_probe_pkg.cli import main\n",
            f"{root}/cli/__init__.py": "",
            f"{root}/cli/main.py": "import layers_probe_pkg.web\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        graph = import_graph(root)
    finally:
        for name in [m for m in sys.modules if m.startswith(root)]:
            del sys.modules[name]
    assert cycles(graph) == [
        [f"{root}.agents.b", f"{root}.core.a"],
        [f"{root}.cli.main", f"{root}.web"],
    ]
    assert {a.target for a in graph[f"{root}.models.d"]} == {f"{root}.models.e"}
    assert sorted((a.source, a.target) for a in violations(graph)) == [
        (f"{root}.core.a", f"{root}.agents.b"),
        (f"{root}.evaluation.c", f"{root}.models.d"),
        (f"{root}.web", f"{root}.cli.main"),
    ]
