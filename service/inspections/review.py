"""The review rhythm: a week's or a month's inspections per town and grid, as a leader reads them.

For each facility to be visited (operational or suspended, as the due list), over the period:
- **due**: its inspection fell due by the period's end (its latest inspection before the period plus its
  kind's interval; never inspected counts as due), **done**: inspections recorded in the period,
  **overdue** at the period's end (or now, for the current period): never inspected, or its latest
  inspection is older than its kind's interval;
- **defects open** at the period's end (its latest inspection found defects or an outage), **closed**
  in the period (an inspection found it fine after one that had not);
- **outages**: out-of-service spells that overlap the period (from the report to the next inspection
  that found it working), and their hours within the period.

Periods are calendar weeks (Monday to Sunday) and months in the city's time (UTC+8).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from service.config import InspectionSettings
from service.errors import BadParameter
from service.inspections import due

CITY_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
PERIODS = ("week", "month")
PROBLEMS = ("defects", "out_of_service")
COUNTS = ("facilities", "due", "done", "overdue", "defects_open", "defects_closed", "outages")


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.datetime
    end: dt.datetime  # exclusive

    @classmethod
    def of(cls, kind: str, day: dt.date) -> Period:
        if kind not in PERIODS:
            raise BadParameter("period", f"{kind!r} is not one of {', '.join(PERIODS)}")
        if kind == "week":
            first = day - dt.timedelta(days=day.weekday())
            after = first + dt.timedelta(days=7)
        else:
            first = day.replace(day=1)
            after = (first + dt.timedelta(days=32)).replace(day=1)
        start = dt.datetime.combine(first, dt.time(), CITY_TIME)
        return cls(kind, start, dt.datetime.combine(after, dt.time(), CITY_TIME))

    def label(self) -> str:
        last = (self.end - dt.timedelta(days=1)).date()
        return f"{self.start.date().isoformat()} – {last.isoformat()}"


def _history(conn: Connection, end: dt.datetime) -> dict[tuple[str, int], list[tuple[dt.datetime, str]]]:
    found: dict[tuple[str, int], list[tuple[dt.datetime, str]]] = {}
    for layer, feature_id, at, outcome in conn.execute(
        text(
            """SELECT layer, feature_id, inspected_at, outcome FROM inspections
               WHERE inspected_at < :end ORDER BY inspected_at, id"""
        ),
        {"end": end},
    ):
        found.setdefault((layer, int(feature_id)), []).append((at, outcome))
    return found


def _outage_hours(
    events: list[tuple[dt.datetime, str]], period: Period, until: dt.datetime
) -> tuple[int, float]:
    """Out-of-service spells overlapping the period, and their hours inside it (an open spell runs
    until `until`: now, or the period's end)."""
    spells, hours = 0, 0.0
    started: dt.datetime | None = None
    for at, outcome in [*events, (until, "until")]:
        if outcome == "out_of_service":
            started = started or at
            continue
        if started is not None:
            stop = max(started, min(at, until))
            if started < period.end and (stop > period.start or started >= period.start):
                spells += 1
                hours += max(0.0, (min(stop, period.end) - max(started, period.start)).total_seconds() / 3600)
            started = None
    return spells, hours


def facility_figures(
    events: list[tuple[dt.datetime, str]], every_days: int, period: Period, now: dt.datetime
) -> dict[str, Any]:
    """One facility's figures over the period, from its inspections (oldest first) before the period's end."""
    before = [e for e in events if e[0] < period.start]
    during = [e for e in events if period.start <= e[0] < period.end]
    due_at = before[-1][0] + dt.timedelta(days=every_days) if before else None
    is_due = due_at is None or due_at < period.end
    deadline = min(now, period.end)
    upto = [at for at, _ in events if at < deadline]
    overdue = not upto or upto[-1] + dt.timedelta(days=every_days) < deadline
    closed = sum(
        1
        for i in range(1, len(events))
        if period.start <= events[i][0] < period.end and events[i][1] == "ok" and events[i - 1][1] in PROBLEMS
    )
    spells, hours = _outage_hours(events, period, min(now, period.end))
    return {
        "due": int(is_due),
        "done": len(during),
        "overdue": int(overdue),
        "defects_open": int(bool(events) and events[-1][1] in PROBLEMS),
        "defects_closed": closed,
        "outages": spells,
        "outage_hours": hours,
    }


def _add(into: dict[str, Any], figures: dict[str, Any]) -> None:
    into["facilities"] += 1
    for key, value in figures.items():
        into[key] += value


def _blank(**named: Any) -> dict[str, Any]:
    return {**named, **dict.fromkeys(COUNTS, 0), "outage_hours": 0.0}


def _rounded(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "outage_hours": round(r["outage_hours"], 1)} for r in rows]


def review(
    conn: Connection,
    kind: str,
    day: dt.date,
    scope: due.Scope,
    settings: InspectionSettings,
    *,
    lang: str = "zh",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    period = Period.of(kind, day)
    now = now or dt.datetime.now(dt.UTC)
    facilities = due.rows(conn, scope, settings)
    history = _history(conn, period.end)
    city = _blank(code=None, name=None)
    towns: dict[str, dict[str, Any]] = {}
    grids: dict[str, dict[str, Any]] = {}
    for f in facilities:
        figures = facility_figures(
            history.get((f["layer"], int(f["id"])), []), int(f["every_days"]), period, now
        )
        _add(city, figures)
        if f["town_code"]:
            name = (f["town_name_en"] if lang == "en" else None) or f["town_name"]
            _add(towns.setdefault(f["town_code"], _blank(code=f["town_code"], name=name)), figures)
        if f["grid_code"]:
            name = (f["grid_name_en"] if lang == "en" else None) or f["grid_name"]
            grid = grids.setdefault(
                f["grid_code"],
                _blank(code=f["grid_code"], name=name, responsible_leader=f["responsible_leader"]),
            )
            _add(grid, figures)
    return {
        "period": kind,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "label": period.label(),
        "current": period.start <= now < period.end,
        "city": _rounded([city])[0],
        "towns": _rounded(sorted(towns.values(), key=lambda t: t["code"])),
        "grids": _rounded(sorted(grids.values(), key=lambda g: g["code"])),
    }
