"""GIS files through the whole import (`sanichain import`, `run_import`): a field app's KML, a zipped GBK
Shapefile in Gauss-Krüger zone 40, a GeoPackage dry run, a GeoJSON with a legacy `crs` member. The
report names the format and the crs read from the file, rejected features by their position in the
file, and the rejected-rows CSV lists their attributes and geometry. Every file is written here.

The city is the one of tests/test_importing_job.py: towns A (119.0–119.1°E) and B (119.1–119.2°E),
both 36.0–36.1°N, village 1 in A and village 2 in B, two farms in A.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from pyproj import Geod, Transformer
from sqlalchemy import Engine, text

from service import cli
from service.config import forget_settings
from service.db import make_engine
from service.importing import bulk
from service.importing import rows as rows_
from service.importing.job import ImportRequest, Progress, run_import
from service.importing.report import PROBLEM_HEADER
from service.importing.rows import Options
from tests.test_importing_formats import write_layer, zipped_shapefile
from tests.test_importing_job import ACTOR, HEADER, TOWN_A, TOWN_B, build, csv_file, farms, state

GEOD = Geod(ellps="WGS84")


@pytest.fixture
def engine(database_factory, migrated_template, monkeypatch) -> Iterator[Engine]:
    made = make_engine(database_factory(migrated_template))
    with made.begin() as conn:
        build(conn)
    monkeypatch.setenv("DATABASE_URL", made.url.render_as_string(hide_password=False))
    monkeypatch.setattr("getpass.getuser", lambda: "clerk")
    yield made
    made.dispose()


def metres(a: Any, b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def zone40(lonlat: tuple[float, float]) -> tuple[float, float]:
    """CGCS2000 3° Gauss-Krüger zone 40, the zone in the easting (EPSG:4528)."""
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:4528", always_xy=True).transform(*lonlat)
    return float(x), float(y)


def rejected_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def audits(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT action, user_name FROM audit_log WHERE action <> 'sign_in' ORDER BY id")
        )
        return [(r.action, r.user_name) for r in found]


# -- a field app's KML, through `sanichain import` ------------------------------------------------------

KML_FARMS = {  # code: (name, species, head count, capacity t/d, position)
    "LF-K1": ("王家庄生猪养殖场", "生猪", 1200, 3.5, (119.031, 36.021)),
    "LF-K2": ("李家庄奶牛场", "奶牛", 85, 2.0, (119.042, 36.033)),
    "LF-K3": ("乙镇张家养殖场", "生猪", 600, 1.5, (119.151, 36.052)),
}


def placemark(code: str, geometry: str) -> str:
    name, species, heads, capacity, _ = KML_FARMS.get(code, ("鑫旺养殖场围栏", "生猪", 300, 1.0, None))
    return f"""    <Placemark>
      <name>{name}</name>
      <description>编码：{code}
畜种：{species}
存栏：{heads}头
处理能力：{capacity}吨/日</description>
      {geometry}
    </Placemark>
"""


def point(code: str) -> str:
    lon, lat = KML_FARMS[code][4]
    return f"<Point><coordinates>{lon},{lat},0</coordinates></Point>"


# As Ovital (奥维) exports a survey: one folder per town, a track drawn by mistake among the farms.
OVITAL_FARMS = f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
<Document>
  <name>养殖场普查</name>
  <Folder>
    <name>甲镇</name>
{placemark("LF-K1", point("LF-K1"))}{placemark("LF-K2", point("LF-K2"))}\
{placemark("LF-K9", "<LineString><coordinates>119.05,36.05,0 119.06,36.06,0</coordinates></LineString>")}\
  </Folder>
  <Folder>
    <name>乙镇</name>
{placemark("LF-K3", point("LF-K3"))}\
  </Folder>
</Document>
</kml>
"""


