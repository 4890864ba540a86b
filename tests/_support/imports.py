"""An import walk over a package, and the rules that keep its parts from knowing each other.

Every `import` and `from ... import` in every module is read with `ast`, function-level ones and
those under `if TYPE_CHECKING:` included: a cycle hidden by an import inside a function is still a
cycle. A module belongs to a *part* (a sub-package such as `catalogue`, or a module such as `ical`),
to the *shared* infrastructure, or to the *wiring* (the app factory, the CLI, the models aggregator)
that puts the parts together and may import anything.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module names
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported} (line {self.line})"


def _module_name(root: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _exists(root: Path, dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    base = root / relative
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def module_imports(root: Path) -> list[Import]:
    """Every import of a module of the package at `root` (a directory) by a module of that package."""
    package = root.name
    found = []
    for path in sorted(root.rglob("*.py")):
        module, is_package = _module_name(root, path)
        here = module.split(".") if is_package else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # `from webinars.catalogue import queries` depends on the module catalogue.queries.
                submodules = [f"{source}.{alias.name}" for alias in node.names]
                targets = [name for name in submodules if _exists(root, name)] or [source]
            for target in targets:
                if target == package or target.startswith(package + "."):
                    found.append(Import(module, target, node.lineno))
    return found


@dataclass
class Rules:
    """Which modules form which part, and what each may import.

    parts: name -> dotted module or package (`catalogue` -> `webinars.catalogue`).
    shared: dotted modules anyone may import; they import only shared modules and the foundation.
    wiring: dotted modules that put the parts together (may import anything; nothing imports them).
    foundation: parts that import no other part and that shared modules may use (time zones, ical).
    forbidden: part -> parts it must not import.
    """

    package: str
    parts: dict[str, str]
    shared: set[str]
    wiring: set[str]
    foundation: set[str] = field(default_factory=set)
    forbidden: dict[str, set[str]] = field(default_factory=dict)
    # A part that carries what other parts send (the outbox) must not import any of them.
    carriers: set[str] = field(default_factory=set)

    def owner(self, module: str) -> str:
        """The part a module belongs to, or 'shared' / 'wiring'; '?' when it is in none."""
        if module in self.wiring:
            return "wiring"
        if module in self.shared:
            return "shared"
        for part, prefix in self.parts.items():
            if module == prefix or module.startswith(prefix + "."):
                return part
        return "?"


def part_graph(imports: Iterable[Import], rules: Rules) -> dict[tuple[str, str], list[Import]]:
    """(importing part, imported part) -> the imports that make the edge."""
    edges: dict[tuple[str, str], list[Import]] = {}
    for imp in imports:
        a, b = rules.owner(imp.importer), rules.owner(imp.imported)
        if a in rules.parts and b in rules.parts and a != b:
            edges.setdefault((a, b), []).append(imp)
    return edges


def _shortest_cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    queue, visited = deque([[start]]), {start}
    while queue:
        path = queue.popleft()
        for step in sorted(graph.get(path[-1], ())):
            if step == start:
                return [*path, start]
            if step not in visited:
                visited.add(step)
                queue.append([*path, step])
    return None


def _cycles(edges: dict[tuple[str, str], list[Import]]) -> list[list[str]]:
    """A shortest cycle through each part that is on one (of any length), each cycle once."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    found, seen = [], set()
    for start in sorted(graph):
        cycle = _shortest_cycle_through(graph, start)
        if cycle is not None and frozenset(cycle) not in seen:
            seen.add(frozenset(cycle))
            found.append(cycle)
    return found


def violations(imports: list[Import], rules: Rules, modules: Iterable[str]) -> list[str]:
    """Every broken rule, each said in a sentence naming the import that breaks it."""
    problems = []
    for module in sorted(modules):
        if rules.owner(module) == "?":
            problems.append(f"{module} belongs to no part and is not shared or wiring: classify it")
    for imp in imports:
        a, b = rules.owner(imp.importer), rules.owner(imp.imported)
        if b == "wiring" and a != "wiring":
            problems.append(f"{imp}: only the wiring imports the wiring")
        if a == "shared" and b not in ("shared", *rules.foundation):
            problems.append(f"{imp}: shared infrastructure imports no part")
        if a in rules.parts and b in rules.parts and a != b:
            if a in rules.foundation:
                problems.append(f"{imp}: {a} imports no other part")
            if b in rules.forbidden.get(a, ()):
                problems.append(f"{imp}: {a} must not import {b}")
    edges = part_graph(imports, rules)
    for carrier in rules.carriers:
        users = {a for (a, b) in edges if b == carrier}
        for (a, b), evidence in edges.items():
            if a == carrier and b in users:
                problems.append(f"{evidence[0]}: {carrier} imports {b}, which sends through it")
    for cycle in _cycles(edges):
        steps = "; ".join(str(edges[(x, y)][0]) for x, y in zip(cycle, cycle[1:], strict=False))
        problems.append(f"cycle {' -> '.join(cycle)}: {steps}")
    return problems


def modules_of(root: Path) -> list[str]:
    return [_module_name(root, path)[0] for path in sorted(root.rglob("*.py"))]
