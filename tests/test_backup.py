"""`sanichain backup` / `sanichain restore` round trip on a real cluster: the demo with an edit (history),
audit entries and an inspection with a photo, dumped, restored into an empty database, and every
table's row count and row checksum compared (computed again here, not taken from the manifest).
A restore into a database that is not empty, of a truncated dump, or against a manifest that does not
match, fails with a message and exit code 1; the truncated one leaves the target empty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service.api.app import create_app
from service.backup import MANIFEST_SUFFIX, fingerprint
from service.db import make_engine
from tests.accounts import role_headers
from tests.conftest import PgServer, demo_copy
from tests.test_inspections import PNG


@pytest.fixture(scope="module")
def source(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    with demo_copy(pg_server, migrated_template, "backup") as url:
        engine = make_engine(url)
        with engine.connect() as conn:
            station = conn.execute(
                text("SELECT id, version FROM transfer_stations ORDER BY id LIMIT 1")
            ).one()
        with TestClient(create_app(engine)) as client:
            edited = client.patch(
                f"/collections/transfer_stations/items/{station.id}",
                json={"properties": {"operator": "备份测试运营单位"}},
                headers={**role_headers(engine, "editor"), "If-Match": f'"{station.version}"',
                         "Content-Type": "application/merge-patch+json"},
            )  # fmt: skip
            assert edited.status_code == 200, edited.text
            at = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
            recorded = client.post(
                "/inspections",
                data={
                    "layer": "transfer_stations",
                    "feature_id": str(station.id),
                    "inspected_at": at,
                    "outcome": "ok",
                },
                files=[("photo", ("p.png", PNG, "image/png"))],
                headers={**role_headers(engine, "inspector"), "Idempotency-Key": uuid.uuid4().hex},
            )
            assert recorded.status_code == 201, recorded.text
        yield engine
        engine.dispose()


def sanichain(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def empty_database(pg_server: PgServer) -> tuple[str, str]:
    name = f"sanichain_test_restore_{uuid.uuid4().hex[:8]}"
    return name, pg_server.create(name)


def test_a_backup_restores_into_an_empty_database_identical_table_by_table(source, pg_server, tmp_path):
    url = source.url.render_as_string(hide_password=False)
    dump = tmp_path / "city.dump"
    made = sanichain(url, "backup", str(dump))
    assert made.returncode == 0, made.stderr
    assert dump.stat().st_size > 0 and Path(str(dump) + MANIFEST_SUFFIX).is_file()
    name, target = empty_database(pg_server)
    try:
        restored = sanichain(target, "restore", str(dump))
        assert restored.returncode == 0, restored.stderr
        assert "every table matches" in restored.stdout
        before, after = fingerprint(url), fingerprint(target)
        assert after == before
        for table in ("feature_history", "audit_log", "inspections", "inspection_photos", "grids", "users"):
            assert after[table]["rows"] > 0, table
        engine = make_engine(target)
        with engine.connect() as conn:
            assert bytes(conn.execute(text("SELECT content FROM inspection_photos")).scalar_one()) == PNG
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            # sequences came along: the next id follows the restored ones
            stations = conn.execute(text("SELECT max(id) FROM transfer_stations")).scalar_one()
            assert (
                conn.execute(
                    text("SELECT nextval(pg_get_serial_sequence('transfer_stations', 'id'))")
                ).scalar_one()
                > stations
            )
        engine.dispose()
        with source.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == version

        again = sanichain(target, "restore", str(dump))
        assert again.returncode == 1 and "not empty" in again.stderr
        assert fingerprint(target) == before
    finally:
        pg_server.drop(name)


def test_a_truncated_dump_restores_nothing_and_a_wrong_manifest_is_reported(source, pg_server, tmp_path):
    url = source.url.render_as_string(hide_password=False)
    dump = tmp_path / "city.dump"
    assert sanichain(url, "backup", str(dump)).returncode == 0
    manifest = Path(str(dump) + MANIFEST_SUFFIX)
    cut = tmp_path / "cut.dump"
    cut.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    Path(str(cut) + MANIFEST_SUFFIX).write_text(manifest.read_text())
    name, target = empty_database(pg_server)
    try:
        failed = sanichain(target, "restore", str(cut))
        assert failed.returncode == 1 and "nothing restored" in failed.stderr
        assert all(t["rows"] == 0 for t in fingerprint_or_empty(target).values())

        tampered = json.loads(manifest.read_text())
        tampered["tables"]["grids"]["rows"] += 1
        manifest.write_text(json.dumps(tampered))
        reported = sanichain(target, "restore", str(dump))
        assert reported.returncode == 1 and "differ from the backup: grids" in reported.stderr
    finally:
        pg_server.drop(name)


def fingerprint_or_empty(url: str) -> dict[str, dict[str, int]]:
    """The tables' figures, or none at all when the restore left no table behind."""
    engine = make_engine(url)
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one()
    engine.dispose()
    return {} if tables == 0 else fingerprint(url)
