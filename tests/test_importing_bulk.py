"""A CSV's two lanes give one result: the bulk lane (COPY of the cells, the plain rows converted in
SQL, the rest row by row) and the row-by-row lane (`SANICHAIN_IMPORT_BULK_CSV=false`) report the same
rows, columns, problems and warnings, and store the same features, history and audit, for the same
dirty file, whether COPY reads it straight (no quotes) or Python's csv reader does (quoted cells, GBK).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from service.config import forget_settings
from service.db import make_engine
from service.importing import bulk, writes
from service.importing.job import ImportRequest, run_import
from service.importing.report import Report
from tests.test_importing_job import ACTOR, build, farms, state

HEADER = [
    "编码",
    "名称",
    "畜种",
    "存栏(头)",
    "处理能力(吨/日)",
    "经度",
    "纬度",
    "状态",
    "运营单位",
    "投运日期",
    "能力单位",
]
LONG_NAME = "长" * 201
# One row per dirty case (and plain rows between them), as a clerk's file has them.
DIRTY: list[list[str]] = [
    ["LF-1", "一号场", "生猪", "800", "5.5", "119.05", "36.05", "运行", "合作社", "2020-05-01", ""],
    ["LF-2", "二号场", "pig", "900", "3", "119.051", "36.051", "operational", "", "", ""],
    ["LF-3", "三号场", "奶牛", "1.2万头", "5吨/日", "119.052", "36.052", "在建", "", "", ""],
    ["LF-4", "四号场", "羊", "300", "2", "0", "0", "运行", "", "", ""],
    ["LF-5", "五号场", "羊", "300", "2", "36.05", "119.05", "运行", "", "", ""],
    ["LF-6", "六号场", "羊", "300", "2", "40500000", "4000000", "运行", "", "", ""],
    ["LF-7", "七号场", "羊", "300", "2", "", "", "运行", "", "", ""],
    ["LF-8", "八号场", "肉牛", "-5", "2", "119.053", "36.053", "运行", "", "", ""],
    ["LF-9", "九号场", "肉牛", "12.5", "2", "119.054", "36.054", "运行", "", "", ""],
    ["LF-10", "十号场", "鸭", "100", "2", "119.055", "36.055", "运行", "", "", ""],
    ["  LF-11 ", "十一号场\u3000", "蛋鸡", " 5000 ", "1", " 119.056", "36.056 ", "运行", "", "", ""],
    ["LF-12", "十二号场", "肉鸡", "20000", "1", "119.057", "36.057", "运行", "", "2020/5/1", ""],
    ["LF-13", "十三号场", "肉鸡", "20000", "1", "119.058", "36.058", "运行", "", "2020年5月1日", ""],
    ["LF-14", "十四号场", "肉鸡", "20000", "1", "119.059", "36.059", "运行", "", "2020-02-30", ""],
    ["LF-15", "十五号场", "肉鸡", "20000", "1", "119.060", "36.060", "运行", "", "1850-01-01", ""],
    ["LF-16", "十六号场", "生猪", "600", "5.123", "119.061", "36.061", "运行", "", "", ""],
    ["LF-17", "十七号场", "生猪", "600", "99999999999", "119.062", "36.062", "运行", "", "", ""],
    ["LF-1", "一号场重复", "生猪", "800", "5", "119.063", "36.063", "运行", "", "", ""],
    ["LF-OLD1", "旧场", "生猪", "800", "5", "119.064", "36.064", "运行", "", "", ""],
    ["LF-18", "十八号场", "生猪", "800", "5", "120.5", "36.05", "运行", "", "", ""],
    ["LF-19", "十九号场", "生猪", "800", "5", "119.15", "36.05", "停用", "", "", ""],
    ["LF-20", "", "生猪", "800", "5", "119.065", "36.065", "运行", "", "", ""],
    ["LF-21", LONG_NAME, "生猪", "800", "5", "119.066", "36.066", "运行", "", "", ""],
    ["-bad", "坏编码", "生猪", "800", "5", "119.067", "36.067", "运行", "", "", ""],
    ["LF-22", "二十二号场", "生猪", "800", "5", "119.068", "36.068", "运行", "", "", "m3"],
    ["LF-23", "二十三号场", "生猪", "800", "5", "119.069", "36.069", "运行", "", "", "t/d"],
    ["", "", "", "", "", "", "", "", "", "", ""],
    ["LF-24", "二十四号场", "生猪", "800", "", "119.070", "36.070", "运行", "", "", "m3"],
    ["LF-25", "二十五号场", "生猪", "800", "", "119.071", "36.071", "运行", "", "", ""],
    [
        "LF-26",
        "二十六号场",
        "生猪",
        "800",
        "0.5",
        "119.0712345678901",
        "36.0712345678901",
        "关闭",
        "",
        "",
        "",
    ],
    ["LF-27", "二十七号场", "生猪", "+5", "2", "119.072", "36.072", "运行", "", "", ""],
    ["LF-28", "二十八号场", "生猪", "abc", ".5", "119.073", "36.073", "运行", "", "", ""],
    ["LF-29", "二十九号场", "生猪", "800", "5", "119°4'30\"", "36°4'30\"", "运行", "", "", ""],
    ["LF-30", "三十号场", "生猪", "1,200", "5", "119.074", "36.074", "运行", "", "", ""],
    ["LF-31", "三十一号场", "生猪", "800", "5 t/d", "119.075", "36.075", "运行", "", "2021-12-31", "t/d"],
    ["LF-33", "三十三号场", "生猪", "800", "5", "119.077", "36.077", "运行", "", "2020-011-1", ""],
    ["LF-32", "三十二号场", "生猪", "800", "5", "119.076", "200", "运行", "", "", ""],
]
# What COPY can read straight: no quotes in any cell.
SIMPLE = [row for row in DIRTY if not any('"' in cell or "," in cell for cell in row)]


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8", quoted: bool = False,
              title: bool = False, crlf: bool = False) -> Path:  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL,
                        lineterminator="\r\n" if crlf else "\n")  # fmt: skip
    if title:
        writer.writerow(["诸城市规模养殖场台账（2024年）"] + [""] * (len(HEADER) - 1))
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))
    return path


@pytest.fixture
def two_worlds(database_factory, migrated_template) -> Iterator[tuple[Engine, Engine]]:
    made = [make_engine(database_factory(migrated_template)) for _ in range(2)]
    for engine in made:
        with engine.begin() as conn:
            build(conn)
    yield made[0], made[1]
    for engine in made:
        engine.dispose()


def lane(engine: Engine, path: Path, bulk: bool, monkeypatch: pytest.MonkeyPatch, **request: Any) -> Report:
    monkeypatch.setenv("SANICHAIN_IMPORT_BULK_CSV", "true" if bulk else "false")
    forget_settings()
    try:
        found = run_import(engine, ImportRequest("livestock_farms", path, **request), ACTOR)
    finally:
        monkeypatch.delenv("SANICHAIN_IMPORT_BULK_CSV")
        forget_settings()
    found.discard()
    return found


def spy(monkeypatch: pytest.MonkeyPatch, lanes: list[Any]) -> None:
    """Records what the bulk lane did: its `Loaded`, then "python" when Python's csv reader fed COPY."""
    stage, copy_read = bulk.stage, bulk._copy_read

    def staged(*args: Any, **kwargs: Any) -> Any:
        loaded = stage(*args, **kwargs)
        lanes.insert(0, loaded)
        return loaded

    def read(*args: Any, **kwargs: Any) -> None:
        lanes.append("python")
        copy_read(*args, **kwargs)

    monkeypatch.setattr(bulk, "stage", staged)
    monkeypatch.setattr(bulk, "_copy_read", read)


