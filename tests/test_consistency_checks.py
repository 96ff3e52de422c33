"""The database checks of the fuzzing (tests/consistency.py) find what they name.

Each test breaks the demo in one way inside a transaction (lifting a trigger or a foreign key where the
database itself would refuse the break), runs the check on it, and rolls everything back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from service.accounts import users
from tests import consistency
from tests.accounts import PASSWORD


@pytest.fixture
def conn(demo_engine: Engine) -> Iterator[Connection]:
    """A connection to the demo in a transaction that is always rolled back."""
    with demo_engine.connect() as connection, connection.begin() as transaction:
        yield connection
        transaction.rollback()


def execute(conn: Connection, sql: str, **params: object) -> None:
    conn.execute(text(sql), params)


def first_linked_village(conn: Connection) -> int:
    return int(conn.execute(text("SELECT min(source_village_id) FROM chain_links")).scalar_one())


def append_history(conn: Connection, feature_id: int, version: int, operation: str = "update") -> None:
    execute(
        conn,
        """INSERT INTO feature_history (layer, feature_id, version, operation)
           VALUES ('villages', :id, :v, :op)""",
        id=feature_id,
        v=version,
        op=operation,
    )


def test_the_demo_as_loaded_passes_every_check(conn):
    assert {name: check(conn) for name, check in consistency.CHECKS.items()} == {
        name: [] for name in consistency.CHECKS
    }


def test_a_change_without_history_is_a_version_the_history_does_not_know(conn):
    village = first_linked_village(conn)
    execute(conn, "UPDATE villages SET households = households + 1 WHERE id = :id", id=village)
    assert consistency.versions_match_history(conn) == [
        f"villages {village}: stored version 2, latest history none"
    ]


def test_a_feature_whose_history_ends_in_its_deletion_must_be_gone(conn):
    village = first_linked_village(conn)
    append_history(conn, village, 2, "delete")
    assert consistency.versions_match_history(conn) == [
        f"villages {village}: stored version 1, latest history 2 (delete)"
    ]


def test_a_gap_in_the_history_versions_is_found(conn):
    village = first_linked_village(conn)
    append_history(conn, village, 2)
    append_history(conn, village, 4)
    assert consistency.history_versions_contiguous(conn) == [
        f'villages {village}: history versions {{"2 update","4 update"}}'
    ]


def test_a_history_entry_without_its_audit_entry_is_found(conn):
    village = first_linked_village(conn)
    append_history(conn, village, 2)
    assert consistency.history_audited(conn) == [f"villages {village} version 2 (update) has no audit entry"]
    execute(
        conn,
        """INSERT INTO audit_log (action, outcome, layer, target_id, detail)
           VALUES ('feature.update', 'ok', 'villages', :id, '{"version": 2}')""",
        id=str(village),
    )
    assert consistency.history_audited(conn) == []


def test_a_saved_scenario_without_its_audit_entry_is_found(conn):
    saved = conn.execute(
        text("INSERT INTO planning_scenarios (name, request, result) VALUES ('x', '{}', '{}') RETURNING id")
    ).scalar_one()
    assert consistency.records_audited(conn) == [f"saved scenario {saved} has no audit entry"]


def test_a_link_left_behind_by_its_moved_village_is_found(conn):
    village = first_linked_village(conn)
    execute(conn, "ALTER TABLE villages DISABLE TRIGGER villages_refresh_links")
    execute(conn, "UPDATE villages SET geom = ST_Translate(geom, 0.01, 0) WHERE id = :id", id=village)
    links = (
        conn.execute(
            text("SELECT id FROM chain_links WHERE source_village_id = :id ORDER BY id"), {"id": village}
        )
        .scalars()
        .all()
    )
    found = consistency.links_as_recomputed(conn)
    assert [line.split(":")[0] for line in found] == [f"chain link {link}" for link in links]


def test_a_photo_without_its_inspection_is_found(conn):
    execute(conn, "ALTER TABLE inspection_photos DROP CONSTRAINT fk_inspection_photos_inspection_id")
    photo = conn.execute(
        text(
            """INSERT INTO inspection_photos (inspection_id, number, content_type, size_bytes, sha256,
                                             content)
               VALUES (987654321, 1, 'image/png', 1, 'x', '\\x00') RETURNING id"""
        )
    ).scalar_one()
    assert consistency.photos_have_inspections(conn) == [
        f"photo {photo} names inspection 987654321, which does not exist"
    ]


def test_an_import_left_running_or_holding_its_upload_is_found(conn):
    user = users.add(conn, "consistency-editor", "editor", PASSWORD)
    ids = [
        conn.execute(
            text(
                """INSERT INTO imports (user_id, user_name, layer, size_bytes, options, dry_run, status,
                                        upload_path)
                   VALUES (:user, 'consistency-editor', 'villages', 1, '{}', false, :status, :path)
                   RETURNING id"""
            ),
            {"user": user.id, "status": status, "path": path},
        ).scalar_one()
        for status, path in (("running", None), ("done", "/nowhere/upload.csv"), ("done", None))
    ]
    assert consistency.imports_finished(conn) == [
        f"import {ids[0]} is running",
        f"import {ids[1]} is done but keeps its upload",
    ]


def test_a_new_integrity_finding_is_explained_only_by_a_write_that_touched_its_feature(conn):
    village = first_linked_village(conn)
    before, since = consistency.integrity_findings(conn), consistency.mark(conn)
    removed = conn.execute(
        text(
            """DELETE FROM chain_links WHERE source_village_id = :id
               RETURNING id, stream, source_layer, source_id, target_layer, target_id"""
        ),
        {"id": village},
    ).all()
    new = consistency.integrity_findings(conn) - before
    assert {("source_unconnected", "villages", village, link.stream) for link in removed} <= new
    assert consistency.unexplained(new, consistency.written_since(conn, since)) == sorted(new, key=str)
    for link in removed:  # the same removals, recorded as the API records a deletion
        ends = {k: getattr(link, k) for k in ("source_layer", "source_id", "target_layer", "target_id")}
        execute(
            conn,
            """INSERT INTO feature_history (layer, feature_id, version, operation, before)
               VALUES ('chain_links', :id, 2, 'delete', CAST(:before AS jsonb))""",
            id=link.id,
            before=json.dumps({"properties": ends}),
        )
    assert consistency.unexplained(new, consistency.written_since(conn, since)) == []


def test_any_changed_table_and_any_audited_write_are_changes_but_refusals_are_not(conn):
    before = consistency.state(conn)
    execute(
        conn,
        """INSERT INTO audit_log (action, outcome)
           VALUES ('edit_inventory', 'refused'), ('chain.propose', 'ok')""",
    )
    assert consistency.changes(conn, before) == []
    execute(conn, "UPDATE towns SET name = name || ' (x)' WHERE id = (SELECT min(id) FROM towns)")
    audited = conn.execute(
        text("INSERT INTO audit_log (action, outcome) VALUES ('feature.update', 'ok') RETURNING id")
    ).scalar_one()
    assert consistency.changes(conn, before) == [
        "table towns changed",
        f"audit entry {audited}: feature.update ok",
    ]
