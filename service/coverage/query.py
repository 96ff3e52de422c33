"""Coverage: which villages and farms have a facility of a layer within a distance, in PostGIS.

A village or farm is served when a facility of the layer (with the chosen statuses and kind) lies within
`distance_m` of it: geodesically on the WGS84 spheroid (`ST_DWithin`'s test on geography, the candidates
found through the subjects' lon/lat GIST index, see `pairs_sql`), or along the road network
(`distance_mode="road"`, pgRouting, see `road_reach`). `prepare()` (run by `computation.compute`, the
package's entry point) fills temporary tables and views in the caller's transaction, private to this
package:

- `cov_facility` (id, code, name, town_id, geom, hypothetical): the facilities considered
- `cov_village_pair` / `cov_farm_pair` (facility_id, subject_id, town_id, values…): every pair within
  reach (road mode adds `distance_m`)
- `cov_village_served` / `cov_farm_served`: the served subjects with their town and values
- views `cov_village` / `cov_farm`: every subject with `served` and the distance to its nearest
  facility in reach (`nearest_m`)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from service.chain.livestock import FARM_MEASURES_CTE, SPECIES_SQL, head_on_hand_sql, species_json
from service.config import AnalysisLimitSettings, settings
from service.coverage import road_reach
from service.errors import BadParameter
from service.models import FACILITY_LAYERS
from service.roads.graph import DEFAULT_SNAP_M, MAX_SNAP_M
from service.vocabulary import DISTANCE_MODES

COVERAGE_LAYERS = FACILITY_LAYERS  # every facility layer of the chain serves the places around it
LAYERS_WITH_KIND = {"collection_points", "treatment_plants"}
# Standard reach of a layer, where a standard gives one.
DEFAULT_DISTANCE_M = {"collection_points": 3000.0}  # ≤3 km by small motor vehicle, GB/T 51435-2021 §4.4
DISTANCE_SOURCES = {"collection_points": "GB/T 51435-2021 §4.4: ≤1 km by cart, ≤3 km by small motor vehicle"}
SUBJECTS = ("villages", "farms")
MAX_DISTANCE_M = 100_000.0  # beyond a truck's day trip: refuse rather than compute nonsense


class CoverageError(BadParameter):
    """A coverage question that cannot be answered as asked; names the parameter."""


@dataclass(frozen=True)
class CoverageQuery:
    layer: str
    distance_m: float | None = None
    statuses: tuple[str, ...] = ("operational",)
    kind: str | None = None
    extra_sites: list[dict[str, Any]] = field(default_factory=list)  # what-if: hypothetical facilities
    removed_codes: tuple[str, ...] = ()  # what-if: facilities closed or removed
    subjects: tuple[str, ...] = ("villages", "farms")  # what to compute; the other gets empty results
    distance_mode: str = "geodesic"  # or "road": along the road network (pgRouting)
    snap_m: float = DEFAULT_SNAP_M  # road: farthest a point may lie from its road node
    max_road_node_visits: int | None = None  # road: the routing's limit; None: the configured one

    def road_visit_limit(self) -> int:
        if self.max_road_node_visits is not None:
            return self.max_road_node_visits
        return settings(AnalysisLimitSettings).road_max_node_visits

    @property
    def layers(self) -> tuple[str, ...]:
        """The facility layers that serve: `layer` may name several, comma-separated (served by any)."""
        return tuple(dict.fromkeys(name.strip() for name in self.layer.split(",")))

    def resolved_distance(self) -> float:
        for name in self.layers:
            if name not in COVERAGE_LAYERS:
                raise CoverageError(
                    "layer", f"{name!r} is not a facility layer ({', '.join(COVERAGE_LAYERS)})"
                )
        distance = self.distance_m if self.distance_m is not None else DEFAULT_DISTANCE_M.get(self.layer)
        if distance is None:
            raise CoverageError("distance_m", f"no standard default for {self.layer}; give one in metres")
        if not 0 < distance <= MAX_DISTANCE_M:
            raise CoverageError("distance_m", f"must be > 0 and ≤ {MAX_DISTANCE_M:,.0f} m, got {distance:g}")
        unknown = [s for s in self.subjects if s not in SUBJECTS]
        if unknown or not self.subjects:
            raise CoverageError(
                "subjects", f"one or more of {', '.join(SUBJECTS)}, got {list(self.subjects)}"
            )
        if self.distance_mode not in DISTANCE_MODES:
            raise CoverageError(
                "distance_mode", f"one of {', '.join(DISTANCE_MODES)}, got {self.distance_mode!r}"
            )
        if not 0 <= self.snap_m <= MAX_SNAP_M:
            raise CoverageError("snap_m", f"must be ≥ 0 and ≤ {MAX_SNAP_M:,.0f} m, got {self.snap_m:g}")
        if self.kind is not None and self.layer not in LAYERS_WITH_KIND:
            raise CoverageError("kind", f"{self.layer} has no kind")
        return float(distance)


TEMP_TABLES = ("cov_facility", "cov_village_pair", "cov_farm_pair", "cov_village_served", "cov_farm_served")


@dataclass(frozen=True)
class Subject:
    """What facilities serve: villages (people, households) or operational farms (herds)."""

    name: str  # villages / farms: the prefix of the count keys
    table: str  # cov_<table>_pair, cov_<table>_served, view cov_<table>
    source: str  # FROM clause, the subject aliased `s`
    values: dict[str, str]  # summed per town: key → SQL over `s` (and the joined coefficients)
    measure: str  # the value summed per facility
    where: str = "true"
    params: dict[str, Any] = field(default_factory=dict)
    # per-town totals (town_id, <name>_total, <value>_total…) where a cheaper form than summing
    # `values` over every row exists; None: the plain grouped pass over `source`
    town_totals: str | None = None

    def figure_keys(self) -> list[str]:
        """Total and served keys, in the response's order."""
        return [f"{key}_{part}" for key in (self.name, *self.values) for part in ("total", "served")]


