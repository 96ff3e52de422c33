"""The README's editing examples run as written: every `bash` block of its editing section, in one
shell, against a real service over a copy of the demo."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from service.db import make_engine
from tests.readme_examples import readme, run_section, section_blocks

SECTION = "## Editing"


def test_the_editing_examples_of_the_readme_run_as_written(empty_database_url, tmp_path: Path):
    blocks = section_blocks(readme(), SECTION)
    assert len(blocks) == 1 and "If-Match" in blocks[0]
    done = run_section(empty_database_url, SECTION, tmp_path)
    engine = make_engine(empty_database_url)
    assert done.returncode == 0, done.stderr
    assert 'etag: "1"' in done.stdout.lower()
    with engine.connect() as conn:
        station = conn.execute(
            text("SELECT id, version, capacity FROM transfer_stations WHERE code = 'TS-NEW-1'")
        ).one()
        history = conn.execute(
            text(
                "SELECT version, operation, user_name FROM feature_history "
                "WHERE layer = 'transfer_stations' AND feature_id = :id ORDER BY version"
            ),
            {"id": station.id},
        ).all()
        town = conn.execute(
            text("SELECT t.code FROM transfer_stations s JOIN towns t ON t.id = s.town_id WHERE s.id = :id"),
            {"id": station.id},
        ).scalar()
    engine.dispose()
    # created, updated, restored to version 1, deleted, undeleted with the same id
    assert (station.version, float(station.capacity)) == (5, 80.0)
    assert [(h.version, h.operation) for h in history] == [
        (1, "create"), (2, "update"), (3, "restore"), (4, "delete"), (5, "restore")
    ]  # fmt: skip
    assert {h.user_name for h in history} == {"editor1"}
    assert town == "370782001"
