"""Bad files for the import: cut short, the wrong format behind a right name, zip bombs, member names
that climb out of the archive, archives without a shapefile. Each is refused with a message naming
the file and the problem, and nothing is unpacked outside a temporary directory.

The last test follows a formula-like name from an imported file through the CSV and XLSX exports.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from pyogrio import raw
from sqlalchemy import Engine

from service.accounts.audit import Actor
from service.api.app import create_app
from service.config import forget_settings
from service.editing import store
from service.errors import BadParameter
from service.importing import archives
from service.importing.rows import read
from tests import worlds


def refusal(path: Path, layer: str = "livestock_farms") -> str:
    with pytest.raises(BadParameter) as raised:
        list(read(path, layer))
    assert raised.value.parameter == "file"
    return raised.value.message


def gpkg(path: Path) -> Path:
    points = shapely.to_wkb(np.array([shapely.Point(119.4 + i / 1000, 36.0) for i in range(200)]))
    names = np.array([f"养殖场{i}" for i in range(200)], dtype=object)
    raw.write(path, points, [names], ["名称"], layer="farms", crs="EPSG:4326", geometry_type="Point")
    return path


def cut(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# -- cut short -----------------------------------------------------------------------------------------


def test_a_geopackage_cut_short_is_refused_naming_it(tmp_path):
    path = cut(gpkg(tmp_path / "farms.gpkg"), 0.5)
    assert refusal(path).startswith("file: farms.gpkg: GDAL cannot read it (")


def test_a_zip_cut_short_is_refused_as_a_damaged_archive(tmp_path):
    path = tmp_path / "farms.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("farms.shp", os.urandom(4000))
        z.writestr("farms.dbf", os.urandom(4000))
    cut(path, 0.6)
    assert refusal(path).startswith("file: farms.zip: not a readable zip archive (cut short or damaged")


def test_an_xlsx_cut_short_is_refused_as_an_unreadable_workbook(tmp_path):
    workbook = Workbook()
    for i in range(300):
        workbook.active.append([f"LF-{i}", f"养殖场{i}", 119.4, 36.0])
    path = tmp_path / "farms.xlsx"
    workbook.save(path)
    cut(path, 0.7)
    message = refusal(path)
    assert message.startswith("file: farms.xlsx: not a readable zip archive") or message.startswith(
        "file: farms.xlsx is not a readable XLSX workbook"
    )


# -- the wrong format behind a right name ---------------------------------------------------------------


def test_a_csv_named_gpkg_is_refused_as_not_a_geopackage(tmp_path):
    path = tmp_path / "farms.gpkg"
    path.write_text("编码,名称,经度,纬度\nLF-1,某场,119.4,36.0\n", encoding="utf-8")
    assert refusal(path) == "file: farms.gpkg is not a GeoPackage: it holds text"


def test_a_png_named_csv_is_refused_as_not_text(tmp_path):
    path = tmp_path / "farms.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    assert refusal(path) == "file: farms.csv is not a text file: it holds a PNG image"


def test_a_png_named_zip_and_a_csv_named_kml_are_refused(tmp_path):
    png = tmp_path / "farms.zip"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    assert refusal(png) == "file: farms.zip is not a zip archive: it holds a PNG image"
    kml = tmp_path / "farms.kml"
    kml.write_text("name,lon,lat\n", encoding="utf-8")
    assert refusal(kml) == "file: farms.kml is not a KML document: it holds text"


# -- zip bombs -------------------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_by_its_compression_ratio_before_anything_is_unpacked(tmp_path, monkeypatch):
    path = tmp_path / "farms.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("farms.shp", b"\x00" * (50 << 20))  # 50 MB of zeros: about 50 kB packed
    assert path.stat().st_size < 100_000
    unpacked: list[str] = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: unpacked.append("opened"))
    message = refusal(path)
    assert message.startswith("file: farms.zip: member 'farms.shp' is compressed ")
    assert message.endswith(":1, more than 200:1 (a zip bomb?)")
    assert unpacked == []


def test_archive_limits_on_members_size_and_total_come_from_settings(tmp_path, monkeypatch):
    path = tmp_path / "farms.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i in range(3):
            z.writestr(f"part{i}.dbf", os.urandom(3000))
    try:
        monkeypatch.setenv("SANICHAIN_IMPORT_ARCHIVE_MAX_MEMBER_BYTES", "2000")
        forget_settings()
        assert refusal(path) == "file: farms.zip: member 'part0.dbf' unpacks to 3,000 bytes, more than 2,000"
        monkeypatch.setenv("SANICHAIN_IMPORT_ARCHIVE_MAX_MEMBER_BYTES", "5000")
        monkeypatch.setenv("SANICHAIN_IMPORT_ARCHIVE_MAX_TOTAL_BYTES", "8000")
        forget_settings()
        assert refusal(path) == "file: farms.zip: the archive unpacks to more than 8,000 bytes"
        monkeypatch.setenv("SANICHAIN_IMPORT_ARCHIVE_MAX_MEMBERS", "2")
        forget_settings()
        assert refusal(path) == "file: farms.zip: 3 members in the archive, more than 2"
    finally:
        monkeypatch.undo()
        forget_settings()


def test_an_xlsx_bomb_is_refused_before_openpyxl_unpacks_it(tmp_path):
    path = tmp_path / "farms.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b" " * (30 << 20))
    message = refusal(path)
    assert message.startswith("file: farms.xlsx: member 'xl/worksheets/sheet1.xml' is compressed ")


# -- member names that climb out --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member", ["../../etc/passwd", "/etc/passwd", "farms/../../outside.shp", "C:\\Windows\\farms.shp"]
)
def test_a_member_name_outside_the_archive_refuses_the_archive_and_writes_nothing(tmp_path, member):
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    path = inner / "farms.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("farms.shp", b"\x00\x00\x27\x0a")
        z.writestr(member, b"root:x:0:0")
    before = sorted(p for p in tmp_path.rglob("*"))
    assert refusal(path) == f"file: farms.zip: member {member!r} points outside the archive; refused"
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert archives.member_path(member) is None


def test_an_archive_without_a_shapefile_lists_what_it_holds(tmp_path):
    path = tmp_path / "farms.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("farms.dbf", b"")
        z.writestr("readme.txt", "见附件")
    assert refusal(path) == "file: farms.zip holds no .shp shapefile (it has farms.dbf)"


def test_an_archive_with_two_shapefiles_asks_which(tmp_path):
    path = tmp_path / "dept.zip"
    with zipfile.ZipFile(path, "w") as z:
        for stem in ("farms", "towns"):
            z.writestr(f"{stem}.shp", b"\x00\x00\x27\x0a")
    assert refusal(path) == "file: dept.zip holds 2 shapefiles (farms, towns): choose one with --sheet"


# -- formulas on the way back out ---------------------------------------------------------------------------

FORMULA = "=cmd|' /C calc'!A0"


def json_like(properties: dict[str, Any]) -> dict[str, Any]:
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in properties.items()}


@pytest.fixture
def imported(empty_engine: Engine, tmp_path: Path) -> Engine:
    """Stations read from a clerk's CSV and written through the editing store, as an import does."""
    with empty_engine.begin() as conn:
        worlds.one_town(conn, worlds.square(119, 36, 0.2), (119.1, 36.1))
    path = tmp_path / "stations.csv"
    path.write_text(
        "编码,名称,运营单位,处理能力(吨/日),经度,纬度\n"
        f'TS-F1,"{FORMULA}",+1+1,10,119.10,36.10\n'
        "TS-F2,@SUM(A1:A2),-2+3,20,119.11,36.11\n",
        encoding="utf-8",
    )
    rows = list(read(path, "transfer_stations"))
    assert [r.properties["name"] for r in rows] == [FORMULA, "@SUM(A1:A2)"]  # read as text, exactly
    operations = [
        store.Operation(
            "create",
            "transfer_stations",
            # JSON numbers, as a Feature carries them (the reader keeps Decimals)
            feature={"type": "Feature", "geometry": r.geometry, "properties": json_like(r.properties)},
        )
        for r in rows
    ]
    with empty_engine.begin() as conn:
        store.apply(conn, operations, Actor(user_name="cli:test", route="import test"))
    return empty_engine


def test_formula_like_names_from_an_imported_file_come_back_inert_in_csv_and_xlsx_exports(imported):
    with TestClient(create_app(imported)) as client:
        as_csv = client.get("/export/transfer_stations.csv", params={"sortby": "code"})
        as_xlsx = client.get("/export/transfer_stations.xlsx", params={"sortby": "code"})
    assert as_csv.status_code == 200 and as_xlsx.status_code == 200
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [(r["code"], r["name"], r["operator"]) for r in rows] == [
        ("TS-F1", "'" + FORMULA, "'+1+1"),
        ("TS-F2", "'@SUM(A1:A2)", "'-2+3"),
    ]
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    header = [c.value for c in sheet[1]]
    cells = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]
    assert [(c["name"].value, c["name"].data_type) for c in cells] == [
        ("'" + FORMULA, "s"),
        ("'@SUM(A1:A2)", "s"),
    ]
    assert [c["operator"].value for c in cells] == ["'+1+1", "'-2+3"]
