"""What is due: each facility's latest inspection against how often its kind is to be inspected, and who
answers for it (the grid it lies in, else its town; the inspectors limited to that town).

One SQL statement over every inspected layer; facilities planned, under construction or closed are not
visited and not listed. A facility never inspected is overdue and comes first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from service.config import InspectionSettings, settings
from service.errors import BadParameter
from service.vocabulary import INSPECTED_LAYERS

VISITED_STATUSES = ("operational", "suspended")
MAX_LIST = 10_000


@dataclass(frozen=True)
class Scope:
    town: str | None = None
    grid: str | None = None
    layer: str | None = None
    town_id: int | None = None  # the maps name a town by its id

    def checked(self) -> Scope:
        if self.layer is not None and self.layer not in INSPECTED_LAYERS:
            raise BadParameter(
                "layer", f"{self.layer!r} is not inspected; one of {', '.join(INSPECTED_LAYERS)}"
            )
        return self


def _facilities_sql() -> str:
    # every layer in INSPECTED_LAYERS is a table of this schema: safe to name
    return " UNION ALL ".join(
        f"SELECT '{layer}'::text AS layer, id, code, name, name_en, status, town_id, geom FROM {layer} "
        "WHERE status IN ('operational', 'suspended')"
        for layer in INSPECTED_LAYERS
    )


def _every_sql(settings: InspectionSettings) -> str:
    return "VALUES " + ", ".join(f"('{layer}', {settings.days(layer)})" for layer in INSPECTED_LAYERS)


def rows(conn: Connection, scope: Scope, settings: InspectionSettings) -> list[dict[str, Any]]:
    """Every visited facility in scope with its latest inspection and due date, overdue first."""
    scope = scope.checked()
    sql = f"""
        WITH f AS ({_facilities_sql()}),
             every(layer, days) AS ({_every_sql(settings)}),
             latest AS (
                 SELECT DISTINCT ON (layer, feature_id) layer, feature_id, inspected_at, outcome, user_name
                 FROM inspections ORDER BY layer, feature_id, inspected_at DESC, id DESC)
        SELECT f.layer, f.id, f.code, f.name, f.name_en, f.status, ST_Y(f.geom) AS lat, ST_X(f.geom) AS lon,
               t.code AS town_code, t.name AS town_name, t.name_en AS town_name_en,
               g.code AS grid_code, g.name AS grid_name, g.name_en AS grid_name_en,
               g.responsible_leader, every.days AS every_days,
               l.inspected_at AS last_inspected_at, l.outcome AS last_outcome, l.user_name AS last_inspector,
               l.inspected_at + make_interval(days => every.days) AS due_at
        FROM f
        JOIN every ON every.layer = f.layer
        LEFT JOIN towns t ON t.id = f.town_id
        LEFT JOIN LATERAL (
            SELECT code, name, name_en, responsible_leader FROM grids
            WHERE ST_Covers(grids.geom, f.geom) ORDER BY grids.id LIMIT 1) g ON true
        LEFT JOIN latest l ON l.layer = f.layer AND l.feature_id = f.id
        WHERE (CAST(:town AS text) IS NULL OR t.code = :town)
          AND (CAST(:town_id AS bigint) IS NULL OR f.town_id = :town_id)
          AND (CAST(:grid AS text) IS NULL OR g.code = :grid)
          AND (CAST(:layer AS text) IS NULL OR f.layer = :layer)
        ORDER BY l.inspected_at IS NOT NULL, due_at, f.layer, f.id
    """
    return [
        dict(r)
        for r in conn.execute(
            text(sql),
            {"town": scope.town, "grid": scope.grid, "layer": scope.layer, "town_id": scope.town_id},
        ).mappings()
    ]


def visits(conn: Connection, town_id: int | None) -> list[dict[str, Any]]:
    """The facilities to visit in a town (by id) or the whole city, with the configured intervals."""
    return rows(conn, Scope(town_id=town_id), settings(InspectionSettings))


def _inspectors(conn: Connection) -> dict[str | None, list[str]]:
    """Active inspectors by the town they are limited to (None: the whole city)."""
    found: dict[str | None, list[str]] = {}
    for name, town in conn.execute(
        text(
            """SELECT u.name, t.code FROM users u LEFT JOIN towns t ON t.id = u.town_id
               WHERE u.role = 'inspector' AND NOT u.disabled ORDER BY u.name"""
        )
    ):
        found.setdefault(town, []).append(name)
    return found


def _local(row: dict[str, Any], key: str, lang: str) -> Any:
    return (row.get(f"{key}_en") if lang == "en" else None) or row.get(key)


def overdue(
    conn: Connection,
    scope: Scope,
    settings: InspectionSettings,
    *,
    limit: int = 500,
    lang: str = "zh",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The overdue facilities (at most `limit`, most overdue first) and counts by town and by grid."""
    now = now or dt.datetime.now(dt.UTC)
    inspectors = _inspectors(conn)
    found = rows(conn, scope, settings)
    late = [r for r in found if r["due_at"] is None or r["due_at"] < now]
    by_town: dict[str, dict[str, Any]] = {}
    by_grid: dict[str, dict[str, Any]] = {}
    for r in found:
        is_late = r["due_at"] is None or r["due_at"] < now
        if r["town_code"]:
            town = by_town.setdefault(
                r["town_code"],
                {"code": r["town_code"], "name": _local(r, "town_name", lang), "facilities": 0, "overdue": 0,
                 "inspectors": inspectors.get(r["town_code"], [])},
            )  # fmt: skip
            town["facilities"] += 1
            town["overdue"] += is_late
        if r["grid_code"]:
            grid = by_grid.setdefault(
                r["grid_code"],
                {"code": r["grid_code"], "name": _local(r, "grid_name", lang),
                 "responsible_leader": r["responsible_leader"], "facilities": 0, "overdue": 0},
            )  # fmt: skip
            grid["facilities"] += 1
            grid["overdue"] += is_late
    return {
        "as_of": now.isoformat(timespec="seconds"),
        "every_days": {layer: settings.days(layer) for layer in INSPECTED_LAYERS},
        "summary": {
            "facilities": len(found),
            "overdue": len(late),
            "never_inspected": sum(r["last_inspected_at"] is None for r in found),
        },
        "towns": sorted(by_town.values(), key=lambda t: t["code"]),
        "grids": sorted(by_grid.values(), key=lambda g: g["code"]),
        "city_wide_inspectors": inspectors.get(None, []),
        "overdue": [_as_json(r, now, lang) for r in late[:limit]],
        "truncated": len(late) > limit,
    }


def _as_json(r: dict[str, Any], now: dt.datetime, lang: str) -> dict[str, Any]:
    due = r["due_at"]
    return {
        "layer": r["layer"],
        "id": int(r["id"]),
        "code": r["code"],
        "name": _local(r, "name", lang),
        "status": r["status"],
        "town_code": r["town_code"],
        "grid_code": r["grid_code"],
        "responsible": {"grid": r["grid_code"], "leader": r["responsible_leader"]}
        if r["grid_code"]
        else {"town": r["town_code"]},
        "every_days": int(r["every_days"]),
        "last_inspected_at": None if r["last_inspected_at"] is None else r["last_inspected_at"].isoformat(),
        "last_outcome": r["last_outcome"],
        "last_inspector": r["last_inspector"],
        "due_at": None if due is None else due.isoformat(),
        "days_overdue": None if due is None else (now - due).days,
    }
