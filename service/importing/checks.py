"""The checks that need the database, run in SQL over the whole staged file at once.

`facts` derives, per staged row, what the editor's queries derive per feature: the stored feature the
row updates (matched by code), the town whose outline covers the position (`ST_Covers`, the lowest id
where outlines overlap, as the editor does) and whether the city outline covers it. The checks then
select only the rows that fail, and word each failure with the editing validation's own functions
(`validation.spatial_findings`, `reference_findings`, `code_taken`, `rules.*`), so an import refuses
a row with the message the editor gives for the same feature.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from service.accounts import permissions
from service.accounts.tokens import Principal
from service.editing import fields, rules, validation
from service.errors import Forbidden
from service.features import catalogue
from service.importing import coordinates, staging
from service.importing.staging import PROBLEMS, ROWS, Headers
from service.models import Base

if TYPE_CHECKING:
    from pyproj import Geod

FACTS = "import_facts"
FETCH_ROWS = 5_000  # rows fetched at a time from a failing check's server-side cursor
# The GCJ-02 warning: the median offset of matched rows lies this close to the GCJ-02 shift (metres).
GCJ02_TOLERANCE_M = 100.0
GCJ02_WARNING = "positions look like GCJ-02 (Amap): import with --crs gcj02"


class Problems:
    """Problems found by the checks, streamed into `import_problems` in batches."""

    def __init__(self, conn: Connection, headers: Headers, batch: int) -> None:
        self.conn, self.headers, self.batch = conn, headers, batch
        self.lines: list[str] = []

    def reject(self, number: int, field_name: str | None, message: str, header: str | None = None) -> None:
        where = header if header is not None else self.headers.for_field(field_name)
        self.lines.append(staging.problem_line(number, field_name, where, message, True))
        if len(self.lines) >= self.batch:
            self.flush()

    def flush(self) -> None:
        staging.copy(self.conn, PROBLEMS, staging.PROBLEM_COLUMNS, self.lines)
        self.lines = []


def _stream(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
    """The rows of a query through a server-side cursor: memory stays flat however many fail."""
    streamed = {"stream_results": True, "yield_per": FETCH_ROWS}
    result = conn.execute(text(sql), params or {}, execution_options=streamed)
    try:
        yield from result
    finally:
        result.close()


def facts(conn: Connection, layer: str, upsert: bool) -> None:
    """`import_facts`: per staged row, the stored feature it updates, its town and whether it lies in
    the city. The staged table is analysed first: the planner knows nothing of a fresh temp table."""
    conn.execute(text(f"ANALYZE {ROWS}"))
    has_town = catalogue.layer(layer).has_town
    town = "(SELECT min(t.id) FROM towns t WHERE ST_Covers(t.geom, s.geom))" if has_town else "NULL::bigint"
    match = f"LEFT JOIN {layer} l ON l.code = s.code" if upsert else ""
    target = "l.id" if upsert else "NULL::bigint"
    conn.execute(
        text(
            f"""CREATE TEMP TABLE {FACTS} ON COMMIT DROP AS
                SELECT s.n, {target} AS target_id,
                       CASE WHEN s.geom IS NOT NULL THEN {town} END AS town_id,
                       CASE WHEN s.geom IS NOT NULL THEN
                           EXISTS (SELECT 1 FROM cities c WHERE ST_CoveredBy(s.geom, c.geom)) END AS inside
                FROM {ROWS} s {match}"""
        )
    )
    conn.execute(text(f"ANALYZE {FACTS}"))


def spatial(conn: Connection, layer: str, problems: Problems) -> None:
    """Outside the city, swapped axes, in no town: the editor's spatial refusals, for the failing rows."""
    city = conn.execute(
        text("SELECT string_agg(COALESCE(name_en, name), ', ' ORDER BY id) FROM cities")
    ).scalar()
    if city is None:
        return  # no outline: the editor checks nothing either
    town_column = catalogue.layer(layer).table.c.get("town_id")
    town_required = town_column is not None and not town_column.nullable
    rows = _stream(
        conn,
        f"""SELECT s.n, ST_X(s.geom) AS x, ST_Y(s.geom) AS y, f.inside, f.town_id,
                   EXISTS (SELECT 1 FROM cities c WHERE ST_DWithin(s.geom, c.geom, :near)) AS near,
                   EXISTS (SELECT 1 FROM cities c
                           WHERE ST_DWithin(ST_FlipCoordinates(s.geom), c.geom, :near)) AS flipped_near
            FROM {FACTS} f JOIN {ROWS} s USING (n)
            WHERE s.geom IS NOT NULL AND (NOT f.inside OR (:town_required AND f.town_id IS NULL))
            ORDER BY s.n""",
        {"near": validation.NEAR_CITY_DEGREES, "town_required": town_required},
    )
    for row in rows:
        point = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [row.x, row.y]}}
        geometry = validation.check(layer, point, mode="patch").geometry
        assert geometry is not None and geometry.geom is not None
        answer = SimpleNamespace(
            no_outline=False, city=city, inside=row.inside, near=row.near, flipped_near=row.flipped_near,
            first_outside=None if row.inside else (row.x, row.y), town_id=row.town_id,
        )  # fmt: skip
        found = validation.Found()
        validation.spatial_findings(layer, geometry, answer, False, found)
        for error in found.errors:
            problems.reject(row.n, error.field, error.message)


