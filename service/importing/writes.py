"""The import's writes, set-based: what each accepted row does (create, update, nothing), then one
INSERT and one UPDATE for all of them, and the history rows and audit entries they leave, written with
INSERT … SELECT.

A row whose code the inventory holds (with upsert by code) updates that feature with the values the
file gives (an empty cell keeps the stored value); when none differs it is unchanged and nothing is
written for it: no version, no history, no audit entry. The version trigger (migration 0008) raises the
version of every row that really changes, as for an edit. An update's history row and audit entry
carry the feature as the API serves it (`feature_json`), before and after, like `editing.store` does
for one feature.

A create (D102) leaves a history row at version 1 without its after-state: until the feature's first
edit (whose history row records it as its before-state) the after-state of its creation is the stored
row itself, and `editing.history` reads it from there. Its audit is the import's one `import.run`
entry, which names the ids created (`created_ids`, ranges), not one `feature.create` entry per feature.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects import postgresql

from service.accounts import audit
from service.editing import fields, validation
from service.features import catalogue
from service.features.params import feature_query
from service.features.query import feature_json, feature_source
from service.importing.checks import FACTS
from service.importing.staging import PROBLEMS, ROWS, staged_fields

PLAN = "import_plan"
BEFORE = "import_before"
AFTER = "import_after"


@dataclass(frozen=True)
class Counts:
    created: int
    updated: int
    unchanged: int


def plan(conn: Connection, layer: str) -> Counts:
    """`import_plan`: each accepted row's operation (create, update, unchanged), a new feature's id."""
    names = staged_fields(layer)
    differs = [f'(s."{c}" IS NOT NULL AND s."{c}" IS DISTINCT FROM l."{c}")' for c in names]
    differs.append("(s.geom IS NOT NULL AND s.geom IS DISTINCT FROM l.geom)")
    # the sequence named once (the function's call in the SELECT would look it up again for every row)
    sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": layer}).scalar_one()
    conn.execute(
        text(
            # New ids follow the rows' order in the file, however the rows were staged. A row that
            # matches no stored feature is a create without reading its staged values; only the rows
            # that match one are joined to theirs and to the feature. The rows are sorted narrow.
            f"""CREATE TEMP TABLE {PLAN} ON COMMIT DROP AS
                SELECT n, target_id, town_id, op,
                       CASE WHEN op = 'create' THEN nextval(CAST(:sequence AS regclass)) END AS new_id
                FROM (SELECT d.n, d.target_id, d.town_id, d.op
                      FROM (SELECT n, target_id, town_id, CAST('create' AS text) AS op
                            FROM {FACTS} WHERE target_id IS NULL
                            UNION ALL
                            SELECT f.n, f.target_id, f.town_id,
                                   CASE WHEN {" OR ".join(differs)} THEN 'update' ELSE 'unchanged' END
                            FROM {FACTS} f JOIN {ROWS} s USING (n) LEFT JOIN {layer} l ON l.id = f.target_id
                            WHERE f.target_id IS NOT NULL) d
                      WHERE NOT EXISTS (SELECT 1 FROM {PROBLEMS} p WHERE p.n = d.n AND p.rejects)
                      ORDER BY d.n) planned"""
        ),
        {"sequence": sequence},
    )
    # the planner knows nothing of a fresh temp table: without its size it hashes the staged rows (a
    # million wide rows) rather than the plan to join them for the INSERT
    conn.execute(text(f"ANALYZE {PLAN}"))
    counted: dict[str, int] = dict(conn.execute(text(f"SELECT op, count(*) FROM {PLAN} GROUP BY op")).all())
    return Counts(counted.get("create", 0), counted.get("update", 0), counted.get("unchanged", 0))


def _features_sql(layer: str, ids_sql: str) -> str:
    """SELECT id, feature (GeoJSON text as the API serves it) of the features whose ids `ids_sql` selects."""
    described = catalogue.layer(layer)
    q = feature_query(described, {})
    stmt = (
        select(described.id_column.label("id"), feature_json(q).label("feature"))
        .select_from(feature_source(q))
        .where(described.id_column.in_(select(text("id")).select_from(text(f"({ids_sql}) AS wanted"))))
    )
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def _snapshot(conn: Connection, name: str, layer: str, ids_sql: str) -> None:
    conn.execute(
        text(
            f"""CREATE TEMP TABLE {name} ON COMMIT DROP AS
                SELECT id, CAST(feature AS jsonb) AS feature FROM ({_features_sql(layer, ids_sql)}) j"""
        )
    )


def _defaults(layer: str) -> dict[str, Any]:
    """A column's database default, for a new feature whose row leaves it empty."""
    writable = fields.writable(layer)
    return {
        name: validation.server_default(writable[name])
        for name in staged_fields(layer)
        if getattr(writable[name].column, "server_default", None) is not None
    }