def test_an_ovital_kml_with_a_line_among_its_farms_is_refused_naming_it_then_written_without_it(
    engine, tmp_path, capsys
):
    path = tmp_path / "farms.kml"
    path.write_text(OVITAL_FARMS, encoding="utf-8")
    before = state(engine)
    out, report = tmp_path / "rejected.csv", tmp_path / "report.json"
    argv = ["import", "livestock_farms", str(path)]
    assert cli.main([*argv, "--rejected", str(out), "--report", str(report)]) == 1
    printed = capsys.readouterr().out
    assert (
        "livestock_farms <- farms.kml (kml, EPSG:4326): 4 rows read, 3 created, 0 updated, 0 unchanged, "
        "1 rejected" in printed
    )
    assert "  rejected row 3 geometry: geometry is a LineString: livestock_farms holds points\n" in printed
    assert "nothing written: 1 row(s) rejected" in printed
    assert state(engine) == before
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    assert {k: summary[k] for k in ("format", "encoding", "sheet", "crs", "rows_read", "rejected")} == {
        "format": "kml", "encoding": None, "sheet": None, "crs": "EPSG:4326", "rows_read": 4, "rejected": 1,
    }  # fmt: skip

    # The rejected placemark as the file has it: its attributes by GDAL's field names, its geometry.
    header, *lines = rejected_csv(out)
    assert header == ["id", "Name", "description", "timestamp", "begin", "end", "geometry", PROBLEM_HEADER]
    assert lines == [
        [
            "", "鑫旺养殖场围栏", "编码：LF-K9\n畜种：生猪\n存栏：300头\n处理能力：1.0吨/日", "", "", "",
            "LINESTRING Z (119.05 36.05 0, 119.06 36.06 0)",
            "geometry: geometry is a LineString: livestock_farms holds points",
        ]
    ]  # fmt: skip

    assert cli.main([*argv, "--valid-rows-only"]) == 0
    assert "3 created" in capsys.readouterr().out
    stored = farms(engine)
    for code, (name, _, heads, capacity, at) in KML_FARMS.items():
        got = stored[code]
        assert (got["name"], got["head_count"], float(got["capacity"]), got["version"]) == (
            name, heads, capacity, 1,
        )  # fmt: skip
        assert metres((got["lon"], got["lat"]), at) < 1.0
    assert (stored["LF-K1"]["species"], stored["LF-K2"]["species"]) == ("pig", "dairy")
    assert (stored["LF-K1"]["town"], stored["LF-K3"]["town"]) == (TOWN_A, TOWN_B)
    assert "LF-K9" not in stored
    with engine.connect() as conn:
        history = conn.execute(
            text(
                "SELECT h.operation, h.user_name, h.after, f.code FROM feature_history h "
                "JOIN livestock_farms f ON f.id = h.feature_id"
            )
        ).all()
        created_ids = (
            conn.execute(
                text(
                    "SELECT detail->'created_ids' FROM audit_log WHERE action = 'import.run' ORDER BY id DESC"
                )
            )
            .scalars()
            .first()
        )
        ids = conn.execute(
            text("SELECT id FROM livestock_farms WHERE code LIKE 'LF-K%' ORDER BY id")
        ).scalars()
    # D102: the creates' after-states are the stored rows; the import's one entry names their ids
    assert sorted(tuple(h) for h in history) == [
        ("create", "cli:clerk", None, code) for code in ("LF-K1", "LF-K2", "LF-K3")
    ]
    first, *_, last = list(ids)
    assert created_ids == [[first, last]] and last - first == 2
    assert audits(engine) == [
        ("import.run", "cli:clerk"),  # the refused attempt
        ("import.run", "cli:clerk"),
    ]


# -- a zipped GBK Shapefile in Gauss-Krüger zone 40, imported twice -----------------------------------

POINTS = [  # as the department surveyed them, in WGS 84; the file holds them in EPSG:4528
    ({"编码": "CP-S1", "名称": "甲村垃圾收集点", "village_id": "1", "处理能力": "2吨/日"}, (119.031, 36.061)),
    (
        {"编码": "CP-S2", "名称": "乙村收集点（东）", "village_id": "2", "处理能力": "1.5吨/日"},
        (119.162, 36.043),
    ),
]