def duplicates(conn: Connection, layer: str, upsert: bool, problems: Problems) -> None:
    """A code twice in the file (the later rows are refused), or, without upsert, held by a stored
    feature (the editor's refusal)."""
    rows = _stream(
        conn,
        f"""WITH twice AS (SELECT code, min(n) AS first FROM {ROWS} WHERE code IS NOT NULL
                           GROUP BY code HAVING count(*) > 1)
            SELECT s.n, s.code, t.first FROM {ROWS} s JOIN twice t USING (code)
            WHERE s.n > t.first ORDER BY s.n""",
    )
    for row in rows:
        problems.reject(
            row.n,
            "properties.code",
            f"row {row.first} of this file holds code {row.code!r} too: codes are unique per layer",
        )
    if upsert:
        return
    rows = _stream(conn, f"SELECT s.n, s.code FROM {ROWS} s JOIN {layer} l ON l.code = s.code ORDER BY s.n")
    for row in rows:
        problems.reject(row.n, *validation.code_taken(layer, row.code))


def required(conn: Connection, layer: str, problems: Problems) -> None:
    """Rows that create a feature must give what a new feature needs (an update need not)."""
    rows = _stream(
        conn,
        f"""SELECT s.n, s.missing FROM {ROWS} s JOIN {FACTS} f USING (n)
            WHERE s.missing IS NOT NULL AND f.target_id IS NULL ORDER BY s.n""",
    )
    for row in rows:
        for name in row.missing:
            if name == "geometry":
                problems.reject(row.n, *validation.geometry_required_error(layer))
            else:
                problems.reject(row.n, *validation.required_error(layer, name))


def references(conn: Connection, layer: str, problems: Problems) -> None:
    """Referenced rows exist, are not closed and lie in the row's town where the schema says so."""
    for column, target in fields.REFERENCES.get(layer, {}).items():
        target_columns = Base.metadata.tables[target].c.keys()
        read = [c for c in validation.REFERENCED_COLUMNS if c in target_columns]
        failing = ["r.id IS NULL"]
        if "status" in read:
            failing.append("r.status = 'closed'")
        if (layer, column) in validation.SAME_TOWN_REFERENCES and "town_id" in read:
            failing.append("(f.town_id IS NOT NULL AND r.town_id IS DISTINCT FROM f.town_id)")
        selected = ", ".join(f'r."{c}" AS "r_{c}"' for c in read)
        rows = _stream(
            conn,
            f"""SELECT s.n, s."{column}" AS ident, f.town_id, {selected}
                FROM {ROWS} s JOIN {FACTS} f USING (n) LEFT JOIN {target} r ON r.id = s."{column}"
                WHERE s."{column}" IS NOT NULL AND ({" OR ".join(failing)}) ORDER BY s.n""",
        )
        for row in rows:
            mapping = row._mapping
            referenced = None if mapping["r_id"] is None else {c: mapping[f"r_{c}"] for c in read}
            found = validation.Found()
            validation.reference_findings(layer, column, row.ident, referenced, True, row.town_id, {}, found)
            for error in found.errors:
                problems.reject(row.n, error.field, error.message)


