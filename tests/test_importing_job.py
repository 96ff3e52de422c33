"""Importing a city's files into the inventory, all or nothing: counts, row numbers, messages and
stored values, for each dirty case a real file has. Every file is written here, in the test.

Each test has a database of its own: a city of two towns side by side (A: 119.0–119.1°E, B:
119.1–119.2°E, both 36.0–36.1°N), a village in each and two farms in A.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyproj import Geod
from sqlalchemy import Engine, text

from service.accounts.audit import Actor
from service.editing.fields import EDITABLE_LAYERS
from service.importing.job import ImportRequest, Progress, run_import
from service.importing.report import Report
from service.importing.rows import Options
from tests import worlds

TOWN_A, TOWN_B = "370782101", "370782102"
ACTOR = Actor(user_name="clerk", route="test import")
GEOD = Geod(ellps="WGS84")
HEADER = "编码,名称,畜种,存栏(头),处理能力(吨/日),经度,纬度,状态\n"


def build(conn: Any) -> None:
    worlds.city(conn, worlds.square(119, 36, 0.2), name_en="Test City")
    worlds.town(conn, worlds.square(119, 36, 0.1), code=TOWN_A, name="甲镇")
    worlds.town(conn, worlds.square(119.1, 36, 0.1), code=TOWN_B, name="乙镇")
    worlds.community(conn, (119.05, 36.05), town_id=1, code="370782101201")
    worlds.community(conn, (119.15, 36.05), town_id=2, code="370782102201")
    worlds.village(conn, "VA", (119.05, 36.05), 900, town_id=1, community_id=1)
    worlds.village(conn, "VB", (119.15, 36.05), 600, town_id=2, community_id=2)
    worlds.farm(conn, "LF-OLD1", (119.03, 36.03), "pig", 800, capacity=5, capacity_unit="t/d")
    worlds.farm(conn, "LF-OLD2", (119.04, 36.04), "dairy", 150, capacity=3, capacity_unit="t/d")


@pytest.fixture
def engine(database_factory, migrated_template) -> Iterator[Engine]:
    from service.db import make_engine

    made = make_engine(database_factory(migrated_template))
    with made.begin() as conn:
        build(conn)
    yield made
    made.dispose()


def state(engine: Engine) -> dict[str, Any]:
    """Everything an import could change: every layer's rows and versions, history, feature audits."""
    with engine.connect() as conn:
        found: dict[str, Any] = {
            layer: tuple(
                conn.execute(
                    text(
                        f"SELECT count(*), coalesce(sum(version), 0), "
                        f"md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM {layer} t"
                    )
                ).one()
            )
            for layer in EDITABLE_LAYERS
        }
        found["history"] = conn.execute(text("SELECT count(*) FROM feature_history")).scalar()
        found["audit"] = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action LIKE 'feature.%'")
        ).scalar()
    return found


def farms(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT f.code, f.name, f.species, f.head_count, f.capacity, f.capacity_unit, f.status,
                          f.version, t.code AS town, ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat
                   FROM livestock_farms f LEFT JOIN towns t ON t.id = f.town_id"""
            )
        ).mappings()
        return {r["code"]: dict(r) for r in rows}


def csv_file(path: Path, body: str, encoding: str = "utf-8", header: str = HEADER) -> Path:
    path.write_bytes((header + body).encode(encoding))
    return path


def run(engine: Engine, path: Path, **request: Any) -> Report:
    options = request.pop("options", Options())
    return run_import(engine, ImportRequest("livestock_farms", path, options, **request), ACTOR)


def rejected(report: Report) -> list[tuple[int, str | None, str]]:
    return [(p.row, p.column, p.problem) for p in report.rejected.items]


# -- the write path ----------------------------------------------------------------------------------


def test_a_gbk_csv_with_chinese_headers_creates_every_farm_with_its_town_history_and_audit(engine, tmp_path):
    path = csv_file(
        tmp_path / "养殖场.csv",
        "LF-101,王家庄生猪养殖场,生猪,1.2万头,3.5,119.061,36.021,运行\n"
        "LF-102,鑫旺奶牛场（二期）,奶牛,850,12,119.151,36.052,在建\n",
        encoding="gbk",
    )
    seen: list[Progress] = []
    report = run_import(engine, ImportRequest("livestock_farms", path), ACTOR, progress=seen.append)
    s = report.summary
    assert (s.rows_read, s.created, s.updated, s.unchanged, s.rejected, s.written) == (2, 2, 0, 0, 0, True)
    assert (s.format, s.encoding, s.file_name) == ("csv", "gb18030", "养殖场.csv")
    stored = farms(engine)
    assert stored["LF-101"] | {"capacity": float(stored["LF-101"]["capacity"])} == {
        "code": "LF-101", "name": "王家庄生猪养殖场", "species": "pig", "head_count": 12000, "capacity": 3.5,
        "capacity_unit": "t/d", "status": "operational", "version": 1, "town": TOWN_A,
        "lon": 119.061, "lat": 36.021,
    }  # fmt: skip
    assert stored["LF-102"]["name"] == "鑫旺奶牛场（二期）" and stored["LF-102"]["town"] == TOWN_B
    assert stored["LF-102"]["status"] == "under_construction"
    with engine.connect() as conn:
        history = conn.execute(
            text("SELECT operation, version, user_name, after->'properties'->>'code' FROM feature_history")
        ).all()
        audits = conn.execute(
            text("SELECT action, layer, detail FROM audit_log WHERE action <> 'sign_in' ORDER BY id")
        ).all()
    assert sorted(tuple(h) for h in history) == [
        ("create", 1, "clerk", "LF-101"),
        ("create", 1, "clerk", "LF-102"),
    ]
    assert [a.action for a in audits] == ["feature.create", "feature.create", "import.run"]
    assert audits[0].detail == {"version": 1, "import": {"id": s.import_id, "file": "养殖场.csv"}}
    assert audits[2].detail["created"] == 2 and audits[2].detail["file_name"] == "养殖场.csv"
    assert next(p.stage for p in seen) == "reading" and seen[-1].stage == "done"
    assert {"checking", "writing", "chain"} <= {p.stage for p in seen}
    assert report.chain is not None and report.chain["checked"] is True


def test_one_bad_row_writes_nothing_and_the_report_names_its_row_column_and_problem(engine, tmp_path):
    path = csv_file(
        tmp_path / "farms.csv",
        "LF-101,王家庄,生猪,1200,3.5,119.061,36.021,运行\n"
        "LF-102,李家庄,生猪,-5,3.5,119.062,36.022,运行\n"
        "LF-103,赵家庄,生猪,300,3.5,119.063,36.023,运行\n",
    )
    before = state(engine)
    report = run(engine, path)
    assert state(engine) == before
    s = report.summary
    assert (s.rows_read, s.created, s.rejected, s.written) == (3, 2, 1, False)
    assert rejected(report) == [(3, "存栏(头)", "must not be negative, got -5")]
    out = tmp_path / "rejected.csv"
    report.write_rejected_csv(out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines == [
        [*HEADER.strip().split(","), "问题 problem"],
        [
            "LF-102",
            "李家庄",
            "生猪",
            "-5",
            "3.5",
            "119.062",
            "36.022",
            "运行",
            "存栏(头): must not be negative, got -5",
        ],
    ]
    report.discard()
