"""What-if scenarios: add hypothetical sites, close existing ones, change capacities or the reach, and see
coverage and chain load before and after — without touching the inventory.

The scenario is played inside a transaction that is always rolled back, on private copies of the tables
it changes (the facility layer and `chain_links`, see `copies`): the changes are written to the copies
(with the real tables' constraints), sources are re-routed, the flows and coverage are computed again.
The inventory rows are never updated nor locked, so real writers and other scenarios run alongside.
Saving keeps only the request and the result, in `planning_scenarios`.

Re-routing rule: a source of the layer's previous stage moves to the nearest operational facility of
the layer (geodesic) when its current one is closed by the scenario, or when a new site is nearer than
its current one. New sites are linked to the nearest operational facility of the next stage.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, text

from service.chain import assignment, flows
from service.chain.parameters import STAGES
from service.coverage import computation as coverage
from service.coverage import query as cov
from service.errors import BadParameter, Conflict
from service.features import cursor
from service.models import LAYERS, TARGET_COLUMNS
from service.planning import copies

# Columns a new site needs besides the common ones, per layer (defaults for a hypothetical site).
NEW_SITE_EXTRAS = {
    "collection_points": ", kind, village_id",
    "transfer_stations": "",
    "treatment_plants": ", kind",
    "manure_centers": "",
    "biogas_centers": "",
}
COMPARED = (
    "villages_served",
    "population_served",
    "households_served",
    "farms_served",
    "pig_equivalents_served",
)


class ScenarioError(BadParameter):
    """The scenario cannot be played; names the field (`add[0]`, `capacity.CP1`)."""


def _largest(column: Any) -> Decimal:
    """The largest value a NUMERIC(p, s) column holds (99,999,999.99 for p=10, s=2)."""
    return Decimal(10) ** (column.type.precision - column.type.scale) - Decimal(10) ** -column.type.scale


# every facility layer shares the inventory's capacity column (t/day or m³)
MAX_CAPACITY = _largest(LAYERS["transfer_stations"].__table__.c.capacity)


@dataclass(frozen=True)
class NewSite:
    lon: float
    lat: float
    capacity: float | None = None
    code: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    layer: str
    distance_m: float | None = None
    distance_m_after: float | None = None
    add: list[NewSite] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    capacity: dict[str, float] = field(default_factory=dict)
    distance_mode: str = "geodesic"  # or "road": coverage along the road network


def feeding_streams(layer: str) -> list[tuple[str, str]]:
    """(stream, source layer) pairs whose sources deliver to `layer` in the chain."""
    pairs = []
    for stream, stages in STAGES.items():
        if layer in stages and stages[layer] > 0:
            pairs += [(stream, src) for src, n in stages.items() if n == stages[layer] - 1]
    return pairs


def _column(columns: dict[str, str], side: str, layer: str) -> str:
    return next(c for c, lay in columns.items() if lay == layer and c.startswith(side))


def _text(name: str, value: str | None) -> None:
    if value is not None and "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise ScenarioError(name, "contains a NUL character")


def _capacity(name: str, value: float | None) -> None:
    if value is None:
        return
    if not math.isfinite(value):  # NaN would be stored as NULL, infinity overflows
        raise ScenarioError(name, f"must be a finite number, got {value}")
    if value < 0:
        raise ScenarioError(name, f"must be ≥ 0, got {value:g}")
    if value > MAX_CAPACITY:
        raise ScenarioError(name, f"must be from 0 to {MAX_CAPACITY:,} (the column's range), got {value:g}")


def new_site_codes(s: Scenario) -> list[str]:
    """The codes the new sites get: their own, else SCENARIO-<n> (n from 1, in the order given)."""
    return [site.code or f"SCENARIO-{i}" for i, site in enumerate(s.add, start=1)]


def check_request(s: Scenario) -> None:
    """What the request itself must satisfy before any work: text PostgreSQL can store, capacities
    the column can hold, and every new site's code given once."""
    _text("name", s.name)
    for i, code in enumerate(s.remove):
        _text(f"remove[{i}]", code)
    for code, value in s.capacity.items():
        _text("capacity", code)
        _capacity(f"capacity.{code}", value)
    for i, site in enumerate(s.add):
        _text(f"add[{i}].code", site.code)
        _text(f"add[{i}].name", site.name)
        _capacity(f"add[{i}].capacity", site.capacity)
    first: dict[str, int] = {}
    for i, code in enumerate(new_site_codes(s)):
        if code in first:
            raise ScenarioError(
                f"add[{i}].code",
                f"{code!r} is also the code of add[{first[code]}] (a site without code is SCENARIO-<n>)",
            )
        first[code] = i


