"""Siting on a hand-made problem whose optimum is checked by brute force over all k-subsets, the API's bad
input and size limit, and one run on the Zhucheng demo. Geodesic distances of the brute force come from
pyproj.Geod, independently of PostGIS."""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterator
from typing import Any

import pulp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.api.app import create_app
from service.chain.parameters import ChainParameters
from service.db import make_engine
from service.planning import siting
from service.planning.siting import models, solver
from tests import worlds
from tests.accounts import role_headers
from tests.conftest import PgServer

GEOD = worlds.GEOD
SQUARE = worlds.square(119, 36, 0.4)
CENTRE = (119.2, 36.2)
REACH_M = 6000.0
MEDIAN_REACH_M = 13000.0  # p-median: every village must find an open site within reach
WASTE_T_PER_PERSON_DAY = ChainParameters().waste_kg_per_person_day / 1000


def at(distance_m: float, azimuth: float) -> tuple[float, float]:
    return worlds.offset(CENTRE, azimuth, distance_m)


# (distance from the centre in m, azimuth in degrees): 7 candidate sites and 12 villages with populations.
CANDIDATES = [at(d, az) for d, az in [(0, 0), (5000, 0), (5000, 72), (5000, 144), (5000, 216), (5000, 288),
                                      (9000, 30)]]  # fmt: skip
VILLAGES = [
    (at(d, az), pop)
    for d, az, pop in [
        (1500, 10, 900), (2500, 200, 1200), (6500, 5, 2100), (7000, 60, 800), (4800, 100, 1500),
        (8000, 140, 1800), (6200, 230, 700), (9500, 280, 2600), (3000, 300, 400), (11000, 40, 1900),
        (7500, 170, 1100), (4000, 260, 600),
    ]
]  # fmt: skip
EXISTING_STATION = at(7800, 285)  # near the 2,600-people village in the west


def geodesic_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


DIST = [[geodesic_m(c, v) for v, _ in VILLAGES] for c in CANDIDATES]


