"""What is due: the overdue list against a copy of the demo in PostGIS, counted independently.

- Every operational or suspended facility of the inspected layers is listed, never-inspected first.
- An inspection resets its facility's clock; one older than its kind's interval is overdue by the
  right number of days, and the interval is a setting.
- Each facility's grid is the grid polygon that covers it (checked with ST_Covers here).
- The same list reads as JSON, HTML and an XLSX with a title and a frozen header.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, text

from service.accounts import users
from service.config import forget_settings
from service.vocabulary import INSPECTED_LAYERS
from tests.accounts import PASSWORD, role_headers
from tests.conftest import PgServer, demo_copy_engine
from tests.schemas import validate_answer


@pytest.fixture(scope="module")
def app_engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    with demo_copy_engine(pg_server, migrated_template, "due") as engine:
        yield engine


def visited(engine: Engine) -> int:
    with engine.connect() as conn:
        return sum(
            conn.execute(
                text(f"SELECT count(*) FROM {layer} WHERE status IN ('operational', 'suspended')")
            ).scalar_one()
            for layer in INSPECTED_LAYERS
        )


def record(client: Any, engine: Engine, feature_id: int, days_ago: float, outcome: str = "ok") -> None:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="seconds")
    answer = client.post(
        "/inspections",
        data={
            "layer": "transfer_stations",
            "feature_id": str(feature_id),
            "inspected_at": at,
            "outcome": outcome,
        },
        headers={**role_headers(engine, "inspector"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert answer.status_code == 201, answer.text


def stations(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [
            int(i)
            for i in conn.execute(text("SELECT id FROM transfer_stations ORDER BY id LIMIT 2")).scalars()
        ]


def test_the_overdue_list_counts_every_visited_facility_and_follows_inspections(client, app_engine):
    viewer = role_headers(app_engine, "viewer")
    first = client.get("/inspections/overdue?limit=5", headers=viewer)
    assert first.status_code == 200, first.text
    data = first.json()
    validate_answer(client.get("/openapi.json").json(), "get", "/inspections/overdue", data)
    total = visited(app_engine)
    assert data["summary"] == {"facilities": total, "overdue": total, "never_inspected": total}
    assert len(data["overdue"]) == 5 and data["truncated"] is True
    assert sum(t["facilities"] for t in data["towns"]) == total

    fresh, stale = stations(app_engine)
    record(client, app_engine, fresh, 1)
    record(client, app_engine, stale, 10)  # stations are due every 7 days: 3 days overdue
    data = client.get("/inspections/overdue?layer=transfer_stations&limit=100", headers=viewer).json()
    listed = {f["id"]: f for f in data["overdue"]}
    assert fresh not in listed
    assert listed[stale]["days_overdue"] == 3 and listed[stale]["last_outcome"] == "ok"
    assert data["summary"]["never_inspected"] == data["summary"]["facilities"] - 2
    assert list(listed)[-1] == stale  # never inspected first, then the most overdue


def test_the_interval_is_a_setting(client, app_engine, monkeypatch):
    _, stale = stations(app_engine)
    monkeypatch.setenv("SANICHAIN_INSPECT_EVERY_TRANSFER_STATIONS", "30")
    forget_settings()
    try:
        data = client.get(
            "/inspections/overdue?layer=transfer_stations", headers=role_headers(app_engine, "viewer")
        ).json()
    finally:
        monkeypatch.delenv("SANICHAIN_INSPECT_EVERY_TRANSFER_STATIONS")
        forget_settings()
    assert data["every_days"]["transfer_stations"] == 30
    assert stale not in {f["id"] for f in data["overdue"]}


def test_each_facility_answers_to_the_grid_that_covers_it_and_its_towns_inspectors(client, app_engine):
    name = f"town-insp-{uuid.uuid4().hex[:6]}"
    with app_engine.begin() as conn:
        users.add(conn, name, "inspector", PASSWORD, "370782001")
        covered = dict(
            conn.execute(
                text(
                    """SELECT g.code, count(*) FROM grids g JOIN public_toilets p ON ST_Covers(g.geom, p.geom)
                       WHERE p.status IN ('operational', 'suspended') GROUP BY g.code"""
                )
            ).all()
        )
    assert covered, "the demo's public toilets lie in the built-up area's grids"
    data = client.get(
        "/inspections/overdue?layer=public_toilets&limit=10000", headers=role_headers(app_engine, "viewer")
    ).json()
    assert {g["code"]: g["facilities"] for g in data["grids"]} == covered
    assert all(g["responsible_leader"] for g in data["grids"])
    in_grids = [f for f in data["overdue"] if f["grid_code"]]
    assert sum(covered.values()) == len(in_grids)
    assert all(f["responsible"]["grid"] == f["grid_code"] for f in in_grids)
    towns = {t["code"]: t for t in data["towns"]}
    assert name in towns["370782001"]["inspectors"]
    one_grid = sorted(covered)[0]
    only = client.get(
        f"/inspections/overdue?grid={one_grid}&layer=public_toilets",
        headers=role_headers(app_engine, "viewer"),
    ).json()
    assert only["summary"]["facilities"] == covered[one_grid]


def test_the_list_reads_as_a_page_and_a_workbook(client, app_engine):
    viewer = role_headers(app_engine, "viewer")
    page = client.get("/inspections/overdue?town=370782101", headers={**viewer, "Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "巡查逾期清单" in page.text and "按网格" in page.text and "/inspections/new?layer=" in page.text
    book = client.get("/inspections/overdue?town=370782101&f=xlsx&lang=en", headers=viewer)
    assert book.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).worksheets[0]
    assert sheet["A1"].value == "Overdue inspections"
    assert sheet.freeze_panes == "A5"
    headers = [c.value for c in sheet[4]]
    assert headers[:3] == ["kind", "code", "name"]
    json_count = client.get("/inspections/overdue?town=370782101", headers=viewer).json()["summary"][
        "overdue"
    ]
    assert sheet.max_row - 4 == json_count


def test_bad_filters_are_refused_by_name(client, app_engine):
    viewer = role_headers(app_engine, "viewer")
    bad_layer = client.get("/inspections/overdue?layer=villages", headers=viewer)
    assert bad_layer.status_code == 400 and bad_layer.json()["detail"].startswith("layer:")
    assert client.get("/inspections/overdue?town=12", headers=viewer).status_code in (400, 422)
    assert client.get("/inspections/overdue?f=pdf", headers=viewer).status_code in (400, 422)
    assert client.get("/inspections/overdue").status_code == 401