def _new_codes_free(conn: Connection, s: Scenario) -> None:
    """A new site's code must not be one the layer already has: 409, the inventory holds it."""
    codes = new_site_codes(s)
    taken = set(
        conn.execute(text(f"SELECT code FROM {s.layer} WHERE code = ANY(:c)"), {"c": codes}).scalars()
    )
    for i, code in enumerate(codes):
        if code in taken:
            raise Conflict(
                f"add[{i}].code: {code!r} is already the code of one of the {s.layer}; "
                "choose another code or leave it out",
                parameter=f"add[{i}].code",
            )


def _validate(conn: Connection, s: Scenario) -> None:
    codes = set(s.remove) | set(s.capacity)
    if codes:
        found = set(
            conn.execute(
                text(f"SELECT code FROM {s.layer} WHERE code = ANY(:c)"), {"c": list(codes)}
            ).scalars()
        )
        for field_name, values in (("remove", s.remove), ("capacity", list(s.capacity))):
            missing = [c for c in values if c not in found]
            if missing:
                raise ScenarioError(field_name, f"no {s.layer} with code(s) {missing}")
    for i, site in enumerate(s.add):
        inside = conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM towns "
                "WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)))"
            ),
            {"lon": site.lon, "lat": site.lat},
        ).scalar()
        if not inside:
            raise ScenarioError(f"add[{i}]", f"({site.lon}, {site.lat}) lies outside every town of the city")
    if s.add:
        _new_codes_free(conn, s)


@dataclass(frozen=True)
class State:
    """What a scenario compares, measured before or after its changes."""

    coverage: dict[str, Any]  # the coverage summary
    loads: dict[str, dict[str, Any]]  # facility code → load
    unconnected: dict[str, float]  # stream → t/day with no link


def _distances(s: Scenario) -> tuple[float, float]:
    """The reach before and after (CoverageError, as a ScenarioError, for a bad one)."""
    try:
        before = cov.CoverageQuery(s.layer, s.distance_m, distance_mode=s.distance_mode).resolved_distance()
        if s.distance_m_after is None:
            return before, before
        return before, cov.CoverageQuery(s.layer, s.distance_m_after).resolved_distance()
    except cov.CoverageError as exc:
        raise ScenarioError(exc.parameter, exc.detail) from exc


def _measure(conn: Connection, s: Scenario, distance: float, max_road_node_visits: int | None) -> State:
    query = cov.CoverageQuery(
        s.layer, distance, distance_mode=s.distance_mode, max_road_node_visits=max_road_node_visits
    )
    summary = coverage.compute(conn, query).summary()
    flows.compute(conn)
    return State(
        summary,
        {f["code"]: f for f in flows.facility_loads(conn, s.layer)},
        {t.stream: t.unconnected_t_per_day for t in flows.stream_totals(conn)},
    )


