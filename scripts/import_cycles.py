"""The import graph between the packages of `service/`, and its cycles.

Every `import` of every module counts, those inside functions too (a deferred import is still a
dependency). A module's package is its first folder under `service/` (or the module itself at the
top). Prints the graph, then `cycles: none` or the cycles found; exits 1 when there is one.

    .venv/bin/python scripts/import_cycles.py [REPO]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def package_of(path: Path, service: Path) -> str:
    return path.relative_to(service).with_suffix("").parts[0]


def imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def graph(service: Path) -> dict[str, set[str]]:
    packages = {p.stem for p in service.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    edges: dict[str, set[str]] = {name: set() for name in packages}
    for path in service.rglob("*.py"):
        source = package_of(path, service)
        for name in imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            parts = name.split(".")
            if parts[0] == "service" and len(parts) > 1 and parts[1] in packages and parts[1] != source:
                edges[source].add(parts[1])
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    edges = graph(repo / "service")
    for name in sorted(edges):
        print(f"{name} -> {', '.join(sorted(edges[name])) or '-'}")
    found = cycles(edges)
    print("cycles:", found or "none")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
