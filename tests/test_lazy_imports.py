"""The service starts without its heavy libraries; the request that needs one loads it (D112).

Each check runs a fresh Python process (this checkout's `service`): the application over the demo's
database, `GET /health` through the real ASGI application, then the given requests one by one; after
each step the process reports which of the heavy modules are loaded. No timing, no memory figure: a
module-level import of any of them anywhere on the start path fails the first test, and a request that
no longer loads its library (so that the check would prove nothing) fails the others.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
# What the service must not load to start; each costs from 1 MiB (pulp) to 55 MiB (pypinyin's phrases).
HEAVY = (
    "openpyxl",  # workbooks
    "matplotlib",  # the flow diagram (drawn in a child process: D117)
    "folium",  # map pages, with the next two
    "branca",
    "jinja2",
    "requests",
    "pandas",
    "pulp",  # siting
    "pyproj",  # imports in a projected CRS
    "pygeofilter",  # CQL2 filters, with lark and dateparser
    "lark",
    "dateparser",
    "shapely",  # geometries in Python: edits, imports, CQL2 literals (GeoAlchemy 2's import deferred, D115)
    "numpy",
    "pypinyin",  # search by initials: its table is read from the package's JSON, never imported
    "pyogrio",  # GIS files
    "osgeo",
    "PIL",
    "alembic",  # migrations: the command line's
    "schemathesis",  # tests only
    "hypothesis",
)

STEPS = textwrap.dedent(
    """
    import json, sys
    from fastapi.testclient import TestClient
    from service.api.app import create_app
    from service.db import make_engine

    database_url, paths, heavy = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])

    def loaded():
        return sorted(name for name in heavy if name in sys.modules)

    steps = []
    with TestClient(create_app(make_engine(database_url))) as client:
        for path in ["/health", *paths]:
            response = client.get(path, headers={"Accept": "application/json"})
            steps.append({"path": path, "status": response.status_code, "loaded": loaded()})
    print(json.dumps(steps))
    """
)


def steps(database_url: str, *paths: str) -> list[dict[str, Any]]:
    """What each request left loaded, in a process of its own (this checkout's code first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", STEPS, database_url, json.dumps(paths), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    for step in result:
        assert step["status"] == 200, step
    return result


@pytest.fixture(scope="module")
def reads(demo_database_url: str) -> dict[str, list[str]]:
    """Modules loaded after start and after each read, in order: plain reads first, then one read per
    heavy library, each after the libraries the earlier ones loaded."""
    paths = (
        "/collections/villages/items?limit=5",
        "/tiles/villages/10/851/402.mvt",
        "/search?q=zc",
        "/maps/city",
        "/chain/integrity?format=xlsx",
        "/chain/diagram?format=svg",
        "/collections/villages/items?limit=5&filter=population%20%3E%20500",
    )
    return {step["path"]: step["loaded"] for step in steps(demo_database_url, *paths)}


def test_the_service_starts_and_answers_health_without_any_heavy_library(reads: dict[str, list[str]]) -> None:
    assert reads["/health"] == []


def test_items_tiles_and_search_load_no_heavy_library(reads: dict[str, list[str]]) -> None:
    assert reads["/collections/villages/items?limit=5"] == []
    assert reads["/tiles/villages/10/851/402.mvt"] == []
    assert reads["/search?q=zc"] == []  # the initials' table comes from pypinyin's JSON, not the package


def test_a_map_page_loads_folium(reads: dict[str, list[str]]) -> None:
    assert reads["/maps/city"] == ["branca", "folium", "jinja2", "numpy", "requests"]  # branca imports NumPy


def test_a_report_workbook_loads_openpyxl(reads: dict[str, list[str]]) -> None:
    assert set(reads["/chain/integrity?format=xlsx"]) - set(reads["/maps/city"]) == {"PIL", "openpyxl"}


def test_the_flow_diagram_is_drawn_in_a_child_process_and_loads_no_matplotlib_here(
    reads: dict[str, list[str]],
) -> None:
    after = set(reads["/chain/diagram?format=svg"])
    assert after == set(reads["/chain/integrity?format=xlsx"])  # matplotlib stayed in the child (D117)


def test_a_cql2_filter_loads_the_parser(reads: dict[str, list[str]]) -> None:
    after = set(reads["/collections/villages/items?limit=5&filter=population%20%3E%20500"])
    assert after - set(reads["/chain/diagram?format=svg"]) == {"dateparser", "lark", "pygeofilter", "shapely"}


def test_an_export_workbook_loads_openpyxl(demo_database_url: str) -> None:
    health, export = steps(demo_database_url, "/export/villages.xlsx")
    assert health["loaded"] == []
    assert export["loaded"] == ["PIL", "numpy", "openpyxl"]  # openpyxl imports NumPy when it is installed


GEOALCHEMY_SHAPE = textwrap.dedent(
    """
    import json, sys
    import service  # puts the stand-in for geoalchemy2.shape in place (D115)
    import geoalchemy2
    from geoalchemy2.elements import WKBElement
    from geoalchemy2.types.dialects.postgresql import bind_processor_process

    steps = {"imported": sorted(m for m in ("shapely", "numpy") if m in sys.modules)}
    plain_wkb = bytes.fromhex("0101000000000000000000f03f0000000000000040")  # POINT (1 2), no SRID inside
    steps["bound"] = bind_processor_process(None, WKBElement(plain_wkb, srid=4326))
    steps["after_bind"] = sorted(m for m in ("shapely", "numpy") if m in sys.modules)
    from geoalchemy2.shape import from_shape, to_shape
    import shapely

    steps["round_trip"] = to_shape(from_shape(shapely.Point(3, 4), srid=4326)).wkt
    steps["real_module"] = geoalchemy2.shape is sys.modules["geoalchemy2.shape"] and hasattr(
        geoalchemy2.shape, "HAS_SHAPELY"
    ) and geoalchemy2.shape.__file__.endswith("shape.py")
    print(json.dumps(steps))
    """
)


def test_geoalchemy_imports_without_shapely_and_its_shape_functions_still_work() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", GEOALCHEMY_SHAPE]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=99, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    assert steps["imported"] == []  # GeoAlchemy 2 imported, Shapely and NumPy not
    assert steps["bound"] == "SRID=4326;POINT (1 2)"  # its PostgreSQL dialect converted the WKB with Shapely
    assert steps["after_bind"] == ["numpy", "shapely"]
    assert steps["round_trip"] == "POINT (3 4)"
    assert steps["real_module"] is True  # from now on geoalchemy2.shape is GeoAlchemy 2's own module
