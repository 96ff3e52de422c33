"""Coverage and gaps on hand-made geometry whose geodesic distances are known to the metre (pyproj.Geod)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service.api.app import create_app
from service.coverage import gaps
from service.coverage import query as cov
from tests import worlds

GEOD = worlds.GEOD
SQUARE = worlds.square(119, 36, 0.4)
STATION = (119.2, 36.2)


def at(distance_m: float, azimuth: float) -> tuple[float, float]:
    return worlds.offset(STATION, azimuth, distance_m)


# Villages placed at exact geodesic distances from the station: 2,990 m and 3,010 m straddle 3 km.
VILLAGES = {
    "NEAR": (at(1000, 0), 1000),
    "EDGE_IN": (at(2990, 90), 500),
    "EDGE_OUT": (at(3010, 180), 300),
    "FAR": (at(20000, 270), 200),
}
FAR = VILLAGES["FAR"][0]
FARMS = {"PIG_IN": (at(2500, 45), "pig", 730), "COW_OUT": (at(5000, 135), "dairy", 150)}


@pytest.fixture
def world(empty_engine: Engine) -> Engine:
    with empty_engine.begin() as conn:
        worlds.one_town(conn, SQUARE, STATION)
        worlds.facility(conn, "transfer_stations", "S1", STATION, name="中转站", capacity=50)
        worlds.facility(conn, "transfer_stations", "S2", FAR, name="停用站", capacity=50, status="closed")
        for code, (place, population) in VILLAGES.items():
            worlds.village(conn, code, place, population)
        for code, (place, species, head_count) in FARMS.items():
            worlds.farm(conn, code, place, species, head_count)
    return empty_engine


def test_served_exactly_within_the_geodesic_distance(world):
    with world.connect() as conn, conn.begin():
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 3000))
        nearest = dict(
            conn.execute(
                text("SELECT g.code, v.nearest_m FROM cov_village v JOIN villages g ON g.id = v.id")
            ).all()
        )
        result = cov.summary(conn)
    assert nearest["NEAR"] == pytest.approx(1000, abs=0.01)
    assert nearest["EDGE_IN"] == pytest.approx(2990, abs=0.01)
    assert nearest["EDGE_OUT"] is None and nearest["FAR"] is None
    city = result["city"]
    assert (city["villages_total"], city["villages_served"]) == (4, 2)
    assert (city["population_total"], city["population_served"]) == (2000, 1500)
    assert (city["farms_total"], city["farms_served"]) == (2, 1)
    assert city["pig_equivalents_served"] == pytest.approx(730 * 180 / 365)  # pig: head on hand
    assert city["pig_equivalents_total"] == pytest.approx(730 * 180 / 365 + 150 * 10)
    (town,) = result["towns"]
    assert town["code"] == "370782101" and town["villages_served"] == 2
    (s1,) = result["facilities"]  # the closed S2 does not count
    assert (s1["code"], s1["villages_served"], s1["population_served"], s1["farms_served"]) == (
        "S1",
        2,
        1500,
        1,
    )


def test_a_larger_distance_and_closed_facilities_change_the_answer(world):
    with world.connect() as conn, conn.begin():
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 3010.5))
        assert cov.summary(conn)["city"]["villages_served"] == 3
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 3000, statuses=("operational", "closed")))
        result = cov.summary(conn)
    assert result["city"]["villages_served"] == 3  # FAR sits on the closed station
    assert {f["code"] for f in result["facilities"]} == {"S1", "S2"}


def test_the_geography_index_answers_the_distance_query(world):
    with world.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL enable_seqscan = off"))  # tiny tables: make the plan choice visible
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 3000))
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                text(
                    "EXPLAIN SELECT f.id, v.id FROM cov_facility f "
                    "JOIN villages v ON ST_DWithin(v.geom::geography, f.geom::geography, 3000)"
                )
            )
        )
    assert "ix_villages_geog" in plan


def test_gaps_rank_unserved_by_population_and_herd(world):
    with world.connect() as conn, conn.begin():
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 3000))
        found = gaps.find(conn, 3000)
    assert [v["code"] for v in found["villages"]] == ["EDGE_OUT", "FAR"]
    assert [f["code"] for f in found["farms"]] == ["COW_OUT"]
    # EDGE_OUT and COW_OUT are 2.5 km apart and FAR 20 km away: two gap areas within a 3 km radius
    assert len(found["clusters"]) == 2
    top = found["clusters"][0]
    assert top["rank"] == 1 and set(top["members"]) == {"EDGE_OUT", "COW_OUT"}
    assert top["population"] == 300 and top["pig_equivalents"] == pytest.approx(1500)


def test_gaps_cut_by_limit_say_what_was_cut_and_count_everything(world):
    with world.connect() as conn, conn.begin():
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 3000))
        found = gaps.find(conn, 3000, limit=1)
    assert [v["code"] for v in found["villages"]] == ["EDGE_OUT"] and found["villages_unserved"] == 2
    assert found["truncated"] == {"villages": True, "farms": False, "clusters": True, "members": True}
    assert found["clusters_total"] == 2 and len(found["clusters"]) == 1 and found["limit"] == 1
    top = found["clusters"][0]
    assert top["members_total"] == 2 and top["members_truncated"]
    assert len(top["members"]) == 1 and set(top["members"]) < {"EDGE_OUT", "COW_OUT"}
    with world.connect() as conn, conn.begin():
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 3000))
        whole = gaps.find(conn, 3000, limit=10)
    assert not any(whole["truncated"].values()) and whole["clusters"][0]["members_truncated"] is False


def test_default_distance_comes_from_the_standard_and_absurd_input_is_refused(world):
    assert cov.CoverageQuery("collection_points").resolved_distance() == 3000
    for bad, message in (
        (cov.CoverageQuery("transfer_stations"), "no standard default"),
        (cov.CoverageQuery("transfer_stations", 0), "must be > 0"),
        (cov.CoverageQuery("transfer_stations", 1e7), "must be > 0"),
        (cov.CoverageQuery("villages", 100), "not a facility layer"),
        (cov.CoverageQuery("manure_centers", 100, kind="x"), "has no kind"),
    ):
        with pytest.raises(cov.CoverageError, match=message):
            bad.resolved_distance()


def test_coverage_api_json_geojson_and_errors(world):
    client = TestClient(create_app(world))
    body = client.get("/coverage", params={"layer": "transfer_stations", "distance_m": 3000}).json()
    assert body["city"]["villages_served"] == 2 and body["method"] == "geodesic"
    geo = client.get(
        "/coverage", params={"layer": "transfer_stations", "distance_m": 3000, "format": "geojson"}
    )
    features = geo.json()["features"]
    served = {
        f["properties"]["code"]: f["properties"]["served"]
        for f in features
        if f["properties"]["role"] in ("village", "farm")
    }
    assert served == {
        "NEAR": True,
        "EDGE_IN": True,
        "EDGE_OUT": False,
        "FAR": False,
        "PIG_IN": True,
        "COW_OUT": False,
    }
    (area,) = [f for f in features if f["properties"]["role"] == "service_area"]
    assert area["geometry"]["type"] == "Polygon"
    gaps_body = client.get("/coverage/gaps", params={"layer": "transfer_stations", "distance_m": 3000}).json()
    assert gaps_body["villages_unserved"] == 2
    for params, status in (
        ({"layer": "transfer_stations"}, 400),
        ({"layer": "transfer_stations", "distance_m": -1}, 400),
        ({"layer": "transfer_stations", "distance_m": 200000}, 400),
        ({"layer": "villages", "distance_m": 100}, 400),
        ({"layer": "transfer_stations", "distance_m": 100, "status": "broken"}, 400),
    ):
        response = client.get("/coverage", params=params)
        assert (
            response.status_code == status and response.headers["content-type"] == "application/problem+json"
        )
    for params, parameter in (
        ({"layer": "transfer_stations"}, "distance_m"),
        ({"layer": "transfer_stations", "distance_m": 100, "status": "broken"}, "status"),
    ):
        assert client.get("/coverage", params=params).json()["parameter"] == parameter


def test_coverage_xlsx_report_opens_with_the_same_figures(world, tmp_path):
    from openpyxl import load_workbook

    client = TestClient(create_app(world))
    response = client.get(
        "/coverage", params={"layer": "transfer_stations", "distance_m": 3000, "format": "xlsx"}
    )
    assert response.status_code == 200
    assert "coverage-transfer_stations-3000m.xlsx" in response.headers["content-disposition"]
    path = tmp_path / "coverage.xlsx"
    path.write_bytes(response.content)
    book = load_workbook(path, read_only=True)
    assert book.sheetnames == ["全市", "乡镇", "设施", "未覆盖"]
    rows = book["全市"].iter_rows(min_row=5, values_only=True)
    about = {row[0]: row[1] for row in rows}
    assert (about["覆盖行政村"], about["覆盖人口"], about["覆盖养殖场"]) == (2, 1500, 1)
    unserved = [row for row in book["未覆盖"].iter_rows(min_row=5, values_only=True)]
    assert [(r[1], r[4]) for r in unserved if r[0] == "行政村"] == [("EDGE_OUT", 300), ("FAR", 200)]
    assert [r[1] for r in unserved if r[0] == "养殖场"] == ["COW_OUT"]


def test_only_the_asked_subjects_are_computed_and_reported(world):
    client = TestClient(create_app(world))
    params = {"layer": "transfer_stations", "distance_m": 3000}
    both = client.get("/coverage", params=params).json()
    villages = client.get("/coverage", params={**params, "subjects": "villages"}).json()
    assert villages["subjects"] == ["villages"] and "subjects" not in both
    for key in ("villages_served", "population_served", "households_served", "villages_served_share"):
        assert villages["city"][key] == both["city"][key]
    assert not any(k.startswith(("farms", "head_count", "pig_equivalents")) for k in villages["city"])
    (s1,) = villages["facilities"]
    assert (s1["villages_served"], s1["population_served"]) == (2, 1500) and "farms_served" not in s1
    farms = client.get("/coverage", params={**params, "subjects": "farms"}).json()
    assert (farms["city"]["farms_served"], "villages_total" in farms["city"]) == (1, False)
    geo = client.get("/coverage", params={**params, "subjects": "villages", "format": "geojson"}).json()
    assert {f["properties"]["role"] for f in geo["features"]} == {"village", "service_area"}
    gaps_body = client.get("/coverage/gaps", params={**params, "subjects": "villages"}).json()
    assert (gaps_body["villages_unserved"], gaps_body["farms_unserved"]) == (2, 0)
    bad = client.get("/coverage", params={**params, "subjects": "toilets"})
    assert bad.status_code == 400 and "subjects" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("subject", "index"), [("villages", "idx_villages_geom"), ("farms", "idx_livestock_farms_geom")]
)
def test_each_facility_probes_the_subjects_lonlat_index_once(world, subject, index):
    """The pair query runs facilities outside, the subjects' lon/lat GIST index inside (issue 5 and
    18 speed, D114), then the exact geodesic test."""
    q = cov.CoverageQuery("transfer_stations", 3000)
    facilities, params = cov.facility_source(q)
    chosen = cov.subjects()[subject]
    with world.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL enable_seqscan = off"))  # tiny tables: make the plan choice visible
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                text("EXPLAIN " + cov.pairs_sql(chosen, facilities)), {**params, **chosen.params, "d": 3000}
            )
        )
    loop = plan.index("Nested Loop")
    assert plan.index("transfer_stations", loop) < plan.index(index, loop), plan
    assert "_st_dwithin" in plan and "_geog" not in plan


def test_the_coverage_layer_parameter_offers_exactly_the_chains_facility_layers():
    from service.api.coverage_params import CoverageLayer
    from service.models import FACILITY_LAYERS

    assert tuple(layer.value for layer in CoverageLayer) == FACILITY_LAYERS