@pytest.fixture(scope="module")
def world(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    """One database for the module: siting only reads, and a database per test would double the run time."""
    name = f"sanichain_test_siting_{uuid.uuid4().hex[:8]}"
    engine = make_engine(pg_server.create(name, migrated_template))
    with engine.begin() as conn:
        worlds.one_town(conn, SQUARE, CENTRE)
        worlds.facility(conn, "transfer_stations", "S1", EXISTING_STATION, name="中转站", capacity=50)
        for i, (place, population) in enumerate(VILLAGES):
            worlds.village(conn, f"V{i:02d}", place, population)
    yield engine
    engine.dispose()
    pg_server.drop(name)


@pytest.fixture(scope="module")
def app_engine(world: Engine) -> Engine:
    """`client` serves this module's world."""
    return world


def body(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "layer": "transfer_stations",
        "model": "maximal_covering",
        "k": 3,
        "distance_m": REACH_M,
        "candidates": {"source": "points", "points": [{"lon": lon, "lat": lat} for lon, lat in CANDIDATES]},
    }
    request.update(changes)
    return request


def chosen_indices(result: dict[str, Any]) -> set[int]:
    index = {(round(lon, 7), round(lat, 7)): j for j, (lon, lat) in enumerate(CANDIDATES)}
    return {index[s["lon"], s["lat"]] for s in result["sites"]}


def brute_force_covering(k: int, skip: set[int] = frozenset()) -> tuple[float, list[set[int]]]:
    """Best covered population over all k-subsets, and every subset reaching it."""
    values = {}
    for subset in itertools.combinations(range(len(CANDIDATES)), k):
        values[subset] = sum(
            pop
            for i, (_, pop) in enumerate(VILLAGES)
            if i not in skip and any(DIST[j][i] <= REACH_M for j in subset)
        )
    best = max(values.values())
    return best, [set(s) for s, v in values.items() if v == best]


def brute_force_median(
    k: int, capacity_t: float, reach: float = MEDIAN_REACH_M
) -> tuple[float, list[set[int]]]:
    """Least t·km/day over all k-subsets and all single-source assignments within reach and capacity."""
    reachable = [i for i in range(len(VILLAGES)) if any(DIST[j][i] <= reach for j in range(len(CANDIDATES)))]
    demand = {i: VILLAGES[i][1] * WASTE_T_PER_PERSON_DAY for i in reachable}
    values: dict[tuple[int, ...], float] = {}
    for subset in itertools.combinations(range(len(CANDIDATES)), k):
        options = [[j for j in subset if DIST[j][i] <= reach] for i in reachable]
        best = math.inf
        for choice in itertools.product(*options):
            load = dict.fromkeys(subset, 0.0)
            for i, j in zip(reachable, choice, strict=True):
                load[j] += demand[i]
            if all(v <= capacity_t + 1e-9 for v in load.values()):
                cost = sum(demand[i] * DIST[j][i] / 1000 for i, j in zip(reachable, choice, strict=True))
                best = min(best, cost)
        values[subset] = best
    best_value = min(values.values())
    return best_value, [set(s) for s, v in values.items() if math.isclose(v, best_value, rel_tol=1e-9)]


def test_hand_made_layout_has_no_village_on_the_reach_boundary():
    # the brute force and PostGIS agree to well under a metre; keep every pair clear of the boundaries
    assert all(abs(d - reach) > 50 for row in DIST for d in row for reach in (REACH_M, MEDIAN_REACH_M))


def test_maximal_covering_finds_the_brute_force_optimum(planner_client):
    best, optimal_sets = brute_force_covering(3)
    response = planner_client.post("/planning/siting", json=body())
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "optimal" and result["gap"] == 0
    assert result["objective"]["value"] == pytest.approx(best)
    assert chosen_indices(result) in optimal_sets
    assert sum(s["covered"] for s in result["sites"]) == pytest.approx(best)  # credited once each
    assert result["solver"]["name"] == "CBC" and result["solver"]["version"][0].isdigit()
    assert result["problem"]["candidates"] == 7 and result["problem"]["variables"] == 7 + 12 - sum(
        1 for i in range(len(VILLAGES)) if all(DIST[j][i] > REACH_M for j in range(len(CANDIDATES)))
    )
    assert {s["town_code"] for s in result["sites"]} == {"370782101"}


def test_covering_with_existing_stations_counts_their_villages_as_covered(planner_client):
    served = {i for i, (v, _) in enumerate(VILLAGES) if geodesic_m(EXISTING_STATION, v) <= REACH_M}
    assert served, "the layout should put a village near the existing station"
    best, optimal_sets = brute_force_covering(2, skip=served)
    result = planner_client.post("/planning/siting", json=body(k=2, include_existing=True)).json()
    assert result["objective"]["value"] == pytest.approx(best)
    assert chosen_indices(result) in optimal_sets
    assert result["demand"]["already_covered"] == sum(VILLAGES[i][1] for i in served)


def test_capacitated_p_median_finds_the_brute_force_optimum(planner_client):
    capacity = 3.2  # t/day: the 6.24 t/day of waste do not fit the nearest-site split
    best, optimal_sets = brute_force_median(2, capacity)
    response = planner_client.post(
        "/planning/siting",
        json=body(model="p_median", k=2, capacity_t_per_day=capacity, distance_m=MEDIAN_REACH_M),
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "optimal" and result["gap"] == 0
    assert result["objective"]["value"] == pytest.approx(best, rel=1e-6)
    assert chosen_indices(result) in optimal_sets
    loads = [s["assigned_t_per_day"] for s in result["sites"]]
    assert all(load <= capacity + 1e-6 for load in loads)
    assert sum(loads) == pytest.approx(
        result["demand"]["total_t_per_day"] - result["demand"]["out_of_reach_t_per_day"]
    )
    assert max(s["max_distance_m"] for s in result["sites"]) <= MEDIAN_REACH_M


def test_capacity_changes_the_p_median_answer(planner_client):
    # with room for everything the nearest-site split wins; the capacity must have forced a costlier one
    loose, _ = brute_force_median(2, 100.0)
    tight, _ = brute_force_median(2, 3.2)
    assert tight > loose
    result = planner_client.post(
        "/planning/siting",
        json=body(model="p_median", k=2, capacity_t_per_day=100.0, distance_m=MEDIAN_REACH_M),
    ).json()
    assert result["objective"]["value"] == pytest.approx(loose, rel=1e-6)


@pytest.mark.parametrize(
    ("changes", "parameter"),
    [
        ({"k": 0}, "k"),
        ({"k": 8}, "k"),
        ({"candidates": {"source": "points", "points": []}}, "candidates.points"),
        ({"candidates": {"source": "points", "points": [{"lon": 120.5, "lat": 36.2}]}}, "candidates.points"),
        ({"candidates": {"source": "grid", "spacing_m": 1}}, "spacing_m"),
        ({"candidates": {"source": "everywhere"}}, "candidates"),
        ({"layer": "toilets"}, "layer"),
        ({"layer": "villages"}, "layer"),
        ({"distance_m": -5}, "distance_m"),
        ({"distance_m": 5e7}, "distance_m"),
        ({"radius": 3000}, "radius"),
        ({"model": "p_median"}, "capacity_t_per_day"),
        ({"capacity_t_per_day": 5}, "capacity_t_per_day"),
        ({"time_limit_s": 3600}, "time_limit_s"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(planner_client, changes, parameter):
    response = planner_client.post("/planning/siting", json=body(**changes))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert parameter in response.json()["detail"]


def test_a_problem_too_large_is_a_422_with_the_size_that_can_be_solved(planner_client):
    planner_client.app.state.siting_settings = siting.SitingSettings(max_variables_covering=10)
    response = planner_client.post("/planning/siting", json=body())
    assert response.status_code == 422
    problem = response.json()
    assert problem["max_size"] == 10 and problem["size"] > 10 and problem["measure"].startswith("variables")
    assert "candidates: " in problem["detail"] and "up to 10 " in problem["detail"]


def test_too_many_pairs_within_reach_is_a_422_naming_the_distance(planner_client):
    planner_client.app.state.siting_settings = siting.SitingSettings(max_pairs=20)
    response = planner_client.post("/planning/siting", json=body())
    assert response.status_code == 422
    assert response.json()["detail"].startswith("distance_m: ") and response.json()["max_size"] == 20


def test_a_grid_too_fine_is_refused_before_it_is_generated(planner_client):
    planner_client.app.state.siting_settings = siting.SitingSettings(max_variables_covering=100)
    response = planner_client.post(
        "/planning/siting", json=body(candidates={"source": "grid", "spacing_m": 500})
    )
    assert response.status_code == 422
    assert "spacing_m" in response.json()["detail"]


def test_grid_candidates_lie_inside_the_city_outline(planner_client):
    result = planner_client.post(
        "/planning/siting", json=body(k=2, candidates={"source": "grid", "spacing_m": 4000})
    ).json()
    assert result["status"] == "optimal"
    assert 90 <= result["problem"]["candidates"] <= 110  # ~36 km × 44 km / 16 km²
    assert all(119 <= s["lon"] <= 119.4 and 36 <= s["lat"] <= 36.4 for s in result["sites"])


def test_too_little_capacity_is_a_422_naming_it(planner_client):
    response = planner_client.post(
        "/planning/siting",
        json=body(model="p_median", k=2, capacity_t_per_day=1.0, distance_m=MEDIAN_REACH_M),
    )
    assert response.status_code == 422
    assert "capacity_t_per_day" in response.json()["detail"]


def test_demo_transfer_stations_at_villages_solve_to_optimality(demo_engine):
    with TestClient(create_app(demo_engine), headers=role_headers(demo_engine, "planner")) as client:
        response = client.post(
            "/planning/siting",
            json={
                "layer": "transfer_stations",
                "model": "maximal_covering",
                "k": 3,
                "distance_m": 3000,
                "candidates": {"source": "villages"},
                "include_existing": True,
            },
        )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "optimal" and result["gap"] == 0
    assert result["problem"]["candidates"] == 1249
    demand = result["demand"]
    unserved = demand["total"] - demand["already_covered"]
    assert 0 < result["objective"]["value"] <= unserved
    assert sum(s["covered"] for s in result["sites"]) == pytest.approx(result["objective"]["value"])
    # three villages as sites, each in a town of Zhucheng, each bringing new people
    assert len({s["label"] for s in result["sites"]}) == 3
    assert all(s["town_code"].startswith("370782") and s["covered"] > 0 for s in result["sites"])
    assert result["solve_time_s"] < 20


def test_cbc_is_killed_when_it_overruns_its_time_limit(monkeypatch):
    # CBC checks its own limit only between nodes; the subprocess timeout is what keeps a request finite
    monkeypatch.setattr(solver, "KILL_GRACE_S", 0.0)
    lp = pulp.LpProblem("tiny", pulp.LpMaximize)
    x = lp.add_variable("x", cat=pulp.LpBinary)
    lp += x
    run = siting.run_cbc(lp, 0.001)  # less than it takes to start the process
    assert run.status == "time_limit_exceeded" and run.objective is None
    with pytest.raises(siting.Unsolvable, match="time_limit_s"):
        models._checked(run, 0.001)


def test_a_p_median_over_the_size_limit_is_cut_to_the_shortest_pairs_keeping_every_village(planner_client):
    pairs = [(DIST[j][i], j, i) for j in range(len(CANDIDATES)) for i in range(len(VILLAGES))
             if DIST[j][i] <= MEDIAN_REACH_M]  # fmt: skip
    nearest = {i: min((d, j) for d, j, ii in pairs if ii == i) for i in {i for _, _, i in pairs}}
    others = sorted(d for d, j, i in pairs if nearest[i] != (d, j))
    limit = len(CANDIDATES) + len(pairs) - 10
    budget = limit - len(CANDIDATES) - len(nearest)
    planner_client.app.state.siting_settings = siting.SitingSettings(max_variables_median=limit)
    response = planner_client.post(
        "/planning/siting",
        json=body(model="p_median", k=3, capacity_t_per_day=100.0, distance_m=MEDIAN_REACH_M),
    )
    assert response.status_code == 200, response.text
    result = response.json()
    cut = result["reach_cut"]
    assert cut["pairs_within_distance_m"] == len(pairs) and cut["pairs_kept"] == len(pairs) - 10
    assert cut["cut_off_m"] == pytest.approx(others[budget - 1], abs=1.0)
    assert result["problem"]["variables"] == limit
    # no village left out: each is assigned, within the cut-off or to its nearest site
    assert sum(s["demand_points"] for s in result["sites"]) == len(nearest)


def test_a_p_median_whose_candidates_alone_exceed_the_limit_is_a_422_saying_what_fits(planner_client):
    planner_client.app.state.siting_settings = siting.SitingSettings(max_variables_median=15)
    response = planner_client.post(
        "/planning/siting",
        json=body(model="p_median", k=2, capacity_t_per_day=100.0, distance_m=MEDIAN_REACH_M),
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["detail"].startswith("candidates: 7 candidates and one assignment for each of the 12")
    assert problem["fits_candidates"] == 3 and problem["max_size"] == 15 and problem["size"] == 19


def test_a_village_too_large_for_any_site_makes_the_p_median_infeasible_naming_the_capacity(planner_client):
    capacity = 1.0  # the 2,600-people village alone makes 1.04 t/day; total capacity is enough
    response = planner_client.post(
        "/planning/siting",
        json=body(model="p_median", k=7, capacity_t_per_day=capacity, distance_m=MEDIAN_REACH_M),
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("capacity_t_per_day: 1 demand point(s) need more than any site within reach")
    assert "V07 alone needs 1.04 t/day" in detail
