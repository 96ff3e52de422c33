"""The README's inspection example runs as written, against a real service over the demo."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from service.db import make_engine
from tests.readme_examples import readme, run_section, section_blocks

SECTION = "## An inspector's day: inspections"


def test_the_inspection_example_of_the_readme_records_once_and_reads_back(empty_database_url, tmp_path: Path):
    assert len(section_blocks(readme(), SECTION)) == 1
    done = run_section(empty_database_url, SECTION, tmp_path)
    assert done.returncode == 0, done.stderr
    engine = make_engine(empty_database_url)
    with engine.connect() as conn:
        station = conn.execute(text("SELECT min(id) FROM transfer_stations")).scalar_one()
        delivering = conn.execute(
            text(
                "SELECT count(*) FROM chain_links WHERE target_layer = 'transfer_stations' AND target_id = :s"
            ),
            {"s": station},
        ).scalar_one()
        behind = conn.execute(
            text(
                """SELECT count(DISTINCT v.source_id) FROM chain_links v JOIN chain_links c
                     ON c.source_layer = 'collection_points' AND c.source_id = v.target_id
                   WHERE v.source_layer = 'villages' AND v.stream = 'domestic_waste'
                     AND c.target_layer = 'transfer_stations' AND c.target_id = :s"""
            ),
            {"s": station},
        ).scalar_one()
        stored = conn.execute(text("SELECT count(*), min(user_name), min(outcome) FROM inspections")).one()
        photo = conn.execute(text("SELECT content_type, size_bytes FROM inspection_photos")).one()
    engine.dispose()
    assert tuple(stored) == (1, "inspector1", "defects")
    lines = done.stdout.splitlines()
    assert lines[:4] == [
        "added inspector1\tinspector",
        "201",
        "200",
        "defects leachate contained=false photos=1",
    ]
    # the demo's stations all have neighbours with room: every link gets an alternative
    assert lines[4:] == [f"{behind} villages, {delivering} of {delivering} links have an alternative"]
    assert behind > 0
    assert tuple(photo) == ("image/png", 208)