def comparable(report: Report) -> dict[str, Any]:
    said = report.to_json()
    said["summary"].pop("import_id")
    return said


def stored(engine: Engine) -> dict[str, Any]:
    """The farms with every stored value, and the history and audit the import left (ids aside)."""
    with engine.connect() as conn:
        history = conn.execute(
            text(
                """SELECT layer, feature_id, version, operation, after -> 'geometry',
                          (after -> 'properties') - 'created_at' - 'updated_at'
                   FROM feature_history ORDER BY 2, 3"""
            )
        ).all()
    counts = {name: found[:2] if isinstance(found, tuple) else found for name, found in state(engine).items()}
    return {"farms": farms(engine), "counts": counts, "history": [tuple(map(str, h)) for h in history]}


@pytest.mark.parametrize(
    ("rows", "options"),
    [
        (SIMPLE, {}),
        (SIMPLE, {"crlf": True, "title": True}),
        (DIRTY, {"quoted": True}),
        (DIRTY, {"encoding": "gb18030"}),
    ],
    ids=["simple-file-copied-straight", "crlf-with-a-title-row", "quoted-cells-read-by-python", "gbk"],
)
def test_the_bulk_and_row_by_row_lanes_report_and_store_the_same(
    two_worlds, tmp_path, monkeypatch, rows, options
):
    path = write_csv(tmp_path / "养殖场.csv", rows, **options)
    bulk_world, row_world = two_worlds
    lanes: list[Any] = []
    spy(monkeypatch, lanes)
    by_bulk = lane(bulk_world, path, True, monkeypatch, valid_rows_only=True)
    loaded, read_by_python = lanes[0], lanes[1:] == ["python"]
    # the lane was taken: the plain rows were converted in SQL, and COPY read a simple file itself
    # (LF-1, LF-2, LF-11 once trimmed, LF-18, LF-19, LF-23, LF-26, the duplicate LF-1 and LF-OLD1)
    assert loaded.plain == 9 and loaded.rows == len(rows) - 1  # the blank row is no data row
    assert read_by_python == (rows is DIRTY)  # its DMS text and "1,200" are quoted cells
    by_row = lane(row_world, path, False, monkeypatch, valid_rows_only=True)
    assert comparable(by_bulk) == comparable(by_row)
    assert stored(bulk_world) == stored(row_world)
    # the file is dirty enough to mean something: both lanes wrote rows and rejected rows
    assert by_bulk.summary.created >= 8 and by_bulk.summary.rejected >= 15


