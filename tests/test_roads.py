"""Road network: import and noding, and coverage along roads (pgRouting) on hand-made networks whose
lengths are known to the centimetre (pyproj.Geod on the same WGS84 spheroid)."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, text

from service import cli
from service.api.app import create_app
from service.coverage import query as cov
from service.demo import roads as demo_roads
from service.roads import circuity, network
from tests import worlds
from tests.accounts import role_headers

GEOD = worlds.GEOD
SQUARE = worlds.square(119, 36, 0.4)
A = (119.2, 36.2)  # the transfer station, on node A


def at(origin: tuple[float, float], azimuth: float, distance_m: float) -> tuple[float, float]:
    """A point at a geodesic distance and azimuth, on the 1e-7° grid the noding uses."""
    return worlds.offset(origin, azimuth, distance_m, digits=7)


def metres(*points: tuple[float, float]) -> float:
    """Geodesic length of the polyline through `points`."""
    return sum(GEOD.inv(*a, *b)[2] for a, b in itertools.pairwise(points))


B = at(A, 90, 2000)
D = at(B, 0, 1000)
E = at(D, 270, 2000)  # ~1 km north of A as the crow flies, 5 km by road
F = at(D, 0, 500)
MID = at(A, 90, 1000)
P, Q = at(MID, 0, 300), at(MID, 180, 300)  # crosses A–B without a shared vertex: a bridge


def line(code: str, *points: tuple[float, float], road_class: str = "village") -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(p) for p in points]},
        "properties": {"code": code, "name": f"{code}路", "class": road_class},
    }


# B–D–E is one line; D becomes a node because D–F shares it, so B–D–E is split there.
ROADS = [line("AB", A, B, road_class="county"), line("BDE", B, D, E), line("DF", D, F), line("PQ", P, Q)]
VILLAGES = {
    "V_B": B,  # 2,000 m by road
    "V_D50": at(D, 90, 50),  # 50 m off node D: 2,000 + 1,000 + 50 m
    "V_E": E,  # 5,000 m by road, ~1,000 m geodesic
    "V_P": P,  # on the bridge road, which does not meet A–B: unreachable
    "V_FAR": at(A, 180, 5000),  # no road node within the snap tolerance
}


@pytest.fixture
def road_world(empty_engine: Engine) -> Engine:
    with empty_engine.begin() as conn:
        worlds.one_town(conn, SQUARE, A)
        worlds.facility(conn, "transfer_stations", "S1", A, name="中转站", capacity=50)
        for i, (code, place) in enumerate(VILLAGES.items(), start=1):
            worlds.village(conn, code, place, 100 * i, 30 * i)
        network.import_network(conn, ROADS)
    return empty_engine


def _nearest(conn: Any) -> dict[str, float | None]:
    rows = conn.execute(text("SELECT g.code, v.nearest_m FROM cov_village v JOIN villages g ON g.id = v.id"))
    return dict(rows.all())


def test_import_nodes_lines_at_shared_vertices_with_geodesic_lengths(road_world):
    with road_world.connect() as conn:
        segments = {
            code: (length, source, target)
            for code, length, source, target in conn.execute(
                text("SELECT code, length_m, source, target FROM road_segments")
            )
        }
        summary = network.summary(conn)
    assert set(segments) == {"AB", "BDE-1", "BDE-2", "DF", "PQ"}
    assert segments["AB"][0] == pytest.approx(metres(A, B), abs=0.005)
    assert segments["BDE-1"][0] == pytest.approx(metres(B, D), abs=0.005)
    assert segments["BDE-2"][0] == pytest.approx(metres(D, E), abs=0.005)
    assert segments["AB"][2] == segments["BDE-1"][1]  # B joins them
    assert segments["BDE-1"][2] == segments["BDE-2"][1] == segments["DF"][1]  # D joins three
    # A, B, D, E, F and the bridge's two ends; the bridge is its own component
    assert (summary["segments"], summary["nodes"], summary["components"]) == (5, 7, 2)


def test_road_distances_are_the_path_along_the_roads_to_the_metre(road_world):
    with road_world.connect() as conn, conn.begin():
        q = cov.CoverageQuery("transfer_stations", 3100, distance_mode="road", snap_m=1000)
        cov.prepare(conn, q)
        nearest = _nearest(conn)
        result = cov.summary(conn)
        access = cov.road_access(conn, q)
    assert nearest["V_B"] == pytest.approx(metres(A, B), abs=0.01)
    assert nearest["V_D50"] == pytest.approx(metres(A, B, D) + metres(D, VILLAGES["V_D50"]), abs=0.01)
    assert nearest["V_E"] is None and nearest["V_P"] is None and nearest["V_FAR"] is None
    assert (result["city"]["villages_served"], result["city"]["population_served"]) == (2, 100 + 200)
    assert access == {"snap_m": 1000, "facilities_off_road": [], "villages_off_road": 1, "farms_off_road": 0}


def test_road_reach_is_stricter_than_the_geodesic_one(road_world):
    with road_world.connect() as conn, conn.begin():
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 3000))
        geodesic = {c for c, d in _nearest(conn).items() if d is not None}
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 3000, distance_mode="road"))
        road = {c for c, d in _nearest(conn).items() if d is not None}
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 5000.5, distance_mode="road"))
        longer = _nearest(conn)
    assert geodesic == {"V_B", "V_D50", "V_E", "V_P"}
    assert road == {"V_B"}  # V_D50 is 3,050 m away by road
    assert longer["V_E"] == pytest.approx(metres(A, B, D, E), abs=0.01)


def test_road_mode_over_http_and_its_errors(road_world, empty_engine):
    client = TestClient(create_app(road_world))
    params = {"layer": "transfer_stations", "distance_m": 3100, "distance_mode": "road"}
    body = client.get("/coverage", params=params).json()
    assert body["method"].startswith("road") and body["city"]["villages_served"] == 2
    assert body["road"]["villages_off_road"] == 1
    geo = client.get("/coverage", params={**params, "format": "geojson"}).json()
    served = {f["properties"]["code"] for f in geo["features"] if f["properties"].get("served")}
    assert served == {"V_B", "V_D50"}
    areas = [f["geometry"] for f in geo["features"] if f["properties"]["role"] == "service_area"]
    assert len(areas) == 1 and areas[0]["type"] in ("Polygon", "MultiPolygon")  # the reach, as an area
    gaps_body = client.get("/coverage/gaps", params=params).json()
    assert {v["code"] for v in gaps_body["villages"]} == {"V_E", "V_P", "V_FAR"}
    book = load_workbook(io.BytesIO(client.get("/coverage", params={**params, "format": "xlsx"}).content))
    city = book["全市"]
    figures = {row[0]: row[1] for row in city.iter_rows(min_row=5, values_only=True)}
    assert figures["覆盖行政村"] == 2 and "road.villages_off_road = 1" in city["B3"].value
    nothing = client.get("/coverage", params={**params, "layer": "manure_centers"}).json()
    assert nothing["city"]["villages_served"] == 0 and nothing["road"]["facilities_off_road"] == []
    bad = client.get("/coverage", params={**params, "snap_m": -1})
    assert bad.status_code == 400 and "snap_m" in bad.text
    bad = client.get("/coverage", params={**params, "distance_mode": "flight"})
    assert bad.status_code == 400 and "distance_mode" in bad.text
    with road_world.begin() as conn:  # no network: road mode is refused, geodesic still works
        conn.execute(text("DELETE FROM road_segments; DELETE FROM road_nodes"))
    for path in ("/coverage", "/coverage/gaps"):
        missing = client.get(path, params=params)
        assert missing.status_code == 409
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["title"] == "Conflict" and missing.json()["parameter"] == "distance_mode"
        assert "distance_mode" in missing.json()["detail"] and "roads import" in missing.json()["detail"]
    assert client.get("/coverage", params={**params, "distance_mode": "geodesic"}).status_code == 200


def test_a_failed_import_changes_nothing(road_world, tmp_path):
    bad_files = {
        "projected.geojson": {
            "type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32650"}},
            "features": ROADS,
        },
        "points.geojson": {
            "type": "FeatureCollection",
            "features": [
                *ROADS,
                {"type": "Feature", "geometry": {"type": "Point", "coordinates": [119, 36]}},
            ],
        },
        "metres.geojson": {
            "type": "FeatureCollection",
            "features": [line("M", (500000, 4000000), (500100, 4000000))],
        },
        "class.geojson": {"type": "FeatureCollection", "features": [line("C", A, B, road_class="highway")]},
        "duplicate.geojson": {"type": "FeatureCollection", "features": [line("X", A, B), line("X", B, D)]},
        "junk.geojson": {
            "type": "FeatureCollection",
            "features": [line("X", A, B), "road", {"properties": 3}],
        },
    }
    messages = {}
    for name, doc in bad_files.items():
        path = tmp_path / name
        path.write_text(json.dumps(doc))
        with pytest.raises(network.RoadImportError) as err:
            network.import_file(road_world, path)
        messages[name] = str(err.value)
    assert "not WGS84" in messages["projected.geojson"]
    assert "feature 4: geometry is Point" in messages["points.geojson"]
    assert "not lon/lat" in messages["metres.geojson"]
    assert "class 'highway'" in messages["class.geojson"]
    assert "not unique" in messages["duplicate.geojson"]
    assert "feature 1: not a GeoJSON Feature" in messages["junk.geojson"]
    assert "feature 2: not a GeoJSON Feature" in messages["junk.geojson"]
    with road_world.connect() as conn:
        assert network.summary(conn)["segments"] == 5  # the network of the fixture, untouched


def test_geopackage_in_a_projected_crs_is_reprojected_by_gdal(road_world, tmp_path):
    source = tmp_path / "roads.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": ROADS[:3]}))
    gpkg = tmp_path / "roads.gpkg"
    subprocess.run(
        ["ogr2ogr", "-f", "GPKG", "-t_srs", "EPSG:32650", "-nln", "roads", str(gpkg), str(source)], check=True
    )
    counts = network.import_file(road_world, gpkg)
    assert (counts["segments"], counts["components"]) == (4, 1)
    assert counts["length_km"] == pytest.approx(metres(A, B, D, E) / 1000 + metres(D, F) / 1000, abs=1e-4)
    subprocess.run(["ogr2ogr", "-f", "GPKG", "-update", "-nln", "more", str(gpkg), str(source)], check=True)
    with pytest.raises(network.RoadImportError, match=r"2 layers \['roads', 'more'\]; name the one"):
        network.import_file(road_world, gpkg)
    assert network.import_file(road_world, gpkg, layer="more")["length_km"] == counts["length_km"]
    (tmp_path / "plain.csv").write_text('WKT,code\n"LINESTRING(0 0,1 1)",R1\n')
    with pytest.raises(network.RoadImportError, match="no coordinate reference system"):
        network.import_file(road_world, tmp_path / "plain.csv")


def test_cli_roads_import_replaces_the_network(road_world, tmp_path, monkeypatch, capsys):
    path = tmp_path / "two.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": [line("AB", A, B), line("PQ", P, Q)]})
    )
    monkeypatch.setenv("DATABASE_URL", road_world.url.render_as_string(hide_password=False))
    assert cli.main(["roads", "import", str(path)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["segments"] == 2 and "2 unconnected parts" in err
    assert cli.main(["roads", "import", str(tmp_path / "missing.geojson")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_detours_are_road_over_geodesic_metres_to_the_nearest_facility(road_world):
    with road_world.connect() as conn, conn.begin():
        detours = {d["code"]: d for d in circuity.village_detours(conn, "transfer_stations")}
    # V_P's road does not meet the station's, V_FAR has no node within 1 km: both left out
    assert set(detours) == {"V_B", "V_D50", "V_E"}
    assert detours["V_E"]["road_m"] == pytest.approx(metres(A, B, D, E), abs=0.01)
    assert detours["V_E"]["geodesic_m"] == pytest.approx(metres(A, E), abs=0.01)
    assert detours["V_D50"]["road_m"] == pytest.approx(metres(A, B, D, VILLAGES["V_D50"]), abs=0.01)
    ratios = sorted(d["road_m"] / d["geodesic_m"] for d in detours.values())
    assert circuity.summary(list(detours.values()))["median"] == round(ratios[1], 3)
    assert ratios[0] == pytest.approx(1.0) and ratios[2] == pytest.approx(5000 / metres(A, E), rel=1e-6)
    with road_world.connect() as conn, pytest.raises(ValueError, match="villages"):
        circuity.village_detours(conn, "villages")


def test_relative_neighbourhood_graph_drops_the_delaunay_edges_with_a_closer_third_point():
    # a 2 km square and its centre: the sides have the centre (1.41 km from both ends) in their lune
    square = np.array([(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0), (1.0, 1.0)])
    assert len(demo_roads.delaunay_edges(square)) == 8
    assert demo_roads.relative_neighbourhood_edges(square) == [(0, 4), (1, 4), (2, 4), (3, 4)]
    square[4] = (1.0, 2.9)  # moved out: only the top side is blocked now
    assert demo_roads.relative_neighbourhood_edges(square) == [(0, 1), (0, 3), (1, 2), (2, 4), (3, 4)]


def test_demo_road_network_is_a_connected_mesh_reaching_every_facility_and_farm(demo_engine):
    with demo_engine.connect() as conn:
        summary = network.summary(conn)
        classes = dict(conn.execute(text("SELECT class, count(*) FROM road_segments GROUP BY 1")).all())
    assert summary["components"] == 1 and (summary["segments"], summary["nodes"]) == (2204, 1852)
    # a tree has segments = nodes - 1; the mesh has hundreds of independent loops
    assert summary["segments"] - summary["nodes"] + 1 == 353
    assert classes == {"village": 1250, "county": 205, "provincial": 183, "other": 566}  # other: farm tracks
    for layer in cov.COVERAGE_LAYERS:
        with demo_engine.connect() as conn, conn.begin():
            q = cov.CoverageQuery(layer, 3000, distance_mode="road")
            cov.prepare(conn, q)
            access = cov.road_access(conn, q)
        assert access == {
            "snap_m": 1000,
            "facilities_off_road": [],
            "villages_off_road": 0,
            "farms_off_road": 0,
        }


def test_demo_road_distances_are_a_plausible_detour_over_the_geodesic_ones(demo_engine):
    with demo_engine.connect() as conn, conn.begin():
        detours = circuity.village_detours(conn, "transfer_stations")
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 5000))
        geodesic = _nearest(conn)
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 5000, distance_mode="road"))
        road = _nearest(conn)
    # rural road networks: road distance about 1.2-1.5 times the straight line (docs/decisions.md D53)
    assert circuity.summary(detours) == {
        "pairs": 1249,
        "median": 1.337,
        "mean": 1.383,
        "p10": 1.125,
        "p90": 1.682,
    }
    assert min(d["road_m"] - d["geodesic_m"] for d in detours) > -1e-6
    by_road = {code for code, d in road.items() if d is not None}
    assert (len(by_road), len({code for code, d in geodesic.items() if d is not None})) == (307, 548)
    for code in by_road:
        assert geodesic[code] is not None and road[code] >= geodesic[code] - 1e-6


def test_a_what_if_station_counts_road_distances(road_world):
    client = TestClient(create_app(road_world), headers=role_headers(road_world, "planner"))
    body = {"name": "station at E", "layer": "transfer_stations", "distance_m": 3000, "distance_mode": "road"}
    result = client.post("/planning/scenarios", json={**body, "add": [{"lon": E[0], "lat": E[1]}]}).json()
    assert result["distance_mode"] == "road"
    # from E: V_E on the spot, V_D50 at 2,000 + 50 m; V_B at 3,000 m is already served
    assert result["coverage"]["difference"]["villages_served"] == 2
    assert result["coverage"]["difference"]["population_served"] == 200 + 300
    with road_world.begin() as conn:
        conn.execute(text("DELETE FROM road_segments; DELETE FROM road_nodes"))
    missing = client.post("/planning/scenarios", json=body)
    assert missing.status_code == 409 and "roads import" in missing.json()["detail"]


def test_reloading_the_demo_keeps_an_imported_road_network(empty_engine):
    from service.config import REPO_ROOT
    from service.demo import loader

    demo = REPO_ROOT / "gis_data" / "zhucheng"
    loader.load(empty_engine, demo)
    with empty_engine.begin() as conn:
        network.import_network(conn, ROADS)  # a real network replaces the demo's
        before = conn.execute(text("SELECT code, length_m FROM road_segments ORDER BY code")).all()
    assert before and not any(code.startswith("RD-") for code, _ in before)
    loader.load(empty_engine, demo)  # reloading the demo's inventory must not bring its roads back
    with empty_engine.connect() as conn:
        after = conn.execute(text("SELECT code, length_m FROM road_segments ORDER BY code")).all()
    assert after == before


def test_the_map_pages_version_changes_when_the_road_network_is_replaced(road_world):
    from service.maps.map_rows import inventory_version

    with road_world.connect() as conn:
        before = inventory_version(conn)
    with road_world.begin() as conn:
        network.import_network(conn, ROADS[:2])
    with road_world.connect() as conn:
        assert inventory_version(conn) != before