# The farms' totals per town: pig equivalents are linear in the head count, so the 1M farms are
# grouped by town, species and basis first and the coefficients applied to the ~5,000 groups, rather
# than joined to every farm (0.10–0.13 s instead of 0.18 s on the national set).
FARM_TOWN_TOTALS = f"""
    SELECT g.town_id, sum(g.farms) AS farms_total, sum(g.head_count) AS head_count_total,
           sum({head_on_hand_sql("g")} * k.pig_eq) AS pig_equivalents_total
    FROM (SELECT town_id, species, head_count_basis, count(*) AS farms, sum(head_count) AS head_count
          FROM livestock_farms WHERE status = 'operational' GROUP BY 1, 2, 3) g
    JOIN ({SPECIES_SQL}) k ON k.species = g.species
    GROUP BY 1"""


def subjects() -> dict[str, Subject]:
    return {
        "villages": Subject(
            "villages",
            "village",
            "villages s",
            {"population": "s.population", "households": "s.households"},
            "population",
        ),
        "farms": Subject(
            "farms",
            "farm",
            f"livestock_farms s JOIN ({SPECIES_SQL}) k ON k.species = s.species",
            {"head_count": "s.head_count", "pig_equivalents": f"{head_on_hand_sql('s')} * k.pig_eq"},
            "pig_equivalents",
            "s.status = 'operational'",
            {"species": species_json()},
            FARM_TOWN_TOTALS,
        ),
    }


def prepare(conn: Connection, q: CoverageQuery) -> float:
    """Fill the cov_* temporary tables and views; returns the distance used.

    Driven by the facilities: each one probes the subjects' lon/lat GIST index once (5,000 probes on
    the national set, rather than one probe of the facilities' index per village: 500,000). Only the
    pairs within reach and the served subjects are stored; every total is a grouped pass over them or
    over the subject table alone. Subjects not in `q.subjects` get empty tables and views.
    """
    distance = q.resolved_distance()
    # JIT compiles for ~0.3 s and wins nothing on these index-driven plans.
    conn.execute(text("SET LOCAL jit = off"))
    for table in TEMP_TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table} CASCADE"))
    facilities, params = facility_source(q)
    conn.execute(text(f"CREATE TEMP TABLE cov_facility ON COMMIT DROP AS {facilities}"), params)
    road = q.distance_mode == "road"
    if road:
        road_reach.prepare_reach(conn, distance, q.snap_m, q.road_visit_limit())
        params["snap"] = q.snap_m
    for subject in subjects().values():
        asked = subject.name in q.subjects
        _pairs(conn, subject, facilities, {**params, "d": distance}, asked, road)
        values = ", ".join(subject.values)
        conn.execute(
            text(
                f"CREATE TEMP TABLE cov_{subject.table}_served ON COMMIT DROP AS "
                f"SELECT DISTINCT subject_id AS id, town_id, {values} FROM cov_{subject.table}_pair"
            )
        )
        _subject_view(conn, subject, asked, road)
    return distance


