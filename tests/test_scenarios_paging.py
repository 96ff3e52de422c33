"""Saved scenarios paged by keyset: `limit` and `cursor`, a `next` link, defaults and bounds from settings."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.api.app import create_app
from service.config import AnalysisLimitSettings
from service.planning import scenarios as sc
from tests.problems import assert_problem


@pytest.fixture
def saved(empty_engine: Engine) -> tuple[TestClient, list[int]]:
    """Seven saved scenarios (requests and results as the API keeps them) and a client with pages of 3,
    at most 5."""
    ids = [
        sc.save(
            empty_engine, f"方案 {i}", {"layer": "collection_points"}, {"coverage": {"difference": {"i": i}}}
        )
        for i in range(7)
    ]
    app = create_app(empty_engine)
    app.state.analysis_limits = AnalysisLimitSettings(scenarios_page_limit=3, scenarios_max_page_limit=5)
    return TestClient(app), ids


def follow(client: TestClient, url: str) -> list[list[int]]:
    pages = []
    while url:
        body = client.get(url).json()
        pages.append([s["id"] for s in body["scenarios"]])
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), "")
    return pages


def test_pages_follow_next_links_without_skipping_or_repeating(saved):
    client, ids = saved
    assert follow(client, "/planning/scenarios") == [ids[0:3], ids[3:6], ids[6:7]]
    assert follow(client, "/planning/scenarios?limit=5") == [ids[0:5], ids[5:7]]
    first = client.get("/planning/scenarios").json()
    assert first["scenarios"][0] == {
        "id": ids[0],
        "name": "方案 0",
        "created_at": first["scenarios"][0]["created_at"],
        "layer": "collection_points",
        "difference": {"i": 0},
    }
    # the next link keeps the page size and carries an opaque cursor
    (link,) = first["links"]
    assert link["rel"] == "next" and "cursor=" in link["href"]


def test_a_scenario_saved_while_paging_appears_once_at_the_end(saved, empty_engine):
    client, ids = saved
    first = client.get("/planning/scenarios").json()
    later = sc.save(empty_engine, "later", {"layer": "transfer_stations"}, {})
    rest = follow(client, first["links"][0]["href"])
    assert [i for page in rest for i in page] == [*ids[3:], later]


def test_the_last_page_has_no_next_link(saved):
    client, ids = saved
    body = client.get("/planning/scenarios", params={"limit": 5}).json()
    last = client.get(body["links"][0]["href"]).json()
    assert [s["id"] for s in last["scenarios"]] == ids[5:] and last["links"] == []


def _token(content: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(content).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 6}, "limit"),  # over the configured maximum
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, None),  # not an integer: FastAPI's own 400 with its errors list
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "\x00"}, "cursor"),
        ({"cursor": _token({"o": "planning_scenarios:id", "k": ["7"]})}, "cursor"),  # wrong type
        ({"cursor": _token({"o": "planning_scenarios:id", "k": [2**70]})}, "cursor"),  # beyond bigint
        ({"cursor": _token({"o": "planning_scenarios:id", "k": [3], "b": True})}, "cursor"),
        ({"cursor": _token({"o": "id", "k": [3]})}, "cursor"),  # a cursor of another list
    ],
)
def test_bad_limits_and_cursors_are_400_naming_the_parameter(saved, params, parameter):
    client, _ = saved
    body = assert_problem(client.get("/planning/scenarios", params=params), 400, parameter)
    assert body["title"] == "Bad Request" and body["detail"]
    if parameter is None:
        assert body["errors"]


def test_the_page_size_settings_are_checked_against_each_other():
    with pytest.raises(ValueError, match="SANICHAIN_SCENARIOS_PAGE_LIMIT exceeds"):
        AnalysisLimitSettings(scenarios_page_limit=10, scenarios_max_page_limit=5)
    assert AnalysisLimitSettings().scenarios_page_limit == 50
