"""The hostile requests of the reliability probe, against the real service over HTTP: each answers a
4xx problem+json (never a 500, never a hang), and the service stays healthy after every one of them."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from tests.accounts import role_headers
from tests.problems import PROBLEM_JSON
from tests.service_process import running_service

DEEP_AND = " AND ".join(["population > 0"] * 950)


def _cursor(next_href: str, keys: list[object]) -> str:
    """A real items cursor with its sort-key values replaced (wrong types, NUL, huge numbers)."""
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(next_href).query)["cursor"][0]
    content = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    content["k"] = keys
    return base64.urlsafe_b64encode(json.dumps(content).encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
def service(demo_database_url: str, demo_engine: Engine) -> Iterator[httpx.Client]:
    """The service, called as a planner (the probe's scenarios are writes: they need a sign-in)."""
    planner = role_headers(demo_engine, "planner")
    with (
        running_service(demo_database_url) as base,
        httpx.Client(base_url=base, timeout=60, headers=planner) as http,
    ):
        yield http


def _scenario(**changes: object) -> dict[str, object]:
    return {"name": "probe", "layer": "transfer_stations", "distance_m": 5000, **changes}


def test_each_probe_case_is_a_4xx_problem_and_the_service_stays_healthy(service: httpx.Client) -> None:
    page = service.get("/collections/villages/items", params={"limit": 1}).json()
    next_href = next(link["href"] for link in page["links"] if link["rel"] == "next")
    station = service.get("/collections/transfer_stations/items", params={"limit": 1}).json()
    taken_code = station["features"][0]["properties"]["code"]
    # (request, expected status, the parameter the problem must name or None)
    cases: list[tuple[tuple[str, str, dict[str, object]], int, str | None]] = [
        (("GET", "/collections/villages/items", {"params": {"datetime": "9999-12-31"}}), 400, "datetime"),
        (("GET", "/collections/villages/items/%C2%B2", {}), 404, None),
        (("GET", "/collections/villages/items/\u0661", {}), 404, None),
        (
            ("GET", "/collections/villages/items", {"params": {"cursor": _cursor(next_href, ["x"])}}),
            400,
            "cursor",
        ),
        (
            ("GET", "/collections/villages/items", {"params": {"cursor": _cursor(next_href, ["a\x00"])}}),
            400,
            "cursor",
        ),
        (
            ("GET", "/collections/villages/items", {"params": {"cursor": _cursor(next_href, [10**40])}}),
            400,
            "cursor",
        ),
        (("GET", "/collections/collection_points/items", {"params": {"kind": "a\x00b"}}), 400, "kind"),
        (
            (
                "GET",
                "/collections/villages/items",
                {
                    "params": {
                        "filter": "S_INTERSECTS(geom, POINT(1e14 1e14))",
                        "filter-crs": "http://www.opengis.net/def/crs/EPSG/0/4528",
                    }
                },
            ),
            400,
            "filter",
        ),
        (("GET", "/collections/villages/items", {"params": {"filter": DEEP_AND}}), 400, "filter"),
        (("GET", "/export/villages.geojson", {"params": {"filter": DEEP_AND}}), 400, "filter"),
        (
            ("GET", "/indicators", {"params": {"waste_kg_per_person_day": "5e-324"}}),
            400,
            "waste_kg_per_person_day",
        ),
        (
            ("GET", "/chain/flows", {"params": {"waste_kg_per_person_day": "5e-324"}}),
            400,
            "waste_kg_per_person_day",
        ),
        (("POST", "/planning/scenarios", {"json": _scenario(name="a\x00b")}), 400, "name"),
        (
            (
                "POST",
                "/planning/scenarios",
                {"json": _scenario(add=[{"lon": 119.4, "lat": 35.9, "code": taken_code}])},
            ),
            409,
            "add[0].code",
        ),
        (
            (
                "POST",
                "/planning/scenarios",
                {"json": _scenario(add=[{"lon": 119.4, "lat": 35.9, "capacity": 1e11}])},
            ),
            400,
            None,
        ),
        (
            (
                "POST",
                "/planning/scenarios",
                {
                    "content": '{"name": "probe", "layer": "transfer_stations", "add": '
                    '[{"lon": 119.4, "lat": 35.9, "capacity": Infinity}]}',
                    "headers": {"content-type": "application/json"},
                },
            ),
            400,
            None,
        ),
        (
            (
                "POST",
                "/planning/scenarios",
                {
                    "content": '{"name": "probe", "layer": "transfer_stations", "add": '
                    '[{"lon": 119.4, "lat": 35.9, "capacity": NaN}]}',
                    "headers": {"content-type": "application/json"},
                },
            ),
            400,
            None,
        ),
        (
            (
                "GET",
                "/coverage",
                {
                    "params": {
                        "layer": "collection_points",
                        "distance_m": 100000,
                        "distance_mode": "road",
                        "snap_m": 10000,
                    }
                },
            ),
            422,
            "distance_m",
        ),
        (("GET", "/maps/city", {"headers": {"Host": "evil.example"}}), 400, "Host"),
        (
            ("GET", "/coverage", {"params": {"layer": "collection_points", "distanse_m": 3000}}),
            400,
            "distanse_m",
        ),
    ]
    for (method, path, options), status, parameter in cases:
        started = time.monotonic()
        r = service.request(method, path, **options)  # type: ignore[arg-type]
        took = time.monotonic() - started
        assert r.status_code == status, (path, options, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith(PROBLEM_JSON), (path, r.headers["content-type"])
        body = r.json()
        assert body["status"] == status and body["detail"], body
        if parameter is not None:
            assert body.get("parameter") == parameter, (path, body)
        assert took < 10, (path, took)  # refused before the work, not after it
        health = service.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok", (path, health.text)
