"""A facility that stops: what depends on it, the alternatives the chain assignment proposes, an
inspection that reports it, and an editor accepting the alternatives. A copy of the demo in PostGIS.

The villages that lose service are counted independently (villages → collection points → the
station, straight from chain_links); the alternatives are checked against the stations' capacities.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.accounts import role_headers
from tests.conftest import PgServer, demo_copy_engine
from tests.schemas import validate_answer


@pytest.fixture(scope="module")
def app_engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    with demo_copy_engine(pg_server, migrated_template, "outages") as engine:
        yield engine


def busiest_station(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    """SELECT target_id FROM chain_links WHERE target_layer = 'transfer_stations'
                       GROUP BY target_id ORDER BY count(*) DESC, target_id LIMIT 1"""
                )
            ).scalar_one()
        )


def villages_behind(engine: Engine, station_id: int) -> set[int]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    """SELECT v.source_id FROM chain_links v
                       JOIN chain_links c
                         ON c.source_layer = 'collection_points' AND c.source_id = v.target_id
                        AND c.target_layer = 'transfer_stations'
                       WHERE v.stream = 'domestic_waste' AND v.source_layer = 'villages'
                         AND v.target_layer = 'collection_points' AND c.target_id = :s"""
                ),
                {"s": station_id},
            ).scalars()
        )


def links_state(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT id, source_id, target_id, version FROM chain_links ORDER BY id")
            )
        ]


def test_a_stopping_station_names_the_villages_behind_it_and_changes_nothing(client, app_engine):
    station = busiest_station(app_engine)
    before = links_state(app_engine)
    answer = client.get(f"/chain/outages/transfer_stations/{station}")
    assert answer.status_code == 200, answer.text
    found = answer.json()
    validate_answer(client.get("/openapi.json").json(), "get", "/chain/outages/{layer}/{feature_id}", found)
    assert found["facility"]["status"] == "operational"
    waste = {s["stream"]: s for s in found["affected"]["streams"]}["domestic_waste"]
    behind = villages_behind(app_engine, station)
    assert waste["villages"] == len(behind) > 0
    assert {
        s["id"] for s in found["affected"]["sources_left_unserved"] if s["stream"] == "domestic_waste"
    } == behind
    assert waste["t_per_day_no_longer_treated"] > 0
    assert links_state(app_engine) == before  # played in a savepoint, rolled back
    with app_engine.connect() as conn:
        assert (
            conn.execute(text("SELECT status FROM transfer_stations WHERE id = :s"), {"s": station}).scalar()
            == "operational"
        )


def test_the_alternatives_are_other_operational_stations_within_their_capacity(client, app_engine):
    station = busiest_station(app_engine)
    found = client.get(f"/chain/outages/transfer_stations/{station}").json()
    assert found["links_delivering"] == len(found["alternatives"]) + len(found["unassigned"]) > 0
    added: dict[int, float] = {}
    for alt in found["alternatives"]:
        assert alt["to"]["layer"] == "transfer_stations" and alt["to"]["id"] != station
        added[alt["to"]["id"]] = added.get(alt["to"]["id"], 0) + alt["t_per_day"]
    flows = {f["id"]: f for f in client.get("/chain/facilities?layer=transfer_stations").json()["facilities"]}
    for target, extra in added.items():
        f = flows[target]
        assert f["status"] == "operational"
        assert f["inflow_t_per_day"] + extra <= f["capacity"] + 1e-6


def test_an_out_of_service_inspection_keeps_what_depended_on_the_station(client, app_engine):
    station = busiest_station(app_engine)
    at = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="seconds")
    answer = client.post(
        "/inspections",
        data={
            "layer": "transfer_stations",
            "feature_id": str(station),
            "inspected_at": at,
            "outcome": "out_of_service",
        },
        headers={**role_headers(app_engine, "inspector"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert answer.status_code == 201, answer.text
    validate_answer(client.get("/openapi.json").json(), "post", "/inspections", answer.json(), "201")
    outage = answer.json()["outage"]
    waste = {s["stream"]: s for s in outage["streams"]}["domestic_waste"]
    assert waste["villages"] == len(villages_behind(app_engine, station))
    ok = client.post(
        "/inspections",
        data={"layer": "transfer_stations", "feature_id": str(station), "inspected_at": at, "outcome": "ok"},
        headers={**role_headers(app_engine, "inspector"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert ok.json()["outage"] is None


def test_an_editor_accepts_the_alternatives_as_link_edits_with_history(client, app_engine):
    station = busiest_station(app_engine)
    proposed = client.get(f"/chain/outages/transfer_stations/{station}").json()["alternatives"]
    assert proposed
    assert (
        client.post(
            f"/chain/outages/transfer_stations/{station}/reroute", headers=role_headers(app_engine, "viewer")
        ).status_code
        == 403
    )
    bad = client.post(
        f"/chain/outages/transfer_stations/{station}/reroute",
        json={"links": [999_999_999]},
        headers=role_headers(app_engine, "editor"),
    )
    assert bad.status_code == 400 and "999999999" in bad.json()["detail"]
    done = client.post(
        f"/chain/outages/transfer_stations/{station}/reroute", headers=role_headers(app_engine, "editor")
    )
    assert done.status_code == 200, done.text
    path = "/chain/outages/{layer}/{feature_id}/reroute"
    validate_answer(client.get("/openapi.json").json(), "post", path, done.json())
    assert [a["link_id"] for a in done.json()["rerouted"]] == [a["link_id"] for a in proposed]
    with app_engine.connect() as conn:
        for alt in proposed:
            target = conn.execute(
                text("SELECT target_layer, target_id FROM chain_links WHERE id = :id"), {"id": alt["link_id"]}
            ).one()
            assert tuple(target) == ("transfer_stations", alt["to"]["id"])
            history = conn.execute(
                text("SELECT count(*) FROM feature_history WHERE layer = 'chain_links' AND feature_id = :id"),
                {"id": alt["link_id"]},
            ).scalar_one()
            assert history >= 1
    after = client.get(f"/chain/outages/transfer_stations/{station}").json()
    assert after["links_delivering"] == len(after["unassigned"])
    waste = {s["stream"]: s for s in after["affected"]["streams"]}.get("domestic_waste")
    rerouted_villages = len(villages_behind(app_engine, station))
    assert rerouted_villages == 0 or (waste is not None and waste["villages"] == rerouted_villages)
