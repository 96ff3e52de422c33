"""What the maps draw, read from PostGIS in compact rows (one array per feature, coordinates rounded).

Run inside a chain computation (`service.chain.computation.computed`): inflow and utilisation come from the
`chain_facility` table and flows from `chain_link_flow` that `flows.compute()` fills. Rows are plain
lists so that a page carries tens of thousands of features in a few megabytes; `LayerRows.fields` names
the columns for the page script.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from service.chain import indicators
from service.models import FACILITY_LAYERS

COORD_DECIMALS = 5  # about 1 m: finer than any marker, far smaller than full doubles
TOWN_SIMPLIFY_DEG = 0.0005  # about 50 m: invisible at city zoom, a tenth of the vertices
POINT_LAYERS = ("villages", *FACILITY_LAYERS, "livestock_farms", "public_toilets")
SOURCE_LAYERS = ("villages", "livestock_farms")


@dataclass
class LayerRows:
    """Columnar rows of one layer: `fields` names the columns of every row in `rows`."""

    fields: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def as_json(self) -> dict[str, Any]:
        return {"fields": self.fields, "rows": self.rows}


def _plain(value: Any) -> Any:
    """JSON-ready: numerics (rounded in SQL where it matters, e.g. coordinates) as floats, computed
    doubles (utilisation, inflow) to 3 decimals."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return round(value, 3)
    number = float(value)  # Decimal
    return int(number) if number.is_integer() else number


