"""The review rhythm: one facility's figures over a week from its inspections (worked by hand below),
and the weekly and monthly review per town and grid through the API, as JSON, a page and a workbook."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, text

from service.inspections.review import CITY_TIME, Period, facility_figures
from tests.accounts import role_headers
from tests.conftest import PgServer, demo_copy_engine
from tests.schemas import validate_answer

WEEK = Period.of("week", dt.date(2026, 11, 25))  # Monday 23 – Sunday 29 November 2026
AFTER = dt.datetime(2026, 12, 3, 12, tzinfo=CITY_TIME)


def at(day: int, hour: int = 10, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=CITY_TIME)


def test_the_week_runs_monday_to_sunday_in_the_citys_time():
    assert (WEEK.start.isoformat(), WEEK.end.isoformat()) == (
        "2026-11-23T00:00:00+08:00",
        "2026-11-30T00:00:00+08:00",
    )
    month = Period.of("month", dt.date(2026, 12, 31))
    assert (month.start.date(), month.end.date()) == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # last seen on the 10th, weekly: due on the 17th, nothing since: due and overdue
        ([(at(10), "ok")], {"due": 1, "done": 0, "overdue": 1}),
        # seen on the 20th (due on the 27th) and again on the 25th: due, done, not overdue
        ([(at(20), "ok"), (at(25), "ok")], {"due": 1, "done": 1, "overdue": 0}),
        # seen on the 18th (due on the 25th) but not since: overdue by the week's end
        ([(at(18), "ok")], {"due": 1, "done": 0, "overdue": 1}),
        # never inspected: due and overdue
        ([], {"due": 1, "done": 0, "overdue": 1, "defects_open": 0}),
        # seen on the 22nd: due on the 29th, within the week, and not seen since: overdue at the end
        ([(at(22), "ok")], {"due": 1, "overdue": 1}),
        # first seen on the 23rd: due (never inspected before), done, not overdue
        ([(at(23, 9), "ok")], {"due": 1, "done": 1, "overdue": 0}),
        # seen on the 16th and the 22nd at 11:00: due again on the 29th at 11:00, not seen: overdue at the end
        ([(at(16, 11), "ok"), (at(22, 11), "ok")], {"due": 1, "done": 0, "overdue": 1}),
        # seen on the 20th and the 24th: due on the 27th, done on the 24th: next due on 1 December
        ([(at(20), "ok"), (at(24), "ok")], {"due": 1, "done": 1, "overdue": 0}),
        # defects found on the 24th and fixed on the 26th: closed, not open
        ([(at(24), "defects"), (at(26), "ok")], {"defects_open": 0, "defects_closed": 1, "done": 2}),
        # stopped on the 24th at 10:00, working again on the 26th at 10:00: one 48-hour outage
        (
            [(at(24), "out_of_service"), (at(26), "ok")],
            {"outages": 1, "outage_hours": 48.0, "defects_closed": 1},
        ),
        # stopped before the week and still out: the whole week (168 h), open
        ([(at(20), "out_of_service")], {"outages": 1, "outage_hours": 168.0, "defects_open": 1}),
        # stopped on the 28th at 10:00 and not seen again: 38 hours to the week's end
        (
            [(at(27), "ok"), (at(28), "out_of_service")],
            {"outages": 1, "outage_hours": 38.0, "defects_open": 1},
        ),
    ],
)
def test_one_facilitys_week(events, expected):
    figures = facility_figures(events, 7, WEEK, AFTER)
    assert {k: figures[k] for k in expected} == expected


def test_a_current_week_counts_overdue_as_of_now():
    now = at(25, 12)
    assert facility_figures([(at(19), "ok")], 7, WEEK, now)["overdue"] == 0  # due on the 26th: not yet
    assert facility_figures([(at(17), "ok")], 7, WEEK, now)["overdue"] == 1  # due on the 24th


@pytest.fixture(scope="module")
def app_engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    with demo_copy_engine(pg_server, migrated_template, "review") as engine:
        yield engine


def record(client: Any, engine: Engine, feature_id: int, when: dt.datetime, outcome: str) -> None:
    answer = client.post(
        "/inspections",
        data={"layer": "transfer_stations", "feature_id": str(feature_id), "inspected_at": when.isoformat(),
              "outcome": outcome},
        headers={**role_headers(engine, "inspector"), "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text


def test_last_weeks_review_per_town_as_json_page_and_workbook(client, app_engine):
    today = dt.datetime.now(CITY_TIME).date()
    last_week = Period.of("week", today - dt.timedelta(days=7))
    tuesday = last_week.start + dt.timedelta(days=1, hours=9)
    with app_engine.connect() as conn:
        station = conn.execute(
            text(
                """SELECT s.id, t.code FROM transfer_stations s JOIN towns t ON t.id = s.town_id
                   WHERE s.status = 'operational' ORDER BY s.id LIMIT 1"""
            )
        ).one()
    record(client, app_engine, station.id, tuesday, "out_of_service")
    record(client, app_engine, station.id, tuesday + dt.timedelta(hours=30), "ok")
    viewer = role_headers(app_engine, "viewer")
    day = last_week.start.date().isoformat()
    answer = client.get(f"/inspections/review?period=week&date={day}", headers=viewer)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    validate_answer(client.get("/openapi.json").json(), "get", "/inspections/review", data)
    assert data["current"] is False and data["start"] == last_week.start.isoformat()
    town = {t["code"]: t for t in data["towns"]}[station.code]
    assert (town["done"], town["outages"], town["outage_hours"], town["defects_closed"]) == (2, 1, 30.0, 1)
    assert data["city"]["done"] == 2 and data["city"]["facilities"] == sum(
        t["facilities"] for t in data["towns"]
    )
    assert data["grids"] and all(g["responsible_leader"] for g in data["grids"])

    page = client.get(
        f"/inspections/review?period=week&date={day}", headers={**viewer, "Accept": "text/html"}
    )
    assert page.status_code == 200 and "巡查周报" in page.text and "按网格" in page.text
    book = client.get(f"/inspections/review?period=month&date={day}&f=xlsx&lang=en", headers=viewer)
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).worksheets[0]
    assert str(sheet["A1"].value).startswith("Monthly inspection review")
    assert sheet.freeze_panes == "A5"
    assert [c.value for c in sheet[4]][:3] == ["town code", "town", "facilities"]


def test_a_bad_period_or_date_is_refused(client, app_engine):
    viewer = role_headers(app_engine, "viewer")
    assert client.get("/inspections/review?period=year", headers=viewer).status_code in (400, 422)
    assert client.get("/inspections/review?date=2026-13-01", headers=viewer).status_code in (400, 422)
    assert client.get("/inspections/review").status_code == 401
