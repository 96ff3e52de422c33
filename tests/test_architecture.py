"""The shape of the code that docs/architecture.md promises: no SQL in the API, no error mapping in the
routers, no import cycle between packages."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

from service.config import REPO_ROOT

API = REPO_ROOT / "service" / "api"
SQL = re.compile(r"text\(|SELECT |INSERT |UPDATE |DELETE ")


def _load_import_cycles():  # scripts/ is not a package: load the checker by path
    spec = importlib.util.spec_from_file_location("import_cycles", REPO_ROOT / "scripts" / "import_cycles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycle_between_service_packages() -> None:
    checker = _load_import_cycles()
    edges = checker.graph(REPO_ROOT / "service")
    assert "coverage" in edges["planning"]  # the graph is really read
    assert checker.cycles(edges) == []


def test_import_cycle_checker_finds_a_cycle() -> None:
    checker = _load_import_cycles()
    assert checker.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_api_layer_holds_no_sql() -> None:
    hits = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(API.glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if SQL.search(line)
    ]
    assert hits == []


def _routers() -> list[Path]:
    return [p for p in sorted(API.glob("*.py")) if "APIRouter(" in p.read_text(encoding="utf-8")]


def test_routers_map_no_errors_themselves() -> None:
    """Errors become HTTP answers in api/problems.py only: no router catches an exception or raises
    an HTTPException (authentication aside, whose 401 carries a WWW-Authenticate header)."""
    found = []
    for path in _routers():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler):
                found.append(f"{path.name}:{node.lineno}: except")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "HTTPException":
                found.append(f"{path.name}:{node.lineno}: HTTPException")
    assert len(_routers()) >= 8
    assert found == []
