"""Coverage as an XLSX workbook for reports: city, towns, facilities and the unserved villages and farms."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from sqlalchemy import Connection, text

from service.export.cells import sheet_value

CITY_KEYS = (
    "villages_total",
    "villages_served",
    "villages_served_share",
    "population_total",
    "population_served",
    "population_served_share",
    "households_total",
    "households_served",
    "farms_total",
    "farms_served",
    "head_count_total",
    "head_count_served",
    "pig_equivalents_total",
    "pig_equivalents_served",
)
TOWN_KEYS = ("code", "name", *CITY_KEYS)
FACILITY_KEYS = (
    "code",
    "name",
    "town_code",
    "hypothetical",
    "lon",
    "lat",
    "villages_served",
    "population_served",
    "farms_served",
    "pig_equivalents_served",
)
UNSERVED_SQL = """
SELECT '村 village' AS kind, g.code, g.name, t.code AS town_code, v.population AS population,
       NULL::float8 AS pig_equivalents, ST_X(g.geom) AS lon, ST_Y(g.geom) AS lat
FROM cov_village v JOIN villages g ON g.id = v.id LEFT JOIN towns t ON t.id = g.town_id WHERE NOT v.served
UNION ALL
SELECT '养殖场 farm', g.code, g.name, t.code, NULL, round(f.pig_equivalents::numeric, 1)::float8,
       ST_X(g.geom), ST_Y(g.geom)
FROM cov_farm f JOIN livestock_farms g ON g.id = f.id LEFT JOIN towns t ON t.id = g.town_id WHERE NOT f.served
ORDER BY 1, 5 DESC NULLS LAST, 6 DESC NULLS LAST, 2
"""


def _flat(meta: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested blocks (road mode's `road`) as dotted keys, one cell each."""
    rows: list[tuple[str, Any]] = []
    for key, value in meta.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def workbook(conn: Connection, meta: dict[str, Any], result: dict[str, Any]) -> bytes:
    """The prepared coverage (see query.prepare) as an .xlsx file."""
    book = Workbook(write_only=True)
    about = book.create_sheet("coverage")
    for key, value in _flat(meta):
        about.append([key, value if not isinstance(value, list | tuple) else ", ".join(map(str, value))])
    about.append([])
    for key in CITY_KEYS:
        about.append([key, result["city"].get(key)])
    towns = book.create_sheet("towns")
    towns.append(list(TOWN_KEYS))
    for t in result["towns"]:
        towns.append([sheet_value(t.get(k)) for k in TOWN_KEYS])
    facilities = book.create_sheet("facilities")
    facilities.append(list(FACILITY_KEYS))
    for f in result["facilities"]:
        facilities.append([sheet_value(f.get(k)) for k in FACILITY_KEYS])
    unserved = book.create_sheet("unserved")
    unserved.append(["kind", "code", "name", "town_code", "population", "pig_equivalents", "lon", "lat"])
    for row in conn.execute(text(UNSERVED_SQL)):
        unserved.append([sheet_value(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
