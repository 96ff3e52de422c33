"""Coverage: which villages and farms have a facility of a layer within a distance, in PostGIS.

A village or farm is served when a facility of the layer (with the chosen statuses and kind) lies within
`distance_m` of it, measured geodesically on the WGS84 spheroid (`ST_DWithin` on geography, answered by
the `geom::geography` GIST indexes). `prepare()` fills temporary tables in the caller's transaction:

- `cov_facility` (id, code, name, town_id, geom): the facilities considered
- `cov_village_pair` / `cov_farm_pair` (facility_id, subject_id, distance_m): every pair within reach
- `cov_village` / `cov_farm`: every subject with `served` and the distance to its nearest facility in reach
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from service.chain.livestock import FARM_MEASURES_CTE, species_json

COVERAGE_LAYERS = (
    "collection_points",
    "transfer_stations",
    "treatment_plants",
    "manure_centers",
    "biogas_centers",
)
LAYERS_WITH_KIND = {"collection_points", "treatment_plants"}
# Standard reach of a layer, where a standard gives one.
DEFAULT_DISTANCE_M = {"collection_points": 3000.0}  # ≤3 km by small motor vehicle, GB/T 51435-2021 §4.4
DISTANCE_SOURCES = {"collection_points": "GB/T 51435-2021 §4.4: ≤1 km by cart, ≤3 km by small motor vehicle"}
MAX_DISTANCE_M = 100_000.0  # beyond a truck's day trip: refuse rather than compute nonsense


class CoverageError(ValueError):
    """A request that cannot be answered; the message names the parameter."""


@dataclass(frozen=True)
class CoverageQuery:
    layer: str
    distance_m: float | None = None
    statuses: tuple[str, ...] = ("operational",)
    kind: str | None = None
    extra_sites: list[dict[str, Any]] = field(default_factory=list)  # what-if: hypothetical facilities
    removed_codes: tuple[str, ...] = ()  # what-if: facilities closed or removed

    def resolved_distance(self) -> float:
        if self.layer not in COVERAGE_LAYERS:
            raise CoverageError(
                f"layer: {self.layer!r} is not a facility layer ({', '.join(COVERAGE_LAYERS)})"
            )
        distance = self.distance_m if self.distance_m is not None else DEFAULT_DISTANCE_M.get(self.layer)
        if distance is None:
            raise CoverageError(f"distance_m: no standard default for {self.layer}; give one in metres")
        if not 0 < distance <= MAX_DISTANCE_M:
            raise CoverageError(f"distance_m: must be > 0 and ≤ {MAX_DISTANCE_M:,.0f} m, got {distance:g}")
        if self.kind is not None and self.layer not in LAYERS_WITH_KIND:
            raise CoverageError(f"kind: {self.layer} has no kind")
        return float(distance)


TEMP_TABLES = ("cov_facility", "cov_village_pair", "cov_farm_pair", "cov_village", "cov_farm")


def prepare(conn: Connection, q: CoverageQuery) -> float:
    """Fill the cov_* temporary tables; returns the distance used."""
    distance = q.resolved_distance()
    for table in TEMP_TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
    kind_filter = "AND kind = :kind" if q.kind is not None else ""
    conn.execute(
        text(
            f"""
            CREATE TEMP TABLE cov_facility ON COMMIT DROP AS
            SELECT id, code, name, town_id, geom, false AS hypothetical FROM {q.layer}
            WHERE status = ANY(:statuses) {kind_filter} AND NOT (code = ANY(:removed))
            """
        ),
        {"statuses": list(q.statuses), "kind": q.kind, "removed": list(q.removed_codes)},
    )
    for i, site in enumerate(q.extra_sites):
        conn.execute(
            text(
                "INSERT INTO cov_facility (id, code, name, town_id, geom, hypothetical) "
                "VALUES (:id, :code, :name, NULL, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), true)"
            ),
            {
                "id": -(i + 1),
                "code": site.get("code") or f"NEW-{i + 1}",
                "name": site.get("name") or "新址",
                "lon": site["lon"],
                "lat": site["lat"],
            },
        )
    conn.execute(text("CREATE INDEX ON cov_facility USING gist ((geom::geography))"))
    conn.execute(text("ANALYZE cov_facility"))
    _pairs(conn, "cov_village_pair", "villages", "true", distance)
    _pairs(conn, "cov_farm_pair", "livestock_farms", "s.status = 'operational'", distance)
    conn.execute(
        text(
            """
            CREATE TEMP TABLE cov_village ON COMMIT DROP AS
            SELECT v.id, v.town_id, v.population, v.households, p.nearest_m, p.nearest_m IS NOT NULL AS served
            FROM villages v
            LEFT JOIN (SELECT subject_id, min(distance_m) AS nearest_m FROM cov_village_pair GROUP BY 1) p
                   ON p.subject_id = v.id
            """
        )
    )
    conn.execute(
        text(
            f"""
            CREATE TEMP TABLE cov_farm ON COMMIT DROP AS
            WITH {FARM_MEASURES_CTE}
            SELECT m.id, m.town_id, m.head_count, m.head_on_hand * m.pig_eq AS pig_equivalents,
                   p.nearest_m, p.nearest_m IS NOT NULL AS served
            FROM farm_measure m
            LEFT JOIN (SELECT subject_id, min(distance_m) AS nearest_m FROM cov_farm_pair GROUP BY 1) p
                   ON p.subject_id = m.id
            WHERE m.status = 'operational'
            """
        ),
        {"species": species_json()},
    )
    return distance


def _pairs(conn: Connection, table: str, subjects: str, subject_filter: str, distance: float) -> None:
    """Every (facility, subject) pair within reach, with its geodesic distance."""
    conn.execute(
        text(
            f"""
            CREATE TEMP TABLE {table} ON COMMIT DROP AS
            SELECT f.id AS facility_id, s.id AS subject_id,
                   ST_Distance(f.geom::geography, s.geom::geography) AS distance_m
            FROM cov_facility f JOIN {subjects} s ON ST_DWithin(s.geom::geography, f.geom::geography, :d)
            WHERE {subject_filter}
            """
        ),
        {"d": distance},
    )


TOTALS = """
SELECT {group_select}
       count(v.id) AS villages_total, count(v.id) FILTER (WHERE v.served) AS villages_served,
       coalesce(sum(v.population), 0) AS population_total,
       coalesce(sum(v.population) FILTER (WHERE v.served), 0) AS population_served,
       coalesce(sum(v.households), 0) AS households_total,
       coalesce(sum(v.households) FILTER (WHERE v.served), 0) AS households_served