def read_layer(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> LayerRows:
    """A query's rows as a compact layer (column names once, values JSON-ready)."""
    result = conn.execute(text(sql), params)
    fields = list(result.keys())
    return LayerRows(fields, [[_plain(v) for v in row] for row in result])


def _town_filter(alias: str) -> str:
    return f"(CAST(:town AS bigint) IS NULL OR {alias}.town_id = :town)"


# A town's map also draws what its flows reach outside it (the plant, the manure centres, a farm of
# the next town sending to a centre inside): every line then ends at a drawn marker.
def _town_or_linked(alias: str, layer: str) -> str:
    """In the town, or at the far end of one of the town's flows (`:town` NULL: everything). The ends
    are one set, computed once, not a lookup per feature."""
    return f"""(CAST(:town AS bigint) IS NULL OR {alias}.town_id = :town OR {alias}.id IN (
        SELECT CASE WHEN s.layer = '{layer}' AND s.town_id IS DISTINCT FROM :town THEN s.id ELSE t.id END
        FROM chain_links l
        JOIN chain_node s ON s.layer = l.source_layer AND s.id = l.source_id
        JOIN chain_node t ON t.layer = l.target_layer AND t.id = l.target_id
        WHERE l.geom IS NOT NULL AND (s.town_id = :town OR t.town_id = :town)
          AND ((s.layer = '{layer}' AND s.town_id IS DISTINCT FROM :town)
            OR (t.layer = '{layer}' AND t.town_id IS DISTINCT FROM :town))))"""


def _outside(alias: str) -> str:
    """True for what a town's map draws from beyond the town."""
    return f"(CAST(:town AS bigint) IS NOT NULL AND {alias}.town_id IS DISTINCT FROM :town) AS outside"


LATLON = (
    f"round(ST_Y({{a}}.geom)::numeric, {COORD_DECIMALS}) AS lat, "
    f"round(ST_X({{a}}.geom)::numeric, {COORD_DECIMALS}) AS lon"
)


def towns(conn: Connection, town_id: int | None = None) -> list[dict[str, Any]]:
    """Town polygons simplified in PostGIS, with the figures of the indicators."""
    figures = {t["code"]: t for t in indicators.compute(conn)["towns"]}
    rows = conn.execute(
        text(
            f"""
            SELECT t.id, t.code, t.name, t.name_en, t.kind,
                   ST_AsGeoJSON(ST_SimplifyPreserveTopology(t.geom, :tol), {COORD_DECIMALS}) AS geometry
            FROM towns t WHERE CAST(:town AS bigint) IS NULL OR t.id = :town ORDER BY t.code
            """
        ),
        {"tol": TOWN_SIMPLIFY_DEG, "town": town_id},
    ).mappings()
    out = []
    for r in rows:
        f = figures.get(r["code"], {})
        out.append(
            {
                "id": r["id"],
                "code": r["code"],
                "name": r["name"],
                "name_en": r["name_en"],
                "kind": r["kind"],
                "geometry": json.loads(r["geometry"]),
                "villages_count": f.get("villages"),
                "population": f.get("population"),
                **{k: _plain(f.get(k)) for k in TOWN_INDICATORS},
            }
        )
    return out


TOWN_INDICATORS = (
    "waste_connected_share",
    "toilet_share",
    "transfer_capacity_ratio",
    "large_farms_facility_share",
)


def villages(conn: Connection, town_id: int | None = None) -> LayerRows:
    """Villages with their people and whether their waste and sludge reach treatment."""
    layer = read_layer(
        conn,
        f"""
        SELECT v.id, v.code, v.name, {LATLON.format(a="v")}, v.population, v.households, v.toilets_rebuilt
        FROM villages v WHERE {_town_or_linked("v", "villages")} ORDER BY v.id
        """,
        {"town": town_id},
    )
    waste = indicators.connected_ids(conn, "domestic_waste", "villages")
    sludge = indicators.connected_ids(conn, "fecal_sludge", "villages")
    layer.fields += ["waste_connected", "sludge_connected"]
    for row in layer.rows:
        row += [row[0] in waste, row[0] in sludge]
    return layer


# Extra attributes shown per facility layer, besides the common ones.
FACILITY_EXTRAS = {
    "collection_points": "f.kind",
    "transfer_stations": "f.station_class AS kind",
    "treatment_plants": "f.kind",
    "manure_centers": "f.process AS kind",
    "biogas_centers": "NULL::text AS kind",
}


def facilities(conn: Connection, layer: str, town_id: int | None = None) -> LayerRows:
    """A facility layer with capacity, inflow (t/day) and utilisation from the chain computation; a
    town's are those in it and those its flows reach (`outside` true)."""
    if layer not in FACILITY_LAYERS:
        raise ValueError(f"layer: {layer!r} is not a facility layer")
    return read_layer(
        conn,
        f"""
        SELECT f.id, f.code, f.name, f.name_en, {LATLON.format(a="f")}, f.status, f.capacity,
               f.capacity_unit, {FACILITY_EXTRAS[layer]}, cf.inflow_t_per_day AS inflow, cf.utilisation,
               {_outside("f")}
        FROM {layer} f LEFT JOIN chain_facility cf ON cf.layer = :layer AND cf.id = f.id
        WHERE {_town_or_linked("f", layer)} ORDER BY f.id
        """,
        {"layer": layer, "town": town_id},
    )


def farms(conn: Connection, town_id: int | None = None) -> LayerRows:
    """Livestock farms: species, size and whether they have an on-site manure facility."""
    return read_layer(
        conn,
        f"""
        SELECT f.id, f.name, f.name_en, {LATLON.format(a="f")}, f.status, f.species, f.head_count,
               f.has_manure_facility AS manure_facility, f.capacity, f.capacity_unit
        FROM livestock_farms f WHERE {_town_or_linked("f", "livestock_farms")} ORDER BY f.id
        """,
        {"town": town_id},
    )


def toilets(conn: Connection, town_id: int | None = None) -> LayerRows:
    return read_layer(
        conn,
        f"""
        SELECT f.id, f.code, f.name, f.name_en, {LATLON.format(a="f")}, f.status, f.kind, f.capacity,
               f.capacity_unit
        FROM public_toilets f WHERE {_town_filter("f")} ORDER BY f.id
        """,
        {"town": town_id},
    )


FLOW_SQL = f"""
SELECT l.id, l.stream, l.source_layer, l.source_id, l.target_layer, l.target_id,
       round(coalesce(lf.flow_t_per_day, 0)::numeric, 3) AS flow,
       round(ST_Length(l.geom::geography)::numeric) AS distance_m,
       round(ST_Y(ST_StartPoint(l.geom))::numeric, {COORD_DECIMALS}) AS lat1,
       round(ST_X(ST_StartPoint(l.geom))::numeric, {COORD_DECIMALS}) AS lon1,
       round(ST_Y(ST_EndPoint(l.geom))::numeric, {COORD_DECIMALS}) AS lat2,
       round(ST_X(ST_EndPoint(l.geom))::numeric, {COORD_DECIMALS}) AS lon2,
       coalesce(ls.status = 'operational' AND lt.status = 'operational', false) AS live
FROM chain_links l
LEFT JOIN chain_link_flow lf ON lf.link_id = l.id
LEFT JOIN chain_node ls ON ls.layer = l.source_layer AND ls.id = l.source_id
LEFT JOIN chain_node lt ON lt.layer = l.target_layer AND lt.id = l.target_id
"""


def source_link_count(conn: Connection) -> int:
    """Links leaving villages and farms: most of the lines, one per source."""
    return int(
        conn.execute(
            text("SELECT count(*) FROM chain_links WHERE source_layer = ANY(:layers)"),
            {"layers": list(SOURCE_LAYERS)},
        ).scalar_one()
    )


def flows(conn: Connection, town_id: int | None = None, with_source_links: bool = True) -> LayerRows:
    """Chain links as lines with their flow (t/day), length and whether both ends are operational
    (`live`); a town's are those touching it."""
    where = ["l.geom IS NOT NULL"]
    if not with_source_links:
        where.append("NOT (l.source_layer = ANY(:sources))")
    if town_id is not None:
        where.append("(ls.town_id = :town OR lt.town_id = :town)")
    return read_layer(
        conn,
        FLOW_SQL + " WHERE " + " AND ".join(where) + " ORDER BY l.stream, l.id",
        {"town": town_id, "sources": list(SOURCE_LAYERS)},
    )


VERSIONED_TABLES = (
    "cities",
    "towns",
    "grids",
    "communities",
    "villages",
    *FACILITY_LAYERS,
    "livestock_farms",
    "public_toilets",
    "chain_links",
)


def inventory_version(conn: Connection) -> str:
    """Changes whenever a row is added, removed or updated in any table a map shows (and the roads)."""
    # A sum over every row, not max(updated_at): updated_at is when the writing transaction began, so
    # an edit committed by a transaction older than the newest change would leave the maximum as it was.
    parts = " UNION ALL ".join(
        [
            f"SELECT '{t}' AS t, count(*)::text || '@' || "
            f"coalesce(sum(hashtextextended(id::text || '@' || updated_at::text, 0)), 0)::text AS v FROM {t}"
            for t in VERSIONED_TABLES
        ]
        # the road network has no updated_at; an import replaces it whole, so count + total cost tell
        + ["SELECT 'road_segments', count(*)::text || '@' || coalesce(sum(cost), 0)::text FROM road_segments"]
        # inspections are only added; what is overdue moves with the date
        + [
            "SELECT 'inspections', count(*)::text || '@' || coalesce(max(id), 0)::text || '@' || "
            "(now() AT TIME ZONE 'Asia/Shanghai')::date::text FROM inspections"
        ]
    )
    return str(
        conn.execute(text(f"SELECT string_agg(t || ':' || v, ' ' ORDER BY t) FROM ({parts}) x")).scalar()
    )


# The English name of a chain node's feature (villages have none): one indexed lookup per link end.
_ENGLISH_NAME_OF_NODE = (
    "CASE n.layer "
    + " ".join(
        f"WHEN '{layer}' THEN (SELECT e.name_en FROM {layer} e WHERE e.id = n.id)"
        for layer in (*FACILITY_LAYERS, "livestock_farms")
    )
    + " END"
)

# Columns holding a name, with the column of its English form.
NAME_COLUMNS = (("name", "name_en"), ("other_name", "other_name_en"), ("town_name", "town_name_en"))


def in_language(layer: LayerRows, lang: str) -> LayerRows:
    """The rows with each name in `lang` (English where there is one) and the English columns dropped,
    so a Chinese page carries no English names and an English one no Chinese names it can replace."""
    drop = []
    for name, english in NAME_COLUMNS:
        if english not in layer.fields:
            continue
        at, en_at = layer.fields.index(name), layer.fields.index(english)
        if lang == "en":
            for row in layer.rows:
                row[at] = row[en_at] or row[at]
        drop.append(en_at)
    keep = [i for i in range(len(layer.fields)) if i not in drop]
    return LayerRows([layer.fields[i] for i in keep], [[row[i] for i in keep] for row in layer.rows])


def feature_in_language(feature: dict[str, Any], lang: str) -> dict[str, Any]:
    """One feature (`point_feature`) with its names in `lang`, the English columns dropped."""
    one = in_language(LayerRows(list(feature), [list(feature.values())]), lang)
    return dict(zip(one.fields, one.rows[0], strict=True))


# -- one facility ----------------------------------------------------------------------------------
def point_feature(conn: Connection, layer: str, feature_id: int) -> dict[str, Any] | None:
    """One village, facility, farm or toilet with its common attributes; None when there is none."""
    if layer not in POINT_LAYERS:
        raise ValueError(f"layer: {layer!r} has no map of its own")
    # villages have no status or capacity of their own
    status = "'operational'::text" if layer == "villages" else "f.status"
    name_en = "NULL::text" if layer == "villages" else "f.name_en"
    capacity, unit = (
        ("NULL::float8", "NULL::text") if layer == "villages" else ("f.capacity", "f.capacity_unit")
    )
    row = (
        conn.execute(
            text(
                f"""
                SELECT f.id, f.code, f.name, {name_en} AS name_en, {LATLON.format(a="f")}, {status} AS status,
                       {capacity} AS capacity, {unit} AS capacity_unit,
                       cf.inflow_t_per_day AS inflow, cf.utilisation, t.code AS town_code,
                       t.name AS town_name, t.name_en AS town_name_en
                FROM {layer} f
                LEFT JOIN chain_facility cf ON cf.layer = :layer AND cf.id = f.id
                LEFT JOIN towns t ON t.id = f.town_id
                WHERE f.id = :id
                """
            ),
            {"layer": layer, "id": feature_id},
        )
        .mappings()
        .first()
    )
    return {k: _plain(v) for k, v in row.items()} if row else None


def links_of(conn: Connection, layer: str, feature_id: int) -> tuple[LayerRows, LayerRows]:
    """(upstream, downstream) links of one node, each with the other end's name, flow and distance."""

    def side(this: str, other: str) -> LayerRows:
        return read_layer(
            conn,
            FLOW_SQL.replace(
                "SELECT l.id,",
                f"SELECT n.name AS other_name, {_ENGLISH_NAME_OF_NODE} AS other_name_en, "
                "n.code AS other_code, l.id,",
            )
            + f""" JOIN chain_node n ON n.layer = l.{other}_layer AND n.id = l.{other}_id
            WHERE l.{this}_layer = :layer AND l.{this}_id = :id AND l.geom IS NOT NULL
            ORDER BY l.stream, lf.flow_t_per_day DESC NULLS LAST, l.id""",
            {"layer": layer, "id": feature_id},
        )

    return side("target", "source"), side("source", "target")


def service_area(
    conn: Connection, layer: str, feature_id: int, buffer_m: float = 300.0
) -> dict[str, Any] | None:
    """The area a facility actually serves: the hull of it and the sources linked to it, buffered."""
    geometry = conn.execute(
        text(
            f"""
            SELECT ST_AsGeoJSON(ST_Buffer(ST_ConvexHull(ST_Collect(
                array_agg(ST_StartPoint(l.geom)) || array_agg(ST_EndPoint(l.geom))))::geography,
                                          :buffer, 'quad_segs=4')::geometry, {COORD_DECIMALS})
            FROM chain_links l
            WHERE l.target_layer = :layer AND l.target_id = :id AND l.geom IS NOT NULL
            HAVING count(*) > 0
            """
        ),
        {"layer": layer, "id": feature_id, "buffer": buffer_m},
    ).scalar()
    return json.loads(geometry) if geometry else None


def grids(conn: Connection, town_id: int | None = None) -> list[dict[str, Any]]:
    """Responsibility grids (of one town, or all), simplified like the towns, with their people."""
    rows = conn.execute(
        text(
            f"""
            SELECT g.id, g.code, g.name, g.name_en, g.responsible_leader, g.grid_head_unit,
                   g.assisting_units, g.supervisors, g.population,
                   ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, :tol), {COORD_DECIMALS}) AS geometry
            FROM grids g WHERE {_town_filter("g")} ORDER BY g.code
            """
        ),
        {"tol": TOWN_SIMPLIFY_DEG / 5, "town": town_id},
    ).mappings()
    return [
        {**{k: _plain(v) for k, v in r.items() if k != "geometry"}, "geometry": json.loads(r["geometry"])}
        for r in rows
    ]


def inspection_status(facilities: list[dict[str, Any]], now: Any) -> LayerRows:
    """Each facility to visit (rows of `inspections.due.rows`) with its latest inspection and whether it
    is overdue: the inspection layer's rings."""
    fields = ["id", "layer", "code", "name", "name_en", "lat", "lon", "last_outcome", "last_inspected",
              "overdue", "every_days"]  # fmt: skip
    rows = [
        [
            f["id"],
            f["layer"],
            f["code"],
            f["name"],
            f["name_en"],
            round(f["lat"], COORD_DECIMALS),
            round(f["lon"], COORD_DECIMALS),
            f["last_outcome"] or "never",
            None if f["last_inspected_at"] is None else f["last_inspected_at"].date().isoformat(),
            f["due_at"] is None or f["due_at"] < now,
            f["every_days"],
        ]
        for f in facilities
    ]
    return LayerRows(fields, rows)