def facility_source(q: CoverageQuery) -> tuple[str, dict[str, Any]]:
    """SELECT of the facilities considered (the layer's, minus the removed, plus the hypothetical).

    Plain tables and a JSON document only, no temporary table: the pair queries read it directly so
    that PostgreSQL may run them in parallel (temporary tables are invisible to parallel workers).
    """
    kind_filter = "AND kind = :kind" if q.kind is not None else ""
    # several layers: ids made unique across them (id × 16 + the layer's place); `feature_id` keeps it
    several = len(q.layers) > 1
    existing = "\n        UNION ALL\n".join(
        f"""
        SELECT {f"id * 16 + {i}" if several else "id"} AS id, id AS feature_id, '{name}'::text AS layer,
               code, name, name_en, town_id, geom, false AS hypothetical FROM {name}
        WHERE status = ANY(:statuses) {kind_filter} AND NOT (code = ANY(:removed))"""
        for i, name in enumerate(q.layers)
    )
    sql = f"""{existing}
        UNION ALL
        SELECT -n, -n, '{q.layers[0]}'::text, coalesce(x.code, 'NEW-' || n), coalesce(x.name, '新址'),
               CASE WHEN x.name IS NULL THEN 'new site' END, NULL::bigint,
               ST_SetSRID(ST_MakePoint(x.lon, x.lat), 4326), true
        FROM json_to_recordset(CAST(:extra AS json))
             AS x(n bigint, lon float8, lat float8, code text, name text)"""
    extra = [
        {"n": i, "lon": site["lon"], "lat": site["lat"], "code": site.get("code"), "name": site.get("name")}
        for i, site in enumerate(q.extra_sites, start=1)
    ]
    return sql, {
        "statuses": list(q.statuses),
        "kind": q.kind,
        "removed": list(q.removed_codes),
        "extra": json.dumps(extra, ensure_ascii=False),
    }


# The work is in the inner index probes, not in the few thousand facility rows: let the planner split
# the facilities between parallel workers although their table is small.
PARALLEL_PROBES = ("SET LOCAL min_parallel_table_scan_size = 0", "SET LOCAL parallel_setup_cost = 100")


# The box, in degrees, that holds every point within `:d` metres (geodesic) of the facility `f`: a
# degree of latitude is ≥ 110,574 m (the meridian's smallest, at the equator) and a degree of longitude
# ≥ 111,319 m × cos(latitude) at every latitude the disc reaches. Near a pole or the antimeridian the box
# takes every longitude (a superset, so still exact after the geodesic test).
REACH_DLAT = ":d / 110574.0"
_DLON = f":d / (111319.0 * cos(radians(abs(ST_Y(f.geom)) + {REACH_DLAT})))"
REACH_DLON = f"""CASE WHEN abs(ST_Y(f.geom)) + {REACH_DLAT} >= 89.9 OR abs(ST_X(f.geom)) + {_DLON} >= 180
             THEN 360.0 ELSE {_DLON} END"""


def pairs_sql(subject: Subject, facilities: str, asked: bool = True) -> str:
    """Every (facility, subject) pair within `:d` (geodesic, on the WGS84 spheroid), with the values.

    The plan is a nested loop with the facilities outside and an index scan of `idx_<subjects>_geom`
    inside: the planar box of the facility's reach (`REACH_DLON` × `REACH_DLAT` degrees), then the
    exact geodesic test. `_ST_DWithin` is `ST_DWithin`'s own test (the same C function) without its
    index support, so that the planner does not probe the geography index instead: that index's
    geocentric box around a 3 km disc holds ~1.7× the points within reach, this lon/lat box ~1.3×,
    and a 2-D box is cheaper to test than a 3-D one.
    """
    values = ", ".join(f"{sql} AS {key}" for key, sql in subject.values.items())
    return f"""
        SELECT f.id AS facility_id, s.id AS subject_id, s.town_id, {values}
        FROM ({facilities}) f JOIN {subject.source}
          ON s.geom && ST_Expand(f.geom, {REACH_DLON}, {REACH_DLAT})
         AND _ST_DWithin(s.geom::geography, f.geom::geography, :d)
        WHERE {subject.where} AND {"true" if asked else "false"}"""


