"""Load a dataset in the demo's GeoJSON layout (gis_data/zhucheng/) into PostGIS, idempotently.

Each layer is upserted by its stable `code` in one statement (rows passed as one JSON document and
expanded by `json_to_recordset`), foreign keys resolved from codes in SQL; chain links are upserted
by (stream, source, target). Everything runs in one transaction: a failed load changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, text
from sqlalchemy.dialects import postgresql

from service.models import LAYERS, SOURCE_COLUMNS, TARGET_COLUMNS, City, Community
from service.roads import network

# Load order follows the foreign keys.
LOAD_ORDER = (
    "cities",
    "towns",
    "communities",
    "grids",
    "villages",
    "collection_points",
    "transfer_stations",
    "treatment_plants",
    "manure_centers",
    "biogas_centers",
    "livestock_farms",
    "public_toilets",
    "chain_links",
)
ROADS_FILE = "roads"  # optional roads.geojson: the road network, replaced as a whole (roads.network)
TABLES: dict[str, Table] = {
    "cities": City.__table__,  # type: ignore[dict-item]
    "communities": Community.__table__,  # type: ignore[dict-item]
    **{name: model.__table__ for name, model in LAYERS.items()},  # type: ignore[misc]
}
# Foreign-key column → (property holding the referenced code, referenced table).
CODE_REFERENCES = {
    "city_id": ("city_code", "cities"),
    "town_id": ("town_code", "towns"),
    "community_id": ("community_code", "communities"),
    "village_id": ("village_code", "villages"),
}
NOT_LOADED = {"id", "geom", "created_at", "updated_at", "version"}

Progress = Callable[[str, int], None]


class DemoDataError(ValueError):
    """The dataset files are missing, malformed or inconsistent; the message says where."""


def _pg_type(column: Column[Any]) -> str:
    return str(column.type.compile(dialect=postgresql.dialect()))


def _value_sql(column: Column[Any]) -> str:
    """A property missing from the file takes the column's server default, as a plain INSERT would."""
    default = column.server_default
    arg = getattr(default, "arg", None)
    if isinstance(arg, str):
        literal = arg.replace("'", "''")
        return f"coalesce(d.{column.name}, CAST('{literal}' AS {_pg_type(column)}))"
    return f"d.{column.name}"


def _plain_columns(table: Table) -> list[Column[Any]]:
    return [
        c
        for c in table.columns
        if c.name not in NOT_LOADED and c.computed is None and c.name not in CODE_REFERENCES
    ]


def _ref_columns(table: Table) -> list[Column[Any]]:
    return [c for c in table.columns if c.name in CODE_REFERENCES]


def expected_properties(layer: str) -> set[str]:
    if layer == "chain_links":
        return {"stream", "source_layer", "source_code", "target_layer", "target_code", "note"}
    table = TABLES[layer]
    return {c.name for c in _plain_columns(table)} | {CODE_REFERENCES[c.name][0] for c in _ref_columns(table)}


def upsert_sql(layer: str) -> str:
    """INSERT … SELECT FROM json_to_recordset(:rows) … ON CONFLICT (code) DO UPDATE for one layer."""
    table = TABLES[layer]
    plain = _plain_columns(table)
    refs = _ref_columns(table)
    record = [f"{c.name} {_pg_type(c)}" for c in plain]
    record += [f"{CODE_REFERENCES[c.name][0]} text" for c in refs]
    record.append("geometry json")
    targets = [c.name for c in plain] + [c.name for c in refs] + ["geom"]
    values = [_value_sql(c) for c in plain]
    joins = []
    for i, c in enumerate(refs):
        prop, ref_table = CODE_REFERENCES[c.name]
        values.append(f"r{i}.id")
        joins.append(f"LEFT JOIN {ref_table} r{i} ON r{i}.code = d.{prop}")
    values.append("ST_SetSRID(ST_GeomFromGeoJSON(d.geometry::text), 4326)")
    updated = [t for t in targets if t != "code"]
    updates = ", ".join(f"{t} = EXCLUDED.{t}" for t in updated)
    # Unchanged rows are left alone, so a reload does not bump their updated_at.
    changed = f"({', '.join(f'{layer}.{t}' for t in updated)}) IS DISTINCT FROM " + (
        f"({', '.join(f'EXCLUDED.{t}' for t in updated)})"
    )
    return (
        f"INSERT INTO {layer} ({', '.join(targets)}) "
        f"SELECT {', '.join(values)} FROM json_to_recordset(CAST(:rows AS json)) AS d({', '.join(record)}) "
        f"{' '.join(joins)} "
        f"ON CONFLICT (code) DO UPDATE SET {updates} WHERE {changed}"
    )


