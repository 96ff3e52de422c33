"""Named checks that the database is consistent, for tests that write through the API at random.

Each check reads the database over a connection in a transaction the caller rolls back, and answers
the inconsistencies it found, one line each (none: consistent). `CHECKS` lists them by name.

Besides the checks: `integrity_findings` (the chain's integrity rules as comparable keys, to compare
before and after), and `state` / `changes` (a checksum of every table, to show that a request changed
nothing but its own refusal in the audit log).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine, text

from service.chain import flows, integrity
from service.editing.fields import EDITABLE_LAYERS
from service.models import Base

Check = Callable[[Connection], list[str]]
T = TypeVar("T")


def _lines(conn: Connection, sql: str, **params: object) -> list[str]:
    return [str(line) for line in conn.execute(text(sql), params).scalars()]


def versions_match_history(conn: Connection) -> list[str]:
    """Every feature's version is its latest history version (1, as loaded, when it has no history);
    a feature whose latest history entry is its deletion is gone, and only then."""
    found: list[str] = []
    for layer in EDITABLE_LAYERS:
        found += _lines(
            conn,
            f"""
            WITH latest AS (
                SELECT DISTINCT ON (feature_id) feature_id, version, operation FROM feature_history
                WHERE layer = :layer ORDER BY feature_id, version DESC)
            SELECT format('%s %s: stored version %s, latest history %s', :layer,
                          coalesce(f.id, h.feature_id), coalesce(f.version::text, 'none (gone)'),
                          coalesce(h.version || ' (' || h.operation || ')', 'none'))
            FROM {layer} f FULL JOIN latest h ON h.feature_id = f.id
            WHERE CASE WHEN f.id IS NULL THEN h.operation <> 'delete'
                       WHEN h.feature_id IS NULL THEN f.version <> 1
                       ELSE h.operation = 'delete' OR f.version <> h.version END
            ORDER BY 1""",
            layer=layer,
        )
    return found


def history_versions_contiguous(conn: Connection) -> list[str]:
    """A feature's history versions follow one another without a gap, and only version 1 is a create."""
    return _lines(
        conn,
        """SELECT format('%s %s: history versions %s', layer, feature_id,
                         array_agg(version || ' ' || operation ORDER BY version))
           FROM feature_history GROUP BY layer, feature_id
           HAVING max(version) - min(version) + 1 <> count(*)
               OR bool_or(operation = 'create' AND version <> 1)
           ORDER BY 1""",
    )


def history_audited(conn: Connection) -> list[str]:
    """Every history entry has its audit entry: the write's own (layer, id, version), or for a feature an
    import created, the import's entry naming its id among `created_ids`."""
    return _lines(
        conn,
        """SELECT format('%s %s version %s (%s) has no audit entry', h.layer, h.feature_id, h.version,
                         h.operation)
           FROM feature_history h
           WHERE NOT EXISTS (
                   SELECT 1 FROM audit_log a
                   WHERE a.action LIKE 'feature.%' AND a.outcome = 'ok' AND a.layer = h.layer
                     AND a.target_id = h.feature_id::text AND a.detail ->> 'version' = h.version::text)
             AND NOT (h.operation = 'create' AND EXISTS (
                   SELECT 1 FROM audit_log a
                   CROSS JOIN LATERAL jsonb_array_elements(a.detail -> 'created_ids') r
                   WHERE a.action = 'import.run' AND a.outcome = 'ok' AND a.layer = h.layer
                     AND h.feature_id BETWEEN (r ->> 0)::bigint AND (r ->> 1)::bigint))
           ORDER BY h.id""",
    )


def records_audited(conn: Connection) -> list[str]:
    """Every inspection and every saved scenario has the audit entry of the request that stored it."""
    return _lines(
        conn,
        """SELECT format('inspection %s has no audit entry', i.id) FROM inspections i
           WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'inspection.record'
                             AND a.after ->> 'inspection' = i.id::text)
           UNION ALL
           SELECT format('saved scenario %s has no audit entry', s.id) FROM planning_scenarios s
           WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'scenario.play'
                             AND a.target_id = s.id::text)""",
    )


def links_as_recomputed(conn: Connection) -> list[str]:
    """Every chain link's line is what drawing it again from its endpoints gives: the triggers that
    redraw a link when an endpoint moves kept them all current. The redrawing is undone."""
    with conn.begin_nested() as redrawn:
        conn.execute(text("CREATE TEMP TABLE stored_link_lines AS SELECT id, geom FROM chain_links"))
        conn.execute(text("UPDATE chain_links SET geom = NULL"))  # the BEFORE trigger draws each again
        found = _lines(
            conn,
            """SELECT format('chain link %s: stored %s, drawn from its endpoints %s', l.id,
                             ST_AsText(s.geom), ST_AsText(l.geom))
               FROM chain_links l JOIN stored_link_lines s USING (id)
               WHERE (l.geom)::bytea IS DISTINCT FROM (s.geom)::bytea
               ORDER BY l.id""",
        )
        redrawn.rollback()
    return found


def photos_have_inspections(conn: Connection) -> list[str]:
    """No inspection photo without its inspection."""
    return _lines(
        conn,
        """SELECT format('photo %s names inspection %s, which does not exist', p.id, p.inspection_id)
           FROM inspection_photos p LEFT JOIN inspections i ON i.id = p.inspection_id
           WHERE i.id IS NULL ORDER BY p.id""",
    )