def test_the_plain_rows_of_a_clean_file_are_stored_with_the_values_the_file_gives(
    two_worlds, tmp_path, monkeypatch
):
    path = write_csv(tmp_path / "clean.csv", [DIRTY[0], DIRTY[1], DIRTY[29]])
    found = lane(two_worlds[0], path, True, monkeypatch)
    assert (found.summary.rows_read, found.summary.created, found.summary.rejected) == (3, 3, 0)
    stored_farms = farms(two_worlds[0])
    assert stored_farms["LF-1"]["capacity"] == pytest.approx(5.5)
    assert stored_farms["LF-1"]["capacity_unit"] == "t/d"
    assert stored_farms["LF-26"]["status"] == "closed"
    assert (stored_farms["LF-26"]["lon"], stored_farms["LF-26"]["lat"]) == (
        119.0712345678901,
        36.0712345678901,
    )
    assert stored_farms["LF-2"]["species"] == "pig" and stored_farms["LF-2"]["town"] == "370782101"


def gist_indexes(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE tablename = 'livestock_farms' AND indexdef LIKE '%USING gist%' ORDER BY 1"
                )
            )
        ]


def test_a_bulk_of_creates_rebuilds_the_layers_spatial_indexes_as_they_were(
    two_worlds, tmp_path, monkeypatch
):
    engine = two_worlds[0]
    before = gist_indexes(engine)
    assert len(before) == 1  # the geometry's (the farms have no geography index, D120)
    monkeypatch.setattr(writes, "BULK_CREATES", 2)
    path = write_csv(tmp_path / "clean.csv", [DIRTY[0], DIRTY[1], DIRTY[29]])
    found = lane(engine, path, True, monkeypatch)
    assert found.summary.created == 3
    assert gist_indexes(engine) == before
    with engine.connect() as conn:
        near = conn.execute(
            text(
                "SELECT code FROM livestock_farms "
                "WHERE ST_DWithin(geom::geography, ST_MakePoint(119.05, 36.05)::geography, 50)"
            )
        ).scalars()
        assert list(near) == ["LF-1"]


def test_a_nul_character_deep_in_a_csv_is_said_by_the_row_lane_not_a_server_error(
    two_worlds, tmp_path, monkeypatch
):
    rows = [DIRTY[0], DIRTY[1]] * 800 + [
        ["LF-N", "名称\x00", "生猪", "800", "5", "119.05", "36.05", "运行", "", "", ""]
    ]
    rows = [[f"LF-{i}", *row[1:]] for i, row in enumerate(rows)]
    path = write_csv(tmp_path / "nul.csv", rows)  # the NUL is past the first 64 KiB the sniffing reads
    found = lane(two_worlds[0], path, True, monkeypatch)
    assert found.summary.rows_read == 1601 and found.summary.rejected == 1
    said = [(p.row, p.problem) for p in found.rejected.items]
    assert said == [(1602, "must not contain the NUL character")]