def collection_points(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(
            text(
                """SELECT p.code, p.name, p.village_id, p.capacity, p.capacity_unit, p.version,
                          t.code AS town, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
                   FROM collection_points p JOIN towns t ON t.id = p.town_id"""
            )
        ).mappings()
        return {r["code"]: dict(r) for r in found}


def test_a_zipped_gbk_shapefile_in_zone_40_upserted_twice_is_written_once_then_left_unchanged(
    engine, tmp_path, capsys
):
    features = [(shapely.Point(at), attrs) for attrs, at in POINTS]
    path = zipped_shapefile(tmp_path, "points", features, crs="EPSG:4528", keep_cpg=False)
    argv = ["import", "collection_points", str(path), "--upsert-by", "code"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert (
        "collection_points <- points.zip (shapefile, GB18030, points, EPSG:4528): 2 rows read, 2 created, "
        "0 updated, 0 unchanged, 0 rejected" in printed
    )
    stored = collection_points(engine)
    assert {code: (p["name"], p["village_id"], float(p["capacity"]), p["capacity_unit"], p["town"])
            for code, p in stored.items()} == {
        "CP-S1": ("甲村垃圾收集点", 1, 2.0, "t/d", TOWN_A),
        "CP-S2": ("乙村收集点（东）", 2, 1.5, "t/d", TOWN_B),
    }  # fmt: skip
    for attrs, at in POINTS:
        assert metres((stored[attrs["编码"]]["lon"], stored[attrs["编码"]]["lat"]), at) < 1.0

    written = state(engine)
    assert cli.main(argv) == 0
    assert "2 rows read, 0 created, 0 updated, 2 unchanged, 0 rejected" in capsys.readouterr().out
    assert state(engine) == written  # no new version, history row or feature audit


# -- a GeoPackage dry run -------------------------------------------------------------------------------


def test_a_geopackage_dry_run_reports_what_it_would_create_and_writes_nothing(engine, tmp_path):
    farms_at = [
        (
            {"编码": "LF-G1", "名称": "王家庄猪场", "畜种": "生猪", "存栏": "1.2万头", "能力": "3吨/日"},
            (119.021, 36.011),
        ),
        (
            {"编码": "LF-G2", "名称": "鑫旺奶牛场", "畜种": "奶牛", "存栏": "850", "能力": "9吨/日"},
            (119.171, 36.081),
        ),
    ]
    path = write_layer(
        tmp_path / "养殖场.gpkg",
        [(shapely.Point(zone40(at)), attrs) for attrs, at in farms_at],
        crs="EPSG:4528",
        layer="养殖场",
    )
    before, audited = state(engine), audits(engine)
    report = run_import(engine, ImportRequest("livestock_farms", path, dry_run=True), ACTOR)
    s = report.summary
    assert (s.format, s.encoding, s.sheet, s.crs) == ("gpkg", None, "养殖场", "EPSG:4528")
    assert (s.rows_read, s.created, s.updated, s.unchanged, s.rejected, s.written, s.dry_run) == (
        2, 2, 0, 0, 0, False, True,
    )  # fmt: skip
    assert report.rejected_csv is None and report.rejected.items == []
    assert state(engine) == before and audits(engine) == audited


# -- GeoJSON with a legacy crs member ---------------------------------------------------------------------


def test_a_geojson_with_a_legacy_crs_member_is_read_in_that_crs_and_its_null_island_feature_rejected(
    engine, tmp_path
):
    at = (119.061, 36.021)
    east, north = zone40(at)
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4528"}},
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [east, north]},
                "properties": {"编码": "LF-J1", "名称": "王家庄养殖场", "畜种": "生猪", "存栏": 1200,
                               "处理能力": "3.5吨/日"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [0, 0]},
                "properties": {"编码": "LF-J2", "名称": "无坐标养殖场", "畜种": "奶牛", "存栏": 80,
                               "处理能力": "1吨/日"},
            },
        ],
    }  # fmt: skip
    path = tmp_path / "farms.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    report = run_import(engine, ImportRequest("livestock_farms", path, valid_rows_only=True), ACTOR)
    s = report.summary
    assert (s.format, s.crs, s.rows_read, s.created, s.rejected, s.written) == (
        "geojson", "EPSG:4528", 2, 1, 1, True,
    )  # fmt: skip
    assert [(p.row, p.column, p.problem) for p in report.rejected.items] == [
        (2, "geometry", "coordinates are (0, 0): a missing position, not a place")
    ]
    stored = farms(engine)["LF-J1"]
    assert metres((stored["lon"], stored["lat"]), at) < 1.0
    assert (stored["name"], stored["head_count"], stored["town"]) == ("王家庄养殖场", 1200, TOWN_A)
    assert "LF-J2" not in farms(engine)

    out = tmp_path / "rejected.csv"
    report.write_rejected_csv(out)
    report.discard()
    assert rejected_csv(out) == [
        ["编码", "名称", "畜种", "存栏", "处理能力", "geometry", PROBLEM_HEADER],
        ["LF-J2", "无坐标养殖场", "奶牛", "80", "1吨/日", "POINT (0 0)",
         "geometry: coordinates are (0, 0): a missing position, not a place"],
    ]  # fmt: skip


