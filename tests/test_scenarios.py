"""What-if scenarios: known deltas of coverage and chain load, and the inventory left untouched."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service.api.app import create_app
from service.planning import scenarios as sc
from tests import worlds
from tests.accounts import role_headers


@pytest.fixture
def world(empty_engine: Engine) -> Engine:
    with empty_engine.begin() as conn:
        worlds.chain(conn)
    return empty_engine


def snapshot(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT 'cp', code, status, capacity::text FROM collection_points UNION ALL "
                "SELECT 'link', stream || source_layer || source_id, target_layer || target_id, '' "
                "FROM chain_links "
                "ORDER BY 1, 2, 3"
            )
        ).all()


def test_closing_a_point_moves_its_village_to_the_next_nearest_and_changes_nothing(world):
    before = snapshot(world)
    result = sc.play(world, sc.Scenario("close CP2", "collection_points", 500, remove=["CP2"]))
    loads = {f["code"]: f for f in result["chain"]["facilities"]}
    assert result["chain"]["sources_moved"] == 1
    assert loads["CP1"]["before"]["inflow_t_per_day"] == pytest.approx(0.4)
    assert loads["CP1"]["after"]["inflow_t_per_day"] == pytest.approx(0.9)  # V2's 0.5 t/day moved here
    assert loads["CP2"]["after"] == {
        "status": "closed",
        "capacity": 0.6,
        "inflow_t_per_day": 0,
        "utilisation": 0,
    }
    # V2 (500 people) is about 0.8 km from CP1: no longer within 500 m of an operational point
    assert result["coverage"]["difference"]["villages_served"] == -1
    assert result["coverage"]["difference"]["population_served"] == -500
    assert snapshot(world) == before


def test_a_new_site_near_an_unserved_village_adds_exactly_its_people(world):
    # V3 (200 people) is 1.4 km from its own point CP3: unserved within 1 km until a site comes 140 m away
    new_site = sc.NewSite(119.151, 36.151, 1.0, "CP-NEW")
    result = sc.play(world, sc.Scenario("new point", "collection_points", 1000, add=[new_site]))
    diff = result["coverage"]["difference"]
    assert (diff["villages_served"], diff["population_served"]) == (1, 200)
    (new,) = [f for f in result["chain"]["facilities"] if f["hypothetical"]]
    assert new["code"] == "CP-NEW" and new["before"] is None
    # the new point is linked on to the transfer station, so its chain continues
    assert new["after"]["status"] == "operational"


def test_a_longer_reach_after_serves_more(world):
    result = sc.play(world, sc.Scenario("reach", "transfer_stations", 3000, distance_m_after=20000))
    assert result["distance_m"] == {"before": 3000, "after": 20000}
    assert result["coverage"]["difference"]["villages_served"] == 3


def test_bad_scenarios_are_refused_with_the_field_named(world):
    for scenario, message in (
        (sc.Scenario("x", "collection_points", 1000, remove=["NOPE"]), "remove: no collection_points"),
        (
            sc.Scenario("x", "collection_points", 1000, add=[sc.NewSite(100.0, 20.0)]),
            "add\\[0\\]: .* outside",
        ),
        (sc.Scenario("x", "collection_points", 1000, capacity={"CP1": -1}), "capacity.CP1: must be ≥ 0"),
        (sc.Scenario("x", "villages", 1000), "layer: 'villages'"),
        (sc.Scenario("x", "transfer_stations"), "distance_m: no standard default"),
    ):
        with pytest.raises(sc.ScenarioError, match=message):
            sc.play(world, scenario)


def test_scenarios_api_play_save_list_fetch(world):
    client = TestClient(create_app(world), headers=role_headers(world, "planner"))
    body = {
        "name": "关闭二村收集点",
        "layer": "collection_points",
        "distance_m": 500,
        "remove": ["CP2"],
        "save": True,
    }
    played = client.post("/planning/scenarios", json=body)
    assert played.status_code == 200, played.text
    result = played.json()
    assert result["id"] is not None and result["chain"]["sources_moved"] == 1
    listed = client.get("/planning/scenarios").json()["scenarios"]
    assert [(s["id"], s["name"], s["layer"]) for s in listed] == [
        (result["id"], "关闭二村收集点", "collection_points")
    ]
    assert listed[0]["difference"]["villages_served"] == -1
    fetched = client.get(f"/planning/scenarios/{result['id']}").json()
    assert fetched["request"]["remove"] == ["CP2"] and fetched["result"]["coverage"] == result["coverage"]
    outside = client.post("/planning/scenarios", json={**body, "add": [{"lon": 100, "lat": 20}]})
    assert outside.status_code == 400 and outside.headers["content-type"] == "application/problem+json"
    assert outside.json()["parameter"] == "add[0]" and outside.json()["detail"].startswith("add[0]: ")
    assert client.get("/planning/scenarios/999999").json()["detail"] == "no saved scenario 999999"
    assert client.get("/planning/scenarios/999999").status_code == 404
    for bad in (
        {**body, "colour": "red"},
        {**body, "distance_m": -5},
        {**body, "remove": ["NOPE"]},
        {**body, "add": [{"lon": 200, "lat": 36}]},
        {**body, "add": [{"lon": 100.0, "lat": 20.0}]},
        {**body, "layer": "villages"},
    ):
        response = client.post("/planning/scenarios", json=bad)
        assert response.status_code == 400, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"