def lifecycle(conn: Connection, layer: str, problems: Problems) -> None:
    """Rows that update a stored feature follow the domain's rules of change (status, a farm's species)."""
    writable = fields.writable(layer)
    changes = []
    if "status" in writable:
        changes.append("(s.status IS NOT NULL AND s.status <> l.status)")
    farms = layer == "livestock_farms"
    if farms:
        changes.append("(s.species IS NOT NULL AND s.species <> l.species)")
    if not changes:
        return
    farm_columns = (
        ", l.species AS old_species, s.species AS new_species, s.head_count IS NOT NULL AS head_given"
    )
    rows = _stream(
        conn,
        f"""SELECT s.n, l.status AS old_status, s.status AS new_status{farm_columns if farms else ""}
            FROM {ROWS} s JOIN {FACTS} f USING (n) JOIN {layer} l ON l.id = f.target_id
            WHERE {" OR ".join(changes)} ORDER BY s.n""",
    )
    for row in rows:
        found: list[tuple[str, str] | None] = []
        if row.new_status is not None:
            found.append(rules.status_transition(row.old_status, row.new_status))
        if farms and row.new_species is not None:
            found.append(rules.species_change(row.old_species, row.new_species, row.head_given))
        for problem in found:
            if problem is not None:
                problems.reject(row.n, *problem)


def towns_of(conn: Connection, layer: str, principal: Principal | None, problems: Problems) -> None:
    """A town-limited principal imports only features of its town (before and after the import)."""
    if principal is None or principal.town is None or not catalogue.layer(layer).has_town:
        return
    rows = _stream(
        conn,
        f"""SELECT f.n, nt.code AS new_code, ot.code AS old_code, f.target_id
            FROM {FACTS} f LEFT JOIN {layer} l ON l.id = f.target_id
            LEFT JOIN towns ot ON ot.id = l.town_id
            LEFT JOIN towns nt ON nt.id = COALESCE(f.town_id, l.town_id)
            WHERE nt.code IS DISTINCT FROM :town
               OR (f.target_id IS NOT NULL AND ot.code IS DISTINCT FROM :town)
            ORDER BY f.n""",
        {"town": principal.town},
    )
    for row in rows:
        for code in (row.old_code, row.new_code) if row.target_id is not None else (row.new_code,):
            try:
                permissions.check_town(principal, code)
            except Forbidden as refused:
                problems.reject(row.n, None, refused.message)
                break


def gcj02_offset(conn: Connection, layer: str) -> str | None:
    """A warning when the rows that match stored features (by code) lie, by their median offset, about
    the WGS 84 → GCJ-02 shift away from them: the file's points were probably picked on Amap."""
    row = conn.execute(
        text(
            f"""SELECT count(*) AS matched,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_X(s.geom) - ST_X(l.geom)) AS dx,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_Y(s.geom) - ST_Y(l.geom)) AS dy,
                       avg(ST_X(l.geom)) AS lon, avg(ST_Y(l.geom)) AS lat
                FROM {ROWS} s JOIN {layer} l ON l.code = s.code
                WHERE s.geom IS NOT NULL AND l.geom IS NOT NULL"""
        )
    ).one()
    if not row.matched or row.dx is None:
        return None
    lon, lat = float(row.lon), float(row.lat)
    shifted = coordinates.wgs84_to_gcj02(lon, lat)
    shift_m = _metres((lon, lat), shifted)
    offset = (lon + float(row.dx), lat + float(row.dy))
    off_by_m = _metres(offset, shifted)
    if shift_m < 2 * GCJ02_TOLERANCE_M or off_by_m > GCJ02_TOLERANCE_M:
        return None
    moved = _metres((lon, lat), offset)
    return (
        f"{GCJ02_WARNING} (the {row.matched} row(s) whose code the inventory holds lie a median "
        f"{moved:.0f} m from the stored positions, {off_by_m:.0f} m from where the GCJ-02 shift of "
        f"{shift_m:.0f} m puts them)"
    )


@cache
def _geod() -> Geod:
    from pyproj import Geod  # loaded by the first import that compares positions, not at start

    return Geod(ellps="WGS84")


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    distance = float(_geod().inv(a[0], a[1], b[0], b[1])[2])
    return 0.0 if math.isnan(distance) else distance