# -- what the reader says of the file, and progress in bytes ---------------------------------------------


def test_open_rows_names_the_format_header_and_crs_of_each_kind_of_file(tmp_path):
    titled = tmp_path / "farms.csv"
    titled.write_text("甲镇养殖场台账\n\n" + HEADER + "LF-1,场,生猪,10,1,119.05,36.05,运行\n", "utf-8")
    with rows_.open_rows(titled, "livestock_farms") as opened:
        assert (opened.format, opened.encoding, opened.sheet, opened.crs) == ("csv", "utf-8", None, None)
        assert opened.header == HEADER.strip().split(",") == opened.columns
        assert [(n, cells[0]) for n, cells in opened.records()] == [(4, "LF-1")]  # the title rows skipped
        assert [r.number for r in opened.rows()] == [4]

    gpkg = write_layer(
        tmp_path / "farms.gpkg", [(shapely.Point(zone40((119.05, 36.05))), {"编码": "LF-1"})],
        crs="EPSG:4528", layer="farms",
    )  # fmt: skip
    with rows_.open_rows(gpkg, "livestock_farms", Options(crs="EPSG:4528")) as opened:
        assert (opened.format, opened.sheet, opened.crs, opened.header) == (
            "gpkg",
            "farms",
            "EPSG:4528",
            ["编码"],
        )
        assert opened.header_of == {"code": "编码"}
        ((number, (code, wkt)),) = opened.records()
        assert (number, code) == (1, "LF-1") and wkt.startswith("POINT (40")

    features = [(shapely.Point(at), attrs) for attrs, at in POINTS]
    with_cpg = zipped_shapefile(tmp_path, "points", features, crs="EPSG:4528", keep_cpg=True)
    with rows_.open_rows(with_cpg, "collection_points") as opened:
        assert (opened.format, opened.encoding, opened.sheet, opened.crs) == (
            "shapefile", "CP936", "points", "EPSG:4528",
        )  # fmt: skip
        assert [r.properties["name"] for r in opened.rows()] == ["甲村垃圾收集点", "乙村收集点（东）"]

    kmz = tmp_path / "farms.kmz"
    with zipfile.ZipFile(kmz, "w") as archive:
        archive.writestr("doc.kml", OVITAL_FARMS)
    with rows_.open_rows(kmz, "livestock_farms", Options(sheet="乙镇")) as opened:
        assert (opened.format, opened.sheet, opened.crs) == ("kmz", "乙镇", "EPSG:4326")
        assert [(r.number, r.properties["code"]) for r in opened.rows()] == [(1, "LF-K3")]


