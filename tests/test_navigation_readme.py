"""The README's search and problems examples run as written, against a real service over the demo."""

from __future__ import annotations

from pathlib import Path

from tests.readme_examples import readme, run_section, section_blocks

SECTION = "## Finding things and what needs attention"


def test_the_search_and_problems_examples_of_the_readme_run_as_written(empty_database_url, tmp_path: Path):
    assert len(section_blocks(readme(), SECTION)) == 1
    done = run_section(empty_database_url, SECTION, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("TP-INC-2 诸城市生活垃圾焚烧发电厂（二期） http://")
    assert lines[0].endswith("/maps/facilities/treatment_plants/" + lines[0].rsplit("/", 1)[1])
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["towns", "370782101"],
        ["manure_centers", "MC-01"],
        ["transfer_stations", "TS-370782101"],
    ]
    assert lines[4] == "Zhigou Town waste transfer station in Zhigou Town"
    # the demo has no problem: every kind counted, all zero
    assert lines[5] == (
        '{"total":0,"by_kind":{"overloaded":0,"near_capacity":0,"inactive_with_flows":0,'
        '"unconnected":0,"integrity":0}}'
    )
    assert lines[6] == "<title>完整性检查</title>"
    assert len(lines) == 7