def _pairs(
    conn: Connection, subject: Subject, facilities: str, params: dict[str, Any], asked: bool, road: bool
) -> None:
    if road:  # reach along the roads, from road_reach.prepare_reach
        values = ", ".join(f"{sql} AS {key}" for key, sql in subject.values.items())
        where = f"{subject.where} AND {'true' if asked else 'false'}"
        sql = road_reach.pairs_sql(subject.source, values, where)
    else:
        for setting in PARALLEL_PROBES:
            conn.execute(text(setting))
        sql = pairs_sql(subject, facilities, asked)
    conn.execute(
        text(f"CREATE TEMP TABLE cov_{subject.table}_pair ON COMMIT DROP AS {sql}"),
        {**params, **subject.params},
    )


# Every village / operational farm with `served` and `nearest_m`, for the gaps, GeoJSON and XLSX:
# views over the subject table and the served ids, so nothing is copied for the (many) unserved ones.
# `nearest_m` (a geodesic distance, dearer than the ST_DWithin test) comes from a grouped subquery,
# unique on the subject id, which PostgreSQL drops from the plan when a query does not read it.
SUBJECT_VIEWS = {
    "village": """
        SELECT v.id, v.town_id, v.population, v.households, n.m AS nearest_m, s.id IS NOT NULL AS served
        FROM villages v LEFT JOIN cov_village_served s ON s.id = v.id {nearest}
        WHERE {asked}""",
    "farm": f"""
        WITH {FARM_MEASURES_CTE}
        SELECT v.id, v.town_id, v.head_count, v.head_on_hand * v.pig_eq AS pig_equivalents,
               n.m AS nearest_m, s.id IS NOT NULL AS served
        FROM farm_measure v LEFT JOIN cov_farm_served s ON s.id = v.id {{nearest}}
        WHERE v.status = 'operational' AND {{asked}}""",
}
NEAREST_JOIN = """
        LEFT JOIN (SELECT p.subject_id, min(ST_Distance(f.geom::geography, g.geom::geography)) AS m
                   FROM cov_{table}_pair p JOIN cov_facility f ON f.id = p.facility_id
                   JOIN {source} g ON g.id = p.subject_id GROUP BY 1) n ON n.subject_id = v.id"""
ROAD_NEAREST_JOIN = """
        LEFT JOIN (SELECT subject_id, min(distance_m) AS m FROM cov_{table}_pair GROUP BY 1) n
               ON n.subject_id = v.id"""


def _subject_view(conn: Connection, subject: Subject, asked: bool, road: bool) -> None:
    source = subject.source.split()[0]
    nearest = (ROAD_NEAREST_JOIN if road else NEAREST_JOIN).format(table=subject.table, source=source)
    view = SUBJECT_VIEWS[subject.table].format(nearest=nearest, asked="true" if asked else "false")
    conn.execute(text(f"CREATE TEMP VIEW cov_{subject.table} AS {view}"), subject.params)


FACILITIES_SQL = """
WITH vs AS (
    SELECT facility_id, count(*) AS villages_served, sum(population) AS population_served
    FROM cov_village_pair GROUP BY 1
), fs AS (
    SELECT facility_id, count(*) AS farms_served, sum(pig_equivalents) AS pig_equivalents_served
    FROM cov_farm_pair GROUP BY 1
)
SELECT f.feature_id AS id, f.layer, f.code, f.name, f.name_en, f.hypothetical, t.code AS town_code,
       ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat,
       coalesce(vs.villages_served, 0) AS villages_served,
       coalesce(vs.population_served, 0) AS population_served,
       coalesce(fs.farms_served, 0) AS farms_served,
       coalesce(fs.pig_equivalents_served, 0) AS pig_equivalents_served
FROM cov_facility f
LEFT JOIN towns t ON t.id = f.town_id
LEFT JOIN vs ON vs.facility_id = f.id
LEFT JOIN fs ON fs.facility_id = f.id
ORDER BY f.code, f.layer
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
        if f"{what}_served" in figures:
            figures[f"{what}_served_share"] = (figures[f"{what}_served"] / total) if total else None
    return figures


def _zero(key: str) -> float:
    return 0.0 if key.startswith("pig_equivalents") else 0


def _town_sums(conn: Connection, subject: Subject) -> dict[Any, dict[str, Any]]:
    """Per town id: the subject's totals (one pass over its table) and served sums (over the served)."""
    sums: dict[Any, dict[str, Any]] = {}
    for part, source, where in (
        ("total", subject.source, subject.where),
        ("served", f"cov_{subject.table}_served s", "true"),
    ):
        values = "".join(
            f", sum({sql if part == 'total' else 's.' + key}) AS {key}_{part}"
            for key, sql in subject.values.items()
        )
        sql = (
            f"SELECT s.town_id, count(*) AS {subject.name}_{part}{values} "
            f"FROM {source} WHERE {where} GROUP BY 1"
        )
        if part == "total" and subject.town_totals is not None:
            sql = subject.town_totals
        rows = conn.execute(text(sql), subject.params).mappings()
        for r in rows:
            sums.setdefault(r["town_id"], {}).update(r)
    return sums