def write(conn: Connection, layer: str, actor: audit.Actor, import_ref: dict[str, str]) -> list[list[int]]:
    """The planned creates and updates, their history rows and the updates' audit entries; returns the
    ids created as [first, last] ranges, for the import's audit entry."""
    names = staged_fields(layer)
    has_town = catalogue.layer(layer).has_town
    defaults = _defaults(layer)
    params: dict[str, Any] = {f"d_{name}": value for name, value in defaults.items()}
    values = [f'COALESCE(s."{c}", :d_{c})' if c in defaults else f's."{c}"' for c in names]
    targets = ", ".join([*(f'"{c}"' for c in names), "geom", *(["town_id"] if has_town else []), "version"])
    sources = ", ".join(["p.new_id", *values, "s.geom", *(["p.town_id"] if has_town else []), "1"])
    with _indexes_rebuilt_if_bulk(conn, layer):
        _insert_creates(conn, layer, targets, sources, params)
    _history_of_creates(conn, layer, actor)
    updates = f"SELECT target_id AS id FROM {PLAN} WHERE op = 'update'"
    if conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {PLAN} WHERE op = 'update')")).scalar_one():
        _snapshot(conn, BEFORE, layer, updates)
        assignments = [f'"{c}" = COALESCE(s."{c}", l."{c}")' for c in names]
        assignments.append("geom = COALESCE(s.geom, l.geom)")
        if has_town:
            assignments.append("town_id = COALESCE(p.town_id, l.town_id)")
        conn.execute(
            text(
                f"""UPDATE {layer} l SET {", ".join(assignments)}
                    FROM {PLAN} p JOIN {ROWS} s USING (n)
                    WHERE p.op = 'update' AND l.id = p.target_id"""
            )
        )
        _snapshot(conn, AFTER, layer, updates)
        _history_and_audit_of_updates(conn, layer, actor, import_ref)
    return created_ranges(conn)


def created_ranges(conn: Connection) -> list[list[int]]:
    """The planned creates' ids as [first, last] ranges (one when no other session took ids meanwhile)."""
    first, last, count = conn.execute(
        text(f"SELECT min(new_id), max(new_id), count(*) FROM {PLAN} WHERE op = 'create'")
    ).one()
    if count == 0:
        return []
    if last - first + 1 == count:  # the ids are distinct: one range (no sort of the ids to find it)
        return [[int(first), int(last)]]
    found = conn.execute(
        text(
            f"""SELECT min(new_id), max(new_id)
                FROM (SELECT new_id, new_id - row_number() OVER (ORDER BY new_id) AS run
                      FROM {PLAN} WHERE op = 'create') numbered
                GROUP BY run ORDER BY 1"""
        )
    ).all()
    return [[int(first), int(last)] for first, last in found]


# Creates beyond this many, and more than the layer holds, are written with the layer's secondary indexes
# and unique constraints dropped and built again after (one build over a million rows takes a fraction
# of the time of a million inserts into each: two GiSTs, the code's unique index, the town's index).
# Dropping them locks the layer until the import commits. The primary key, and any index a foreign key
# relies on, stay.
BULK_CREATES = 50_000

_REBUILDABLE = """
    SELECT quote_ident(ic.relname) AS index_name, pg_get_indexdef(i.indexrelid) AS index_def,
           quote_ident(c.conname) AS constraint_name, pg_get_constraintdef(c.oid) AS constraint_def
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
    WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary
      AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f' AND r.conindid = i.indexrelid)
    ORDER BY ic.relname"""


def rebuildable_indexes(conn: Connection, layer: str) -> list[Any]:
    """The layer's indexes a bulk of creates drops and builds again: (index_name, index_def,
    constraint_name, constraint_def), the constraint's fields NULL for a plain index."""
    return list(conn.execute(text(_REBUILDABLE), {"t": layer}).all())