def imports_finished(conn: Connection) -> list[str]:
    """No import left queued or running, and no finished import still holding its upload (only a dry
    run keeps it, for its confirmation)."""
    return _lines(
        conn,
        """SELECT format('import %s is %s', id, status) FROM imports
           WHERE status IN ('queued', 'running')
           UNION ALL
           SELECT format('import %s is %s but keeps its upload', id, status) FROM imports
           WHERE status IN ('done', 'failed') AND NOT dry_run AND upload_path IS NOT NULL""",
    )


CHECKS: dict[str, Check] = {
    check.__name__: check
    for check in (
        versions_match_history,
        history_versions_contiguous,
        history_audited,
        records_audited,
        links_as_recomputed,
        photos_have_inspections,
        imports_finished,
    )
}


def run(engine: Engine, check: Callable[[Connection], T]) -> T:
    """A check (or `integrity_findings`, `state`) in a transaction of its own, rolled back."""
    with engine.connect() as conn, conn.begin() as transaction:
        found = check(conn)
        transaction.rollback()
    return found


FindingKey = tuple[str, str, int, str | None]  # rule, layer, id, stream


def integrity_findings(conn: Connection) -> set[FindingKey]:
    """The chain's integrity findings (service.chain.integrity) without their numbers, computed in the
    caller's transaction."""
    flows.compute(conn)
    return {(f.rule, f.layer, f.id, f.stream) for f in integrity.check(conn)}


@dataclass(frozen=True)
class Mark:
    """How far the history and the chain links reached at one moment."""

    last_history_id: int
    last_link_id: int


def mark(conn: Connection) -> Mark:
    history, links = conn.execute(
        text(
            """SELECT (SELECT coalesce(max(id), 0) FROM feature_history),
                      (SELECT coalesce(max(id), 0) FROM chain_links)"""
        )
    ).one()
    return Mark(int(history), int(links))


def written_since(conn: Connection, since: Mark) -> set[tuple[str, int]]:
    """The features written since `since`, with both ends of every chain link written (as it was and as
    it is: a link moved away leaves its old target unfed) and of every link added without history (a
    chain assignment's)."""
    ends = """SELECT x -> 'properties' ->> 'source_layer', (x -> 'properties' ->> 'source_id')::bigint
              FROM written
              UNION SELECT x -> 'properties' ->> 'target_layer', (x -> 'properties' ->> 'target_id')::bigint
              FROM written"""
    rows = conn.execute(
        text(
            f"""WITH written AS (
                    SELECT x FROM feature_history h CROSS JOIN LATERAL (VALUES (h.before), (h.after)) v(x)
                    WHERE h.id > :history AND h.layer = 'chain_links' AND x IS NOT NULL
                    UNION ALL
                    SELECT jsonb_build_object('properties', jsonb_build_object(
                               'source_layer', source_layer, 'source_id', source_id,
                               'target_layer', target_layer, 'target_id', target_id))
                    FROM chain_links WHERE id > :links)
                SELECT layer, feature_id FROM feature_history WHERE id > :history
                UNION {ends}"""
        ),
        {"history": since.last_history_id, "links": since.last_link_id},
    ).all()
    return {(str(layer), int(feature_id)) for layer, feature_id in rows if layer is not None}


def unexplained(new_findings: set[FindingKey], written: set[tuple[str, int]]) -> list[FindingKey]:
    """The new findings that name a feature no write touched (directly or as a written link's end)."""
    return sorted((f for f in new_findings if (f[1], f[2]) not in written), key=str)


# Rows every request may change: a token's last use is noted whenever it signs a request in.
NOTED_ON_USE = {"api_tokens": ("last_used_at",)}
# Audit entries of requests that write nothing: refusals, failed sign-ins, and dry-run proposals.
AUDITED_WITHOUT_WRITING = frozenset({"chain.propose"})


@dataclass(frozen=True)
class State:
    """A checksum of each table but the audit log, and the audit log's last entry."""

    tables: dict[str, str]
    last_audit_id: int


def state(conn: Connection) -> State:
    parts = []
    for name, table in sorted(Base.metadata.tables.items()):
        if name == "audit_log":
            continue
        noted = NOTED_ON_USE.get(name, ())
        # a row as text (geometries as EWKB hex): far quicker than JSON, whose geometries are GeoJSON
        row = "ROW(" + ", ".join(f't."{c.name}"' for c in table.columns if c.name not in noted) + ")::text"
        digest = f"md5(coalesce(string_agg({row}, ',' ORDER BY t.id), ''))"
        parts.append(f"SELECT '{name}' AS name, {digest} AS digest FROM {name} t")
    tables = {r.name: r.digest for r in conn.execute(text(" UNION ALL ".join(parts)))}
    last = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()
    return State(tables, int(last))


def changes(conn: Connection, before: State) -> list[str]:
    """What changed since `before`: tables, and audit entries other than refusals and failures."""
    after = state(conn)
    found = [
        f"table {name} changed" for name, digest in after.tables.items() if before.tables[name] != digest
    ]
    found += _lines(
        conn,
        """SELECT format('audit entry %s: %s %s', id, action, outcome) FROM audit_log
           WHERE id > :last AND outcome = 'ok' AND NOT action = ANY(:without_writing) ORDER BY id""",
        last=before.last_audit_id,
        without_writing=sorted(AUDITED_WITHOUT_WRITING),
    )
    return found