def _apply_changes(conn: Connection, s: Scenario) -> list[str]:
    """Write the scenario into the copies of the tables; returns the new codes."""
    if s.remove:
        conn.execute(text(f"UPDATE {s.layer} SET status = 'closed' WHERE code = ANY(:c)"), {"c": s.remove})
    for code, capacity in s.capacity.items():
        conn.execute(text(f"UPDATE {s.layer} SET capacity = :v WHERE code = :c"), {"v": capacity, "c": code})
    new_codes = []
    for i, site in enumerate(s.add, start=1):
        code = site.code or f"SCENARIO-{i}"
        new_codes.append(code)
        extras = NEW_SITE_EXTRAS[s.layer]
        extra_values = {
            "collection_points": ", 'bin_station', (SELECT v.id FROM villages v WHERE v.town_id = t.id "
            "ORDER BY v.geom <-> p.geom LIMIT 1)",
            "treatment_plants": ", 'incineration'",
        }.get(s.layer, "")
        conn.execute(
            text(
                f"""
                INSERT INTO {s.layer} (code, name, status, capacity, capacity_unit, town_id, geom{extras})
                SELECT :code, :name, 'operational', :capacity, 't/d', t.id, p.geom{extra_values}
                FROM (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom) p
                JOIN towns t ON ST_Covers(t.geom, p.geom)
                LIMIT 1
                """
            ),
            {
                "code": code,
                "name": site.name or f"规划新址 {i}",
                "capacity": site.capacity,
                "lon": site.lon,
                "lat": site.lat,
            },
        )
    return new_codes


def _reroute(conn: Connection, layer: str, new_codes: list[str]) -> int:
    """Move sources to the nearest operational facility where the scenario makes that the right one."""
    moved = 0
    target_column = _column(TARGET_COLUMNS, "target", layer)
    for stream, source in feeding_streams(layer):
        result = conn.execute(
            text(
                f"""
                WITH cur AS (
                    SELECT l.id AS link_id, s.geom, t.status, t.code,
                           ST_Distance(s.geom::geography, t.geom::geography) AS d_cur
                    FROM chain_links l
                    JOIN {source} s ON s.id = l.source_id
                    JOIN {layer} t ON t.id = l.target_id
                    WHERE l.stream = :stream AND l.source_layer = :source AND l.target_layer = :layer
                ), best AS (
                    SELECT DISTINCT ON (c.link_id) c.link_id, c.status, c.d_cur, n.id, n.code, n.d
                    FROM cur c CROSS JOIN LATERAL (
                        SELECT t.id, t.code, ST_Distance(t.geom::geography, c.geom::geography) AS d
                        FROM {layer} t WHERE t.status = 'operational'
                        ORDER BY t.geom <-> c.geom LIMIT {assignment.CANDIDATES}
                    ) n
                    ORDER BY c.link_id, n.d, n.id
                )
                UPDATE chain_links l SET {target_column} = b.id
                FROM best b
                WHERE l.id = b.link_id AND l.{target_column} <> b.id
                  AND (b.status <> 'operational' OR (b.code = ANY(:new) AND b.d < b.d_cur))
                """
            ),
            {"stream": stream, "source": source, "layer": layer, "new": new_codes},
        )
        moved += result.rowcount or 0
    return moved


def _link_new_sites_downstream(conn: Connection, layer: str, new_codes: list[str]) -> None:
    if not new_codes:
        return
    flows.compute(conn)
    for stream, stages in STAGES.items():
        if layer not in stages:
            continue
        proposals, _ = assignment.propose(conn, stream)
        assignment.apply(
            conn, [p for p in proposals if p.source_layer == layer and p.source_code in new_codes]
        )


def _difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: after[k] - before[k] for k in COMPARED}


def _facility_rows(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], new_codes: list[str]
) -> list[dict[str, Any]]:
    rows = []
    for code in sorted(set(before) | set(after)):
        b, a = before.get(code), after.get(code)
        rows.append(
            {
                "code": code,
                "name": (a or b or {}).get("name"),
                "hypothetical": code in new_codes,
                "before": _load(b),
                "after": _load(a),
            }
        )
    return rows


def _load(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "status": row["status"],
        "capacity": row["capacity"],
        "inflow_t_per_day": row["inflow_t_per_day"],
        "utilisation": row["utilisation"],
    }