@contextlib.contextmanager
def _indexes_rebuilt_if_bulk(conn: Connection, layer: str) -> Iterator[None]:
    creates = conn.execute(text(f"SELECT count(*) FROM {PLAN} WHERE op = 'create'")).scalar_one()
    stored = conn.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": layer}
    ).scalar_one()
    if creates < BULK_CREATES or creates < stored:
        yield
        return
    found = rebuildable_indexes(conn, layer)
    for index in found:
        if index.constraint_name is not None:
            conn.execute(text(f"ALTER TABLE {layer} DROP CONSTRAINT {index.constraint_name}"))
        else:
            conn.execute(text(f"DROP INDEX {index.index_name}"))
    yield
    for index in found:
        if index.constraint_name is not None:
            conn.exec_driver_sql(
                f"ALTER TABLE {layer} ADD CONSTRAINT {index.constraint_name} {index.constraint_def}"
            )
        else:
            conn.exec_driver_sql(index.index_def)


def _insert_creates(conn: Connection, layer: str, targets: str, sources: str, params: dict[str, Any]) -> None:
    conn.execute(
        text(
            f"""INSERT INTO {layer} (id, {targets})
                SELECT {sources}
                FROM {PLAN} p JOIN {ROWS} s USING (n) WHERE p.op = 'create'
                ORDER BY s.geom"""
        ),
        params,
    )


def _who(layer: str, actor: audit.Actor) -> dict[str, Any]:
    return {
        "layer": layer,
        "user_id": actor.user_id,
        "user_name": actor.user_name,
        "role": actor.role,
        "route": actor.route,
        "address": actor.address,
        "user_agent": (actor.user_agent or "")[: audit.MAX_USER_AGENT] or None,
        "request_id": actor.request_id,
    }


def _history_of_creates(conn: Connection, layer: str, actor: audit.Actor) -> None:
    """Version 1 of each created feature, its after-state left to the stored row (see the module)."""
    who = _who(layer, actor)
    conn.execute(
        text(
            f"""INSERT INTO feature_history (layer, feature_id, version, operation, user_id, user_name,
                                             request_id)
                SELECT :layer, new_id, 1, 'create', :user_id, :user_name, :request_id
                FROM {PLAN} WHERE op = 'create' ORDER BY new_id"""
        ),
        {k: who[k] for k in ("layer", "user_id", "user_name", "request_id")},
    )


def _history_and_audit_of_updates(
    conn: Connection, layer: str, actor: audit.Actor, import_ref: dict[str, str]
) -> None:
    who = {**_who(layer, actor), "import": json.dumps(import_ref, ensure_ascii=False)}
    changed = f"""
        SELECT a.id, CAST(a.feature -> 'properties' ->> 'version' AS integer) AS version,
               b.feature AS before, a.feature AS after
        FROM {AFTER} a JOIN {BEFORE} b USING (id)"""
    conn.execute(
        text(
            f"""INSERT INTO feature_history (layer, feature_id, version, operation, user_id, user_name,
                                             request_id, before, after)
                SELECT :layer, c.id, c.version, 'update', :user_id, :user_name, :request_id,
                       c.before, c.after
                FROM ({changed}) c ORDER BY c.id"""
        ),
        {k: who[k] for k in ("layer", "user_id", "user_name", "request_id")},
    )
    conn.execute(
        text(
            f"""INSERT INTO audit_log (user_id, user_name, role, action, outcome, route, layer, target_id,
                                       before, after, detail, address, user_agent, request_id)
                SELECT :user_id, :user_name, :role, 'feature.update', 'ok', :route, :layer,
                       CAST(c.id AS text), c.before, c.after,
                       jsonb_build_object('version', c.version, 'import', CAST(:import AS jsonb)),
                       :address, :user_agent, :request_id
                FROM ({changed}) c ORDER BY c.id"""
        ),
        who,
    )


def touched(conn: Connection, layer: str, limit: int) -> list[tuple[str, int]]:
    """(layer, id) of the features written, at most `limit` of them."""
    rows = conn.execute(
        text(
            f"SELECT COALESCE(new_id, target_id) FROM {PLAN} WHERE op <> 'unchanged' ORDER BY n LIMIT :limit"
        ),
        {"limit": limit},
    ).scalars()
    return [(layer, int(i)) for i in rows]