def test_a_csv_read_row_by_row_reports_its_progress_in_rows_and_bytes_up_to_the_whole_file(
    engine, tmp_path, monkeypatch
):
    monkeypatch.setenv("SANICHAIN_IMPORT_BULK_CSV", "false")  # the lane of workbooks and GIS files
    monkeypatch.setenv("SANICHAIN_IMPORT_BATCH_ROWS", "100")
    monkeypatch.setenv("SANICHAIN_IMPORT_CHAIN_CHECK_MAX_ROWS", "0")
    forget_settings()
    body = "".join(
        f"LF-P{i:04d},养殖场{i},生猪,{100 + i},1,119.0{i % 90 + 10},36.05,运行\n" for i in range(1500)
    )
    path = csv_file(tmp_path / "farms.csv", body)
    seen: list[Progress] = []
    try:
        report = run_import(
            engine, ImportRequest("livestock_farms", path, dry_run=True), ACTOR, None, seen.append
        )
    finally:
        forget_settings()
    assert (report.summary.rows_read, report.summary.created, report.summary.rejected) == (1500, 1500, 0)
    size = path.stat().st_size
    reading = [p for p in seen if p.stage == "reading"]
    assert [p.rows for p in reading] == [0, *range(100, 1501, 100), 1500]
    read = [p.bytes_read for p in reading]
    assert all(isinstance(b, int) for b in read) and read == sorted(read)
    assert 0 < read[3] < size and read[-1] == size
    assert {p.total_bytes for p in seen if p.stage in ("reading", "checking", "done")} == {size}


def test_a_csv_staged_in_bulk_reports_the_bytes_copy_read_then_the_rows_staged(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("SANICHAIN_IMPORT_CHAIN_CHECK_MAX_ROWS", "0")
    monkeypatch.setattr(bulk, "_CHUNK", 4096)
    monkeypatch.setattr(bulk, "_PROGRESS_EVERY", 8192)
    forget_settings()
    body = "".join(
        f"LF-P{i:04d},养殖场{i},生猪,{100 + i},1,119.0{i % 90 + 10},36.05,运行\n" for i in range(1500)
    )
    path = csv_file(tmp_path / "farms.csv", body)
    seen: list[Progress] = []
    try:
        report = run_import(
            engine, ImportRequest("livestock_farms", path, dry_run=True), ACTOR, None, seen.append
        )
    finally:
        forget_settings()
    assert (report.summary.rows_read, report.summary.created) == (1500, 1500)
    size = path.stat().st_size
    reading = [p for p in seen if p.stage == "reading"]
    copying = [p.bytes_read for p in reading if p.rows == 0]
    assert copying[0] == 0 and copying == sorted(copying) and len(copying) >= 5  # every 8 KiB of ~80 KiB
    assert 0 < copying[2] < size
    assert (reading[-1].rows, reading[-1].bytes_read) == (1500, size)


def test_gis_files_that_cannot_be_imported_exit_2_naming_the_file_and_write_nothing(engine, tmp_path, capsys):
    gpkg = write_layer(tmp_path / "farms.gpkg", [(shapely.Point(119.05, 36.05), {"编码": "LF-1"})])
    cut = tmp_path / "cut.gpkg"
    cut.write_bytes(gpkg.read_bytes()[: gpkg.stat().st_size // 2])
    csv_named_gpkg = tmp_path / "fake.gpkg"
    csv_named_gpkg.write_text(HEADER, encoding="utf-8")
    escaping = tmp_path / "escaping.zip"
    with zipfile.ZipFile(escaping, "w") as archive:
        archive.writestr("farms.shp", b"\x00\x00\x27\x0a")
        archive.writestr("../../etc/passwd", b"root:x:0:0")
    layers = tmp_path / "two.gpkg"
    write_layer(layers, [(shapely.Point(119.05, 36.05), {"编码": "LF-1"})], layer="a")
    write_layer(layers, [(shapely.Point(119.05, 36.05), {"编码": "LF-2"})], layer="b", append=True)
    cases = [
        (cut, "cut.gpkg: GDAL cannot read it ("),
        (csv_named_gpkg, "fake.gpkg is not a GeoPackage: it holds text"),
        (escaping, "escaping.zip: member '../../etc/passwd' points outside the archive; refused"),
        (layers, "two.gpkg holds 2 layers (a, b): choose one with --sheet"),
    ]
    before, files = state(engine), sorted(tmp_path.rglob("*"))
    for path, said in cases:
        assert cli.main(["import", "livestock_farms", str(path)]) == 2, path
        err = capsys.readouterr().err
        assert err.startswith(f"sanichain: error: {path}: file: ") and said in err, err
    assert state(engine) == before
    assert sorted(tmp_path.rglob("*")) == files  # nothing unpacked beside the files
