"""Hostile values that used to end in a 500: each is now a 400 (or 404/409) problem naming what is wrong."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service.api.app import create_app
from service.config import forget_settings
from service.features.values import RANGE_TEXT
from service.planning.scenarios import MAX_CAPACITY
from tests import worlds
from tests.accounts import role_headers
from tests.problems import assert_problem
from tests.queries import scalar

ITEMS = "/collections/livestock_farms/items"
EPSG_4549 = "http://www.opengis.net/def/crs/EPSG/0/4549"


def cursor(content: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(content).encode()).decode().rstrip("=")


# -- items --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["9999-12-31", "9999-12-31T23:59:59-05:00/..", "../0001-01-01T00:00:00+01:00", "0001-01-01"]
)
def test_datetimes_beyond_the_supported_range_are_a_400_naming_datetime(client, value):
    response = client.get(ITEMS, params={"datetime": value})
    assert_problem(response, 400, "datetime", "outside the supported range", RANGE_TEXT)


def test_the_last_supported_day_is_answered(client):
    response = client.get(ITEMS, params={"datetime": "9999-12-30", "limit": 1})
    assert response.status_code == 200, response.text
    assert response.json()["numberReturned"] == 0


@pytest.mark.parametrize("raw, shown", [("%C2%B2", "²"), ("%D9%A1", "١"), ("%EF%BC%91", "１")])
def test_item_ids_written_with_other_digits_are_not_found_never_read_as_numbers(client, raw, shown):
    # '١' (Arabic-Indic one) passes str.isdigit and int('١') is 1: it must not answer feature 1
    assert client.get(f"{ITEMS}/1").status_code == 200
    response = client.get(f"{ITEMS}/{raw}")
    assert_problem(response, 404, None, repr(shown), "decimal integers")


@pytest.mark.parametrize(
    "sortby, content, words",
    [
        ("", {"o": "+id", "k": ["1"]}, "wrong type"),
        ("", {"o": "+id", "k": [10**30]}, "out of range"),
        ("", {"o": "+id", "k": [True]}, "wrong type"),
        ("name", {"o": "+name,+id", "k": ["a\x00b", 1]}, "NUL"),
        ("head_count", {"o": "+head_count,+id", "k": [{"x": 1}, 1]}, "wrong type"),
        ("updated_at", {"o": "+updated_at,+id", "k": ["9999-12-31T23:59:59-05:00", 1]}, "supported range"),
        ("updated_at", {"o": "+updated_at,+id", "k": [17, 1]}, "wrong type"),
        ("", [1], "not a cursor"),
        ("", {"o": "+id", "k": [1], "b": "yes"}, "direction"),
    ],
)
def test_crafted_cursors_are_a_400_naming_cursor(client, sortby, content, words):
    params = {"cursor": cursor(content), **({"sortby": sortby} if sortby else {})}
    assert_problem(client.get(ITEMS, params=params), 400, "cursor", words)


def test_a_cursor_of_deeply_nested_json_is_a_400_not_a_recursion_error(client):
    token = base64.urlsafe_b64encode(b"[" * 3000).decode()
    assert_problem(client.get(ITEMS, params={"cursor": token}), 400, "cursor", "not a cursor")


@pytest.mark.parametrize("name", ["species", "name", "town", "status", "filter", "sortby"])
@pytest.mark.parametrize("path", [ITEMS, "/export/livestock_farms.csv", "/export/livestock_farms.xlsx"])
def test_nul_in_vocabulary_and_text_filters_is_a_400_naming_the_parameter(client, path, name):
    assert_problem(client.get(path, params={name: "pig\x00"}), 400, name, "NUL")


def test_a_spatial_literal_outside_the_filter_crs_area_is_a_400(client):
    params = {"filter": "S_INTERSECTS(geom, POINT(1e14 1e14))", "filter-crs": EPSG_4549}
    body = assert_problem(client.get(ITEMS, params=params), 400, "filter", "outside the area of", EPSG_4549)
    assert "1e+14" in body["detail"]
    # inside the area the same filter is answered (EPSG:4549 is northing, easting around 120°E)
    inside = {"filter": "S_INTERSECTS(geom, POINT(4000000 450000))", "filter-crs": EPSG_4549}
    assert client.get(ITEMS, params=inside).status_code == 200


MIXED_950 = " OR ".join(["head_count > 1 AND head_count < 5"] * 475)  # 950 terms, alternating operators


@pytest.mark.parametrize("path", [ITEMS, "/export/livestock_farms.csv", "/export/livestock_farms.geojson"])
def test_filters_with_hundreds_of_terms_are_refused_on_items_and_export(client, path):
    body = assert_problem(client.get(path, params={"filter": MIXED_950}), 400, "filter", "the limit is 256")
    assert body["setting"] == "SANICHAIN_CQL_MAX_PREDICATES"
    assert (body["measure"], body["size"], body["max_size"]) == ("conditions", 949, 256)


@pytest.mark.parametrize("path", [ITEMS, "/export/livestock_farms.csv"])
def test_deeply_nested_filters_are_refused_before_parsing(client, path):
    nested = "(" * 950 + "head_count > 1" + ")" * 950
    body = assert_problem(client.get(path, params={"filter": nested}), 400, "filter", "nested deeper than 20")
    assert body["setting"] == "SANICHAIN_CQL_MAX_DEPTH"
    nots = "NOT " * 950 + "head_count > 1"
    assert_problem(client.get(path, params={"filter": nots}), 400, "filter")


@pytest.fixture
def small_filter_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SANICHAIN_CQL_MAX_PREDICATES", "3")
    monkeypatch.setenv("SANICHAIN_CQL_MAX_DEPTH", "2")
    forget_settings()
    yield
    monkeypatch.undo()
    forget_settings()


def test_the_filter_limits_are_the_settings(client, small_filter_limits):
    three = "head_count > 1 AND head_count < 9000 AND species = 'pig'"
    assert client.get(ITEMS, params={"filter": three, "limit": 1}).status_code == 200
    four = three + " AND name IS NOT NULL"
    body = assert_problem(client.get(ITEMS, params={"filter": four}), 400, "filter", "the limit is 3")
    assert body["size"] == 4
    # a chain of one operator is one level however long; each change of operator or NOT adds one
    deep = "head_count > 1 AND (species = 'pig' OR (species = 'dairy' AND head_count > 5))"
    assert_problem(client.get(ITEMS, params={"filter": deep}), 400, "filter", "deeper than 2")


def test_and_binds_tighter_than_or_as_cql2_says(client, demo_engine):
    # pygeofilter alone reads this as (head_count > 1000 OR species = 'pig') AND head_count < 0: nothing
    cql = "head_count > 1000 OR species = 'pig' AND head_count < 0"
    expected = scalar(demo_engine, "SELECT count(*) FROM livestock_farms WHERE head_count > 1000")
    assert expected > 0
    response = client.get(ITEMS, params={"filter": cql, "limit": 1})
    assert response.status_code == 200, response.text
    assert response.json()["numberMatched"] == expected
    # parentheses still decide where given
    grouped = "(head_count > 1000 OR species = 'pig') AND head_count < 0"
    assert client.get(ITEMS, params={"filter": grouped, "limit": 1}).json()["numberMatched"] == 0


# -- chain --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/indicators", "/chain/flows", "/chain/facilities", "/chain/integrity", "/chain/diagram"]
)
@pytest.mark.parametrize("rate", ["5e-324", "0.009"])
def test_waste_rates_below_ten_grams_a_day_are_a_400(client, path, rate):
    response = client.get(path, params={"waste_kg_per_person_day": rate})
    assert_problem(response, 400, "waste_kg_per_person_day", "greater than or equal to 0.01")


def test_the_lowest_waste_rate_allowed_is_answered(client):
    response = client.get("/indicators", params={"waste_kg_per_person_day": "0.01"})
    assert response.status_code == 200, response.text
    assert response.json()["parameters"]["waste_kg_per_person_day"] == 0.01


# -- scenarios and names, on a small world of their own --------------------------------------------
@pytest.fixture
def world(empty_engine: Engine) -> Engine:
    with empty_engine.begin() as conn:
        worlds.chain(conn)
    return empty_engine


@pytest.fixture
def world_client(world: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(world), headers=role_headers(world, "planner")) as c:
        yield c


SCENARIO = '{"layer": "collection_points", "distance_m": 1000, %s}'
INSIDE = '"lon": 119.151, "lat": 36.151'


@pytest.mark.parametrize("number", ["1e11", "1e300", "Infinity", "-Infinity", "NaN"])
def test_capacities_that_overflow_the_column_or_are_not_numbers_are_a_400(world_client, world, number):
    changed = world_client.post(
        "/planning/scenarios",
        content=SCENARIO % f'"capacity": {{"CP1": {number}}}',
        headers={"content-type": "application/json"},
    )
    assert_problem(changed, 400, "capacity.CP1")
    added = world_client.post(
        "/planning/scenarios",
        content=SCENARIO % f'"add": [{{{INSIDE}, "capacity": {number}}}]',
        headers={"content-type": "application/json"},
    )
    assert added.status_code == 400, added.text
    assert added.json()["parameter"] in ("add[0].capacity", "add.0.capacity")  # -Infinity: the model's ≥ 0
    assert scalar(world, "SELECT capacity FROM collection_points WHERE code = 'CP1'") == 1


def test_a_capacity_the_column_holds_is_played(world_client):
    body = json.loads(SCENARIO % f'"capacity": {{"CP1": {MAX_CAPACITY}}}')
    response = world_client.post("/planning/scenarios", json=body)
    assert response.status_code == 200, response.text
    too_much = world_client.post("/planning/scenarios", json={**body, "capacity": {"CP1": 1e10}})
    assert_problem(too_much, 400, "capacity.CP1", "9,999,999,999.99")


@pytest.mark.parametrize(
    "members, parameter",
    [
        ('"name": "a\\u0000b", "save": true', "name"),
        ('"remove": ["CP\\u0000"]', "remove[0]"),
        ('"capacity": {"CP\\u0000": 1}', "capacity"),
        (f'"add": [{{{INSIDE}, "name": "新\\u0000址"}}]', "add[0].name"),
    ],
)
def test_nul_in_scenario_names_and_codes_is_a_400(world_client, world, members, parameter):
    response = world_client.post(
        "/planning/scenarios", content=SCENARIO % members, headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, parameter, "NUL")
    assert scalar(world, "SELECT count(*) FROM planning_scenarios") == 0


def test_a_new_site_with_a_code_the_layer_has_is_a_409_naming_it(world_client, world):
    body = json.loads(SCENARIO % f'"add": [{{{INSIDE}, "code": "CP2"}}]')
    response = world_client.post("/planning/scenarios", json=body)
    assert_problem(response, 409, "add[0].code", "'CP2' is already the code")
    assert scalar(world, "SELECT count(*) FROM collection_points") == 3


def test_two_new_sites_with_one_code_are_a_400_also_the_generated_ones(world_client):
    twice = json.loads(SCENARIO % f'"add": [{{{INSIDE}, "code": "N1"}}, {{{INSIDE}, "code": "N1"}}]')
    assert_problem(world_client.post("/planning/scenarios", json=twice), 400, "add[1].code", "add[0]")
    # a site without a code is SCENARIO-<n>: the second one clashes with the first's given code
    clash = json.loads(SCENARIO % f'"add": [{{{INSIDE}, "code": "SCENARIO-2"}}, {{{INSIDE}}}]')
    assert_problem(world_client.post("/planning/scenarios", json=clash), 400, "add[1].code", "SCENARIO-2")


@pytest.mark.parametrize(
    "fmt, media", [("svg", "image/svg+xml"), ("png", "image/png"), ("html", "text/html")]
)
def test_a_facility_named_with_dollar_signs_is_drawn_as_written(world_client, world, fmt, media):
    name = r"甲镇$\frac{1}{0}$站 $x^2$ $\undefined$"
    with world.begin() as conn:
        conn.execute(text("UPDATE transfer_stations SET name = :n WHERE code = 'S1'"), {"n": name})
    response = world_client.get("/chain/diagram", params={"format": fmt})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    if fmt != "png":
        assert r"$\frac{1}{0}$" in response.text  # kept as text, not typeset