def missing_references_sql(layer: str) -> str | None:
    """Rows whose referenced code does not exist, found before the insert to name them."""
    refs = _ref_columns(TABLES[layer])
    if not refs:
        return None
    checks = []
    for c in refs:
        prop, ref_table = CODE_REFERENCES[c.name]
        checks.append(
            f"SELECT d.code, '{prop}' AS prop, d.{prop} AS value FROM json_to_recordset(CAST(:rows AS json)) "
            f"AS d(code text, {prop} text) WHERE d.{prop} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {ref_table} r WHERE r.code = d.{prop})"
        )
    return " UNION ALL ".join(checks) + " LIMIT 5"


def _endpoint_sql(columns: dict[str, str], side: str) -> list[str]:
    return [
        f"CASE WHEN d.{side}_layer = '{layer}' THEN (SELECT id FROM {layer} WHERE code = d.{side}_code) END"
        for layer in columns.values()
    ]


LINKS_SQL = (
    f"INSERT INTO chain_links (stream, note, {', '.join(SOURCE_COLUMNS)}, {', '.join(TARGET_COLUMNS)}) "
    f"SELECT d.stream, d.note, {', '.join(_endpoint_sql(SOURCE_COLUMNS, 'source'))}, "
    f"{', '.join(_endpoint_sql(TARGET_COLUMNS, 'target'))} "
    "FROM json_to_recordset(CAST(:rows AS json)) AS d(stream text, note text, source_layer text, "
    "source_code text, target_layer text, target_code text) "
    "ON CONFLICT (stream, source_layer, source_id, target_layer, target_id) "
    "DO UPDATE SET note = EXCLUDED.note "
    "WHERE chain_links.note IS DISTINCT FROM EXCLUDED.note"
)


def _unresolved_links_sql() -> str:
    def exists(side: str, columns: dict[str, str]) -> str:
        return " OR ".join(
            f"(d.{side}_layer = '{layer}' AND EXISTS (SELECT 1 FROM {layer} WHERE code = d.{side}_code))"
            for layer in columns.values()
        )

    return (
        "SELECT d.source_layer, d.source_code, d.target_layer, d.target_code "
        "FROM json_to_recordset(CAST(:rows AS json)) AS d(source_layer text, source_code text, "
        "target_layer text, target_code text) "
        f"WHERE NOT ({exists('source', SOURCE_COLUMNS)}) OR NOT ({exists('target', TARGET_COLUMNS)}) LIMIT 5"
    )


def read_layer(data_dir: Path, layer: str) -> list[dict[str, Any]]:
    path = data_dir / f"{layer}.geojson"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DemoDataError(f"{path}: file missing") from exc
    except json.JSONDecodeError as exc:
        raise DemoDataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise DemoDataError(f"{path}: not a GeoJSON FeatureCollection")
    allowed = expected_properties(layer)
    rows = []
    for i, feature in enumerate(doc.get("features", [])):
        props = feature.get("properties") or {}
        unknown = set(props) - allowed
        if unknown:
            raise DemoDataError(f"{path}: feature {i}: unknown properties {sorted(unknown)}")
        rows.append({**props, "geometry": feature.get("geometry")})
    return rows


def load_dataset(conn: Connection, data_dir: Path, progress: Progress | None = None) -> dict[str, int]:
    """Upsert every layer file of `data_dir` inside the caller's transaction; returns rows per layer."""
    counts: dict[str, int] = {}
    for layer in LOAD_ORDER:
        rows = read_layer(data_dir, layer)
        payload = {"rows": json.dumps(rows, ensure_ascii=False)}
        if layer == "chain_links":
            bad = conn.execute(text(_unresolved_links_sql()), payload).fetchall()
            if bad:
                raise DemoDataError(f"{data_dir}/chain_links.geojson: links to unknown features: {bad}")
            conn.execute(text(LINKS_SQL), payload)
        else:
            check = missing_references_sql(layer)
            if check:
                bad = conn.execute(text(check), payload).fetchall()
                if bad:
                    raise DemoDataError(f"{data_dir}/{layer}.geojson: unknown references {bad}")
            conn.execute(text(upsert_sql(layer)), payload)
        counts[layer] = len(rows)
        if progress:
            progress(layer, len(rows))
    roads = data_dir / f"{ROADS_FILE}.geojson"
    if roads.is_file() and not _foreign_road_network(conn):
        try:
            loaded = network.import_network(conn, network.read_features(roads))
        except network.RoadImportError as exc:
            raise DemoDataError(f"{roads}: {exc}") from exc
        counts[ROADS_FILE] = loaded["segments"]
        if progress:
            progress(ROADS_FILE, loaded["segments"])
    return counts


def _foreign_road_network(conn: Connection) -> bool:
    """A network that is not the demo's (its segments are coded RD-…) was imported: the demo keeps it."""
    return bool(
        conn.execute(text("SELECT EXISTS (SELECT 1 FROM road_segments WHERE code NOT LIKE 'RD-%')")).scalar()
    )


def load(engine: Engine, data_dir: Path, progress: Progress | None = None) -> dict[str, int]:
    with engine.begin() as conn:
        return load_dataset(conn, data_dir, progress)


def inventory_is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return not any(
            conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {layer})")).scalar() for layer in LOAD_ORDER
        )
