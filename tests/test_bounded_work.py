"""Bounded analysis work: road-mode coverage and siting sizes estimated and refused before the work,
concurrent solves capped, saved scenarios paged."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service.api.app import create_app
from service.api.limits import solver_slots
from service.config import AnalysisLimitSettings
from service.coverage import query as cov
from service.coverage.computation import computed
from service.coverage.road_reach import ReachEstimate, RoadReachTooLarge
from service.planning import siting
from tests.accounts import role_headers
from tests.problems import assert_problem

# the probe's request: 140 s of database time before the estimate
ROAD_100_KM = {
    "layer": "collection_points",
    "distance_m": 100_000,
    "distance_mode": "road",
    "snap_m": 10_000,
}


def limited_client(engine: Engine, **limits: int) -> TestClient:
    app = create_app(engine)
    app.state.analysis_limits = AnalysisLimitSettings(**limits)
    return TestClient(app, headers=role_headers(engine, "planner"))


def test_road_coverage_of_100_km_from_every_collection_point_is_refused_before_routing(client):
    started = time.perf_counter()
    response = client.get("/coverage", params=ROAD_100_KM)
    seconds = time.perf_counter() - started
    body = assert_problem(response, 422, "distance_m")
    # 1,240 road nodes of collection points × all 1,852 nodes of the demo network
    assert (body["size"], body["max_size"]) == (1240 * 1852, 1_000_000)
    assert body["setting"] == "SANICHAIN_ROAD_MAX_NODE_VISITS" and body["fits_distance_m"] == 20_730
    assert (
        "the limit is 1,000,000 (SANICHAIN_ROAD_MAX_NODE_VISITS); ask for at most 20,730 m" in body["detail"]
    )
    assert seconds < 5, seconds  # the refusal costs a pass over the road nodes, not the routing


@pytest.mark.parametrize("fmt", ["json", "geojson", "xlsx"])
def test_the_suggested_reach_is_answered_and_a_longer_one_refused_in_every_format(demo_engine, fmt):
    client = limited_client(demo_engine, road_max_node_visits=20_000)
    asked = {**ROAD_100_KM, "distance_m": 3000, "snap_m": 1000, "format": fmt}
    refused = assert_problem(client.get("/coverage", params=asked), 422, "distance_m")
    fits = refused["fits_distance_m"]
    assert 2000 < fits < 3000 and refused["max_size"] == 20_000 and refused["size"] > 20_000
    answered = client.get("/coverage", params={**asked, "distance_m": fits})
    assert answered.status_code == 200, answered.text
    if fmt == "json":
        assert answered.json()["distance_m"] == fits and answered.json()["method"].startswith("road")


def test_gaps_and_the_coverage_map_share_the_road_limit(demo_engine):
    client = limited_client(demo_engine, road_max_node_visits=20_000)
    params = {**ROAD_100_KM, "distance_m": 3000, "snap_m": 1000}
    assert assert_problem(client.get("/coverage/gaps", params=params), 422, "distance_m")["size"] > 20_000
    assert assert_problem(client.get("/maps/coverage", params=params), 422, "distance_m")["size"] > 20_000


def test_a_road_scenario_too_large_is_refused_before_routing(demo_engine):
    client = limited_client(demo_engine, road_max_node_visits=1000)
    body = {"layer": "transfer_stations", "distance_m": 20_000, "distance_mode": "road", "remove": []}
    refused = assert_problem(client.post("/planning/scenarios", json=body), 422, "distance_m")
    # 14 stations × the nodes within 20 km (the disc covers 40 % of the network's box)
    assert refused["max_size"] == 1000 and refused["size"] > 1000
    played = client.post("/planning/scenarios", json={**body, "distance_m": refused["fits_distance_m"]})
    assert played.status_code == 200, played.text
    assert played.json()["distance_mode"] == "road"


def test_the_estimate_is_the_bound_of_routing_from_the_network_density():
    estimate = ReachEstimate(roots=10, nodes=1000, area_m2=1e9)
    assert estimate.visits(100_000) == 10 * 1000  # the disc covers the network: every node
    assert estimate.visits(1000) == 32  # 10 × 1000 × π 10⁶ / 10⁹ = 31.4
    fits = estimate.fitting_distance(5000)
    assert fits is not None and estimate.visits(fits) <= 5000 < estimate.visits(fits + 20)
    assert estimate.fitting_distance(9) is None  # fewer visits than roots: no reach fits
    on_a_line = ReachEstimate(roots=2, nodes=50, area_m2=0)
    assert on_a_line.visits(10) == 100 and on_a_line.fitting_distance(99) is None


def test_the_domain_refuses_with_the_limit_it_is_given(demo_engine):
    q = cov.CoverageQuery("transfer_stations", 5000, distance_mode="road", max_road_node_visits=10)
    refused = pytest.raises(RoadReachTooLarge, match=r"distance_m: road reach of 5,000 m from 14 facility")
    with refused, computed(demo_engine, q):
        pass


VILLAGE_SITES = {
    "layer": "collection_points",
    "model": "maximal_covering",
    "k": 5,
    "candidates": {"source": "villages"},
}


def test_siting_with_too_many_pairs_is_refused_before_they_are_computed(demo_engine):
    q = siting.SitingQuery("collection_points", "maximal_covering", 5, 100_000, siting.Candidates("villages"))
    with demo_engine.connect() as conn, conn.begin():
        with pytest.raises(siting.TooManyPairs) as refused:
            siting.prepare(conn, q, siting.SitingSettings(max_pairs=20_000))
        # the pair table (distances of every pair within reach) was never made
        assert conn.execute(text("SELECT to_regclass('pg_temp.siting_pair')")).scalar() is None
    assert refused.value.extra["fits_distance_m"] < 100_000


def test_the_probes_siting_request_is_a_422_naming_the_limit_and_a_reach_that_fits(planner_client):
    planner_client.app.state.siting_settings = siting.SitingSettings(max_pairs=20_000)
    started = time.perf_counter()
    response = planner_client.post("/planning/siting", json={**VILLAGE_SITES, "distance_m": 100_000})
    seconds = time.perf_counter() - started
    body = assert_problem(response, 422, "distance_m")
    # 1,249 village candidates × 1,249 villages, all within 100 km; the count stops at 20,001
    assert (body["size"], body["max_size"], body["setting"]) == (
        1249 * 1249,
        20_000,
        "SANICHAIN_SITING_MAX_PAIRS",
    )
    assert "the limit is 20,000 (SANICHAIN_SITING_MAX_PAIRS)" in body["detail"]
    assert seconds < 5, seconds
    fits = body["fits_distance_m"]
    answered = planner_client.post(
        "/planning/siting", json={**VILLAGE_SITES, "distance_m": fits, "time_limit_s": 10}
    )
    assert answered.status_code == 200, answered.text
    # the suggestion is near the limit, not a timid fraction of it
    assert 8_000 < answered.json()["problem"]["pairs_within_reach"] <= 20_000


def test_a_siting_request_over_the_solver_cap_is_a_503_with_retry_after(planner_client):
    planner_client.app.state.analysis_limits = AnalysisLimitSettings(siting_max_concurrent_solves=1)
    slots = solver_slots(planner_client.app)
    with slots.held(1):  # a solve in progress
        started = time.perf_counter()
        busy = planner_client.post(
            "/planning/siting", json={**VILLAGE_SITES, "distance_m": 2000, "time_limit_s": 7}
        )
        refused_in = time.perf_counter() - started
    body = assert_problem(busy, 503)
    assert busy.headers["retry-after"] == "12"  # the running solve's time limit (7 s) + CBC's kill grace
    assert body["setting"] == "SANICHAIN_SITING_MAX_CONCURRENT_SOLVES" and body["max_size"] == 1
    assert refused_in < 2, refused_in  # refused at once, not queued
    # the slot is free again: the same request is solved
    solved = planner_client.post(
        "/planning/siting", json={**VILLAGE_SITES, "distance_m": 2000, "time_limit_s": 7}
    )
    assert solved.status_code == 200, solved.text


def test_solver_slots_free_a_slot_when_a_solve_fails():
    slots = siting.SolverSlots(1)
    with pytest.raises(RuntimeError), slots.held(5):
        raise RuntimeError("the solve failed")
    with slots.held(5), pytest.raises(siting.SolverBusy, match="retry in about 5 s"), slots.held(5):
        pass