def play(engine: Engine, s: Scenario, max_road_node_visits: int | None = None) -> dict[str, Any]:
    """Coverage and chain load before and after the scenario; the inventory is left as it was.

    Road mode is held to `max_road_node_visits` (default: the configured limit), checked before routing.
    """
    if s.layer not in cov.COVERAGE_LAYERS:
        raise ScenarioError(
            "layer", f"{s.layer!r} is not a facility layer ({', '.join(cov.COVERAGE_LAYERS)})"
        )
    check_request(s)
    # one snapshot for the copies and every read: the scenario sees the inventory as of its start
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        trans = conn.begin()
        try:
            _validate(conn, s)
            distance, distance_after = _distances(s)
            for table in (s.layer, "chain_links"):  # what the scenario changes, copied
                copies.shadow(conn, table)
            before = _measure(conn, s, distance, max_road_node_visits)
            new_codes = _apply_changes(conn, s)
            moved = _reroute(conn, s.layer, new_codes)
            _link_new_sites_downstream(conn, s.layer, new_codes)
            after = _measure(conn, s, distance_after, max_road_node_visits)
        finally:
            trans.rollback()  # drops the copies
    towns_after = {t["code"]: t for t in after.coverage["towns"]}
    return {
        "name": s.name,
        "layer": s.layer,
        "distance_m": {"before": distance, "after": distance_after},
        "distance_mode": s.distance_mode,
        "coverage": {
            "before": {k: before.coverage["city"][k] for k in COMPARED},
            "after": {k: after.coverage["city"][k] for k in COMPARED},
            "difference": _difference(before.coverage["city"], after.coverage["city"]),
            "towns": [
                {"code": t["code"], "name": t["name"], "difference": _difference(t, towns_after[t["code"]])}
                for t in before.coverage["towns"]
            ],
        },
        "chain": {
            "sources_moved": moved,
            "unconnected_t_per_day": {"before": before.unconnected, "after": after.unconnected},
            "facilities": _facility_rows(before.loads, after.loads, new_codes),
        },
    }


def save(engine: Engine, name: str, request: dict[str, Any], result: dict[str, Any]) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO planning_scenarios (name, request, result) "
                    "VALUES (:n, CAST(:q AS jsonb), CAST(:r AS jsonb)) RETURNING id"
                ),
                {
                    "n": name,
                    "q": json.dumps(request, ensure_ascii=False),
                    "r": json.dumps(result, ensure_ascii=False, default=float),
                },
            ).scalar_one()
        )


LISTING_ORDER = "planning_scenarios:id"  # the keyset of the list: a cursor of another list is refused
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class ScenarioPage:
    scenarios: list[dict[str, Any]]
    next_cursor: str | None  # None: this is the last page


def _after_id(token: str | None) -> int | None:
    if token is None:
        return None
    try:
        (after, *_), backward = cursor.decode(token, LISTING_ORDER, ("integer",))
    except cursor.BadCursor as exc:
        raise ScenarioError("cursor", f"{exc}; use the next link of a page") from None
    if backward or not 0 <= after <= MAX_ID:
        raise ScenarioError("cursor", "not a cursor of this list; use the next link of a page")
    return int(after)


def listing(engine: Engine, limit: int, max_limit: int, after: str | None = None) -> ScenarioPage:
    """Saved scenarios in the order they were saved, `limit` per page, after the cursor's scenario
    (keyset: a page neither skips nor repeats one while others are saved)."""
    if not 1 <= limit <= max_limit:
        raise ScenarioError("limit", f"must be between 1 and {max_limit}, got {limit}")
    after_id = _after_id(after)
    with engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT id, name, created_at, request ->> 'layer' AS layer, "
                    "result -> 'coverage' -> 'difference' AS difference FROM planning_scenarios "
                    "WHERE CAST(:after AS bigint) IS NULL OR id > :after ORDER BY id LIMIT :n"
                ),
                {"after": after_id, "n": limit + 1},
            ).mappings()
        ]
    more = len(rows) > limit
    rows = rows[:limit]
    return ScenarioPage(rows, cursor.encode(LISTING_ORDER, (rows[-1]["id"],)) if more else None)


def fetch(engine: Engine, scenario_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(
                text("SELECT id, name, created_at, request, result FROM planning_scenarios WHERE id = :id"),
                {"id": scenario_id},
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


__all__ = [
    "NewSite",
    "Scenario",
    "ScenarioError",
    "ScenarioPage",
    "feeding_streams",
    "fetch",
    "listing",
    "play",
    "save",
]