FROM {village_from}
{group_by}
"""

FARM_TOTALS = """
SELECT {group_select}
       count(f.id) AS farms_total, count(f.id) FILTER (WHERE f.served) AS farms_served,
       coalesce(sum(f.head_count), 0) AS head_count_total,
       coalesce(sum(f.head_count) FILTER (WHERE f.served), 0) AS head_count_served,
       coalesce(sum(f.pig_equivalents), 0) AS pig_equivalents_total,
       coalesce(sum(f.pig_equivalents) FILTER (WHERE f.served), 0) AS pig_equivalents_served
FROM {farm_from}
{group_by}
"""


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if hasattr(value, "is_integer") or type(value).__name__ == "Decimal":
            value = float(value)
            if value.is_integer() and not key.startswith("pig_equivalents"):
                value = int(value)
        out[key] = value
    return out


def _with_shares(figures: dict[str, Any]) -> dict[str, Any]:
    for what in ("villages", "population", "households", "farms", "pig_equivalents"):
        total = figures.get(f"{what}_total")
        figures[f"{what}_served_share"] = (figures[f"{what}_served"] / total) if total else None
    return figures


def summary(conn: Connection) -> dict[str, Any]:
    """City totals, per-town totals and per-facility service, from the prepared tables."""
    city = dict(
        conn.execute(text(TOTALS.format(group_select="", village_from="cov_village v", group_by="")))
        .mappings()
        .one()
    )
    city.update(
        conn.execute(text(FARM_TOTALS.format(group_select="", farm_from="cov_farm f", group_by="")))
        .mappings()
        .one()
    )
    towns_v = {
        r["code"]: dict(r)
        for r in conn.execute(
            text(
                TOTALS.format(
                    group_select="t.code, t.name,",
                    village_from="towns t LEFT JOIN cov_village v ON v.town_id = t.id",
                    group_by="GROUP BY t.code, t.name ORDER BY t.code",
                )
            )
        ).mappings()
    }
    for r in conn.execute(
        text(
            FARM_TOTALS.format(
                group_select="t.code,",
                farm_from="towns t LEFT JOIN cov_farm f ON f.town_id = t.id",
                group_by="GROUP BY t.code",
            )
        )
    ).mappings():
        towns_v[r["code"]].update({k: v for k, v in r.items() if k != "code"})
    facilities = [
        _plain(dict(r))
        for r in conn.execute(
            text(
                """
                WITH vs AS (
                    SELECT vp.facility_id, count(*) AS villages_served, sum(v.population) AS population_served
                    FROM cov_village_pair vp JOIN villages v ON v.id = vp.subject_id GROUP BY 1
                ), fs AS (
                    SELECT fp.facility_id, count(*) AS farms_served,
                           sum(cf.pig_equivalents) AS pig_equivalents_served
                    FROM cov_farm_pair fp JOIN cov_farm cf ON cf.id = fp.subject_id GROUP BY 1
                )
                SELECT f.id, f.code, f.name, f.hypothetical, t.code AS town_code,
                       ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat,
                       coalesce(vs.villages_served, 0) AS villages_served,
                       coalesce(vs.population_served, 0) AS population_served,
                       coalesce(fs.farms_served, 0) AS farms_served,
                       coalesce(fs.pig_equivalents_served, 0) AS pig_equivalents_served
                FROM cov_facility f
                LEFT JOIN towns t ON t.id = f.town_id
                LEFT JOIN vs ON vs.facility_id = f.id
                LEFT JOIN fs ON fs.facility_id = f.id
                ORDER BY f.code
                """
            )
        ).mappings()
    ]
    return {
        "city": _with_shares(_plain(city)),
        "towns": [_with_shares(_plain(t)) for t in towns_v.values()],
        "facilities": facilities,
    }


def features_sql(distance_m: float) -> str:
    """GeoJSON features: villages and farms with `served`, and each facility's service area."""
    return f"""
    SELECT json_build_object('type', 'Feature', 'id', 'village:' || v.id,
        'geometry', ST_AsGeoJSON(g.geom, 6)::json,
        'properties', json_build_object('role', 'village', 'code', g.code, 'name', g.name,
            'population', v.population, 'served', v.served,
            'nearest_m', round(v.nearest_m::numeric, 1)))::text
    FROM cov_village v JOIN villages g ON g.id = v.id
    UNION ALL
    SELECT json_build_object('type', 'Feature', 'id', 'farm:' || f.id,
        'geometry', ST_AsGeoJSON(g.geom, 6)::json,
        'properties', json_build_object('role', 'farm', 'code', g.code, 'name', g.name, 'species', g.species,
            'pig_equivalents', round(f.pig_equivalents::numeric, 1), 'served', f.served,
            'nearest_m', round(f.nearest_m::numeric, 1)))::text
    FROM cov_farm f JOIN livestock_farms g ON g.id = f.id
    UNION ALL
    SELECT json_build_object('type', 'Feature', 'id', 'area:' || c.id,
        'geometry',
            ST_AsGeoJSON(ST_Buffer(c.geom::geography, {distance_m:.3f}, 'quad_segs=16')::geometry, 6)::json,
        'properties', json_build_object('role', 'service_area', 'code', c.code, 'name', c.name,
            'hypothetical', c.hypothetical, 'distance_m', {distance_m:.3f}))::text
    FROM cov_facility c
    """