def road_access(conn: Connection, q: CoverageQuery) -> dict[str, Any]:
    """Road mode: the snap tolerance and what lies off the road network (unreachable, so unserved)."""
    asked = [(s.name, s.source, s.where, s.params) for s in subjects().values() if s.name in q.subjects]
    return road_reach.road_access(conn, q.snap_m, asked)


def summary(conn: Connection, asked: tuple[str, ...] = SUBJECTS) -> dict[str, Any]:
    """City totals, per-town totals and per-facility service, from the prepared tables.

    `asked`: the subjects given to `prepare`; the figures of the others are left out, not zeroed.
    """
    chosen = [s for s in subjects().values() if s.name in asked]
    sums = {s.name: _town_sums(conn, s) for s in chosen}
    city: dict[str, Any] = {}
    towns = []
    for town_id, code, name, name_en in conn.execute(
        text("SELECT id, code, name, name_en FROM towns ORDER BY code")
    ):
        town: dict[str, Any] = {"code": code, "name": name, "name_en": name_en}
        for subject in chosen:
            row = sums[subject.name].get(town_id, {})
            town.update({key: row.get(key) or _zero(key) for key in subject.figure_keys()})
        towns.append(_with_shares(_plain(town)))
    for subject in chosen:
        for key in subject.figure_keys():  # every subject row belongs to a town (NOT NULL foreign key)
            city[key] = sum((r.get(key) or _zero(key) for r in sums[subject.name].values()), _zero(key))
    facilities = []
    for r in conn.execute(text(FACILITIES_SQL)).mappings():
        row = dict(r)
        for subject in subjects().values():
            if subject.name not in asked:
                del row[f"{subject.name}_served"], row[f"{subject.measure}_served"]
        facilities.append(_plain(row))
    return {"city": _with_shares(_plain(city)), "towns": towns, "facilities": facilities}


def service_areas_sql(distance_m: float, road: bool = False) -> str:
    """One GeoJSON Feature (text) per facility considered: the area it serves within `distance_m`.

    Geodesic: the disc of `distance_m`; road mode: the concave hull of the road nodes within reach, one
    grouped pass over the reach table; a hull of one or two nodes (a point, a line) becomes a 50 m band
    so that every service area is a polygon. A facility that reaches no node has a null geometry.
    """
    if road:
        area = (
            "CASE WHEN GeometryType(h.hull) IN ('POLYGON', 'MULTIPOLYGON') THEN h.hull "
            "ELSE ST_Buffer(h.hull::geography, 50)::geometry END"
        )
        reach = """
    LEFT JOIN (SELECT r.facility_id, ST_ConcaveHull(ST_Collect(n.geom), 0.5) AS hull
               FROM cov_road_reach r JOIN road_nodes n ON n.id = r.node GROUP BY r.facility_id) h
           ON h.facility_id = c.id"""
    else:
        area = f"ST_Buffer(c.geom::geography, {distance_m:.3f}, 'quad_segs=16')::geometry"
        reach = ""
    return f"""
    SELECT json_build_object('type', 'Feature', 'id', 'area:' || c.id,
        'geometry', ST_AsGeoJSON({area}, 6)::json,
        'properties', json_build_object('role', 'service_area', 'code', c.code, 'name', c.name,
            'hypothetical', c.hypothetical, 'distance_m', {distance_m:.3f}))::text
    FROM cov_facility c{reach}"""


def features_sql(distance_m: float, road: bool = False) -> str:
    """GeoJSON features: villages and farms with `served`, and each facility's service area
    (`service_areas_sql`)."""
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
    UNION ALL{service_areas_sql(distance_m, road)}
    """
