"""`sanichain import` as a clerk runs it: exit codes (0 written, 1 rows rejected and nothing written, 2 a
file that cannot be imported), the summary on stdout, progress on stderr, the JSON report and the
rejected-rows CSV, and the audit as `cli:<OS user>`. Also the README's Importing examples, run as
written."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from service import cli
from service.config import REPO_ROOT
from service.db import make_engine
from service.demo import loader
from tests.conftest import DEMO_DIR
from tests.test_importing_job import build, csv_file, farms, state


@pytest.fixture
def engine(database_factory, migrated_template, monkeypatch) -> Iterator[Engine]:
    made = make_engine(database_factory(migrated_template))
    with made.begin() as conn:
        build(conn)
    monkeypatch.setenv("DATABASE_URL", made.url.render_as_string(hide_password=False))
    monkeypatch.setattr("getpass.getuser", lambda: "clerk")
    yield made
    made.dispose()


def test_a_clean_file_is_written_with_exit_0_a_summary_and_audited_as_the_os_user(engine, tmp_path, capsys):
    path = csv_file(tmp_path / "farms.csv", "LF-101,王家庄,生猪,1200,3.5,119.061,36.021,运行\n", "gbk")
    report = tmp_path / "report.json"
    assert cli.main(["import", "livestock_farms", str(path), "--report", str(report), "--progress"]) == 0
    captured = capsys.readouterr()
    assert "livestock_farms <- farms.csv (csv, gb18030): 1 rows read, 1 created, 0 updated" in captured.out
    assert captured.out.rstrip().endswith("written: 1 created, 0 updated")
    assert "import reading" in captured.err and "import done" in captured.err
    written = json.loads(report.read_text(encoding="utf-8"))
    assert written["summary"]["created"] == 1 and written["summary"]["written"] is True
    assert farms(engine)["LF-101"]["head_count"] == 1200
    with engine.connect() as conn:
        who = conn.execute(
            text(
                "SELECT action, user_name FROM audit_log "
                "WHERE action LIKE 'feature.%' OR action = 'import.run'"
            )
        ).all()
        history = conn.execute(text("SELECT user_name FROM feature_history")).scalars().all()
    # the create is named by the import's entry (D102), and has its history row
    assert sorted(tuple(w) for w in who) == [("import.run", "cli:clerk")]
    assert history == ["cli:clerk"]


def test_rejected_rows_exit_1_write_nothing_and_land_in_the_rejected_csv(engine, tmp_path, capsys):
    path = csv_file(
        tmp_path / "farms.csv",
        "LF-101,王家庄,生猪,1200,3.5,119.061,36.021,运行\nLF-102,李家庄,生猪,-5,3.5,119.062,36.022,运行\n",
    )
    before = state(engine)
    out = tmp_path / "rejected.csv"
    assert cli.main(["import", "livestock_farms", str(path), "--rejected", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "rejected row 3 存栏(头): must not be negative, got -5" in printed
    assert "nothing written: 1 row(s) rejected" in printed
    assert state(engine) == before
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert rows[0][-1] == "问题 problem" and [r[0] for r in rows[1:]] == ["LF-102"]
    assert cli.main(["import", "livestock_farms", str(path), "--dry-run"]) == 1
    assert cli.main(["import", "livestock_farms", str(path), "--dry-run", "--valid-rows-only"]) == 0
    assert state(engine) == before
    assert cli.main(["import", "livestock_farms", str(path), "--valid-rows-only"]) == 0
    assert sorted(farms(engine)) == ["LF-101", "LF-OLD1", "LF-OLD2"]


def test_valid_rows_only_with_every_row_rejected_exits_1_and_names_a_field_the_file_lacks(
    engine, tmp_path, capsys
):
    # no 处理单位 column: a new farm needs its capacity unit, and the problem names that field
    header = "编码,名称,畜种,存栏(头),经度,纬度,状态\n"
    path = csv_file(
        tmp_path / "farms.csv",
        "LF-301,李家庄,生猪,800,0,0,运行\nLF-302,赵家庄,生猪,900,119.061,36.021,运行\n",
        header=header,
    )
    before = state(engine)
    assert cli.main(["import", "livestock_farms", str(path), "--valid-rows-only"]) == 1
    out = capsys.readouterr().out
    assert "rejected row 3 capacity_unit: required: a string, one of m3, t/d" in out
    assert "rejected row 2 经度/纬度: coordinates are (0, 0)" in out
    assert out.rstrip().endswith("written: nothing, all 2 row(s) were rejected")
    assert state(engine) == before


def test_a_file_that_cannot_be_imported_exits_2_naming_the_file_and_what_is_wrong(engine, tmp_path, capsys):
    before = state(engine)
    good = csv_file(tmp_path / "farms.csv", "LF-101,王家庄,生猪,1200,3.5,119.061,36.021,运行\n")
    cases = [
        (["import", "livestock_farms", str(tmp_path / "missing.csv")], "missing.csv is not a file"),
        (["import", "livestock_farms", str(good), "--crs", "EPSG:999999"], "crs:"),
        (["import", "no_such_layer", str(good)], "no layer 'no_such_layer'"),
        (["import", "towns", str(good)], "layer: towns cannot be imported"),
        (["import", "livestock_farms", str(good), "--sheet", "一"], "sheet: a CSV file has no sheets"),
    ]
    for argv, said in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert said in err and err.startswith("sanichain: error: "), (argv, err)
    assert state(engine) == before


def test_the_importing_examples_of_the_readme_run_as_written(empty_database_url, tmp_path: Path):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Importing")
    end = readme.index("\n## ", start + 1)
    blocks = re.findall(r"```bash\n(.*?)```", readme[start:end], re.S)
    assert len(blocks) >= 2
    engine = make_engine(empty_database_url)
    loader.load(engine, DEMO_DIR)
    env = {
        **os.environ,
        "DATABASE_URL": empty_database_url,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + "\n".join(blocks)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    assert "2 rows read, 2 created, 0 updated, 0 unchanged, 0 rejected" in done.stdout
    assert "2 rows read, 0 created, 0 updated, 2 unchanged, 0 rejected" in done.stdout
    assert "nothing written (exit 1)" in done.stdout
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["summary"]["created"] == 2
    with engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT code, name, head_count FROM livestock_farms WHERE code LIKE 'LF-IMP-%' ORDER BY code"
            )
        ).all()
    engine.dispose()
    assert [tuple(r) for r in stored] == [
        ("LF-IMP-1", "王家庄生猪养殖场", 12000),
        ("LF-IMP-2", "李家庄奶牛场", 850),
    ]
