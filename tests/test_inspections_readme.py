"""The README's inspection example runs as written, against a real service over the demo."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from service.db import make_engine
from tests.readme_examples import readme, run_section, section_blocks

SECTION = "## Inspections"


def test_the_inspection_example_of_the_readme_records_once_and_reads_back(empty_database_url, tmp_path: Path):
    assert len(section_blocks(readme(), SECTION)) == 1
    done = run_section(empty_database_url, SECTION, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "added inspector1\tinspector",
        "201",
        "200",
        "defects leachate contained=false photos=1",
    ]
    engine = make_engine(empty_database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*), min(user_name), min(outcome) FROM inspections")).one()
        photo = conn.execute(text("SELECT content_type, size_bytes FROM inspection_photos")).one()
    engine.dispose()
    assert tuple(stored) == (1, "inspector1", "defects")
    assert tuple(photo) == ("image/png", 208)
