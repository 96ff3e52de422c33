"""The README's backup example runs as written against a real service's database."""

from __future__ import annotations

from pathlib import Path

from tests.readme_examples import readme, run_section, section_blocks

SECTION = "## Backup and restore"


def test_the_backup_example_of_the_readme_writes_a_dump_and_its_manifest(empty_database_url, tmp_path: Path):
    assert len(section_blocks(readme(), SECTION)) == 1
    done = run_section(empty_database_url, SECTION, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["30", "0"]  # the demo's 30 grids, no inspection yet
    assert (tmp_path / "backups" / "sanichain.dump").stat().st_size > 100_000
