"""Exported files as GDAL reads them: geometry type, CRS, field types, Chinese text, counts and
coordinates equal to PostGIS; the `sanichain export` command; bad requests."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer

from service import cli
from service.models import LAYERS
from tests.gdal import field_types, ogr
from tests.problems import assert_problem
from tests.queries import rows, scalar

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is not installed")


@pytest.fixture(scope="module")
def farms_in_db(demo_engine) -> dict[int, tuple[Any, ...]]:
    farms = rows(demo_engine, "SELECT id, name, head_count, ST_X(geom), ST_Y(geom) FROM livestock_farms")
    return {r[0]: tuple(r[1:]) for r in farms}


def download(client: TestClient, url: str, path: Path) -> Path:
    response = client.get(url)
    assert response.status_code == 200, response.text
    path.write_bytes(response.content)
    return path


def gdal_rows(path: Path, *options: str, xy: bool = True) -> list[dict[str, str]]:
    """The features as GDAL reads them, dumped to CSV (with X/Y columns of the geometry when `xy`)."""
    as_xy = ("-lco", "GEOMETRY=AS_XY") if xy else ()
    out = ogr("ogr2ogr", "-f", "CSV", "/vsistdout/", str(path), *options, *as_xy)
    return list(csv.DictReader(io.StringIO(out)))


def assert_farms_match(rows: list[dict[str, str]], db: dict[int, tuple[Any, ...]], x="X", y="Y", fid="id"):
    assert len(rows) == len(db)
    for row in rows:
        name, head_count, lon, lat = db[int(row[fid])]
        assert row["name"] == name  # Chinese text survives
        assert int(row["head_count"]) == head_count
        assert float(row[x]) == pytest.approx(lon, abs=1e-9)
        assert float(row[y]) == pytest.approx(lat, abs=1e-9)


def test_geojson_export_is_a_wgs84_point_layer_gdal_reads_with_ids_types_and_coordinates(
    client, farms_in_db, tmp_path
):
    path = download(client, "/export/livestock_farms.geojson", tmp_path / "farms.geojson")
    info = ogr("ogrinfo", "-so", str(path), "livestock_farms")
    assert "Geometry: Point" in info and 'ID["EPSG",4326]' in info
    assert f"Feature Count: {len(farms_in_db)}\n" in info
    types = field_types(info)
    assert types["head_count"] == "Integer" and types["capacity"] == "Real"
    assert types["commissioned_on"] == "Date" and types["is_large_scale"] == "Integer(Boolean)"
    dumped = gdal_rows(path, "-sql", "SELECT FID AS id, name, head_count FROM livestock_farms")
    assert_farms_match(dumped, farms_in_db)


def test_geojson_sequence_has_one_rs_separated_feature_per_record(client, farms_in_db, tmp_path):
    path = download(client, "/export/livestock_farms.geojsonseq", tmp_path / "farms.geojsonseq")
    records = path.read_bytes().split(b"\x1e")
    assert records[0] == b"" and len(records) - 1 == len(farms_in_db)
    assert all(r.endswith(b"\n") for r in records[1:])
    info = ogr("ogrinfo", "-so", "-al", str(path))
    assert "Geometry: Point" in info and f"Feature Count: {len(farms_in_db)}\n" in info


def test_csv_has_a_bom_lon_lat_columns_and_opens_as_points_in_gdal(client, farms_in_db, tmp_path):
    path = download(client, "/export/livestock_farms.csv", tmp_path / "farms.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfid,code,name,")
    dumped = gdal_rows(path, "-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat")
    assert_farms_match(dumped, farms_in_db)


def test_csv_of_lines_carries_wkt_gdal_parses(client, demo_engine, tmp_path):
    path = download(client, "/export/chain_links.csv?stream=manure", tmp_path / "links.csv")
    info = ogr("ogrinfo", "-so", str(path), "links")
    expected = scalar(demo_engine, "SELECT count(*) FROM chain_links WHERE stream = 'manure'")
    assert f"Feature Count: {expected}\n" in info
    first = ogr("ogrinfo", "-q", str(path), "links", "-fid", "1")  # the WKT column became the geometry
    link_id = int(re.search(r"id \(String\) = (\d+)", first).group(1))
    geometry = re.search(r"^\s+(LINESTRING \(.*\))$", first, flags=re.M).group(1)
    wkt = scalar(demo_engine, "SELECT ST_AsText(geom) FROM chain_links WHERE id = :i", i=link_id)
    assert geometry.replace("LINESTRING (", "LINESTRING(") == wkt


def test_xlsx_opens_with_typed_columns_and_lon_lat(client, farms_in_db, tmp_path):
    path = download(client, "/export/livestock_farms.xlsx", tmp_path / "farms.xlsx")
    info = ogr("ogrinfo", "-so", str(path), "livestock_farms")
    types = field_types(info)
    assert types["head_count"] == "Integer" and types["capacity"] == "Real"
    assert types["updated_at (UTC)"] == "DateTime"
    assert_farms_match(gdal_rows(path, xy=False), farms_in_db, x="lon", y="lat")


def test_kml_placemarks_carry_names_attributes_and_wgs84_points(client, farms_in_db, tmp_path):
    path = download(client, "/export/livestock_farms.kml", tmp_path / "farms.kml")
    dumped = gdal_rows(path)
    assert len(dumped) == len(farms_in_db)
    for row in dumped:
        name, head_count, lon, lat = farms_in_db[int(row["id"])]
        assert row["Name"] == name and int(row["head_count"]) == head_count
        assert (float(row["X"]), float(row["Y"])) == pytest.approx((lon, lat), abs=1e-9)


def test_geopackage_has_the_geometry_type_crs_field_types_and_spatial_index(client, farms_in_db, tmp_path):
    path = download(client, "/export/livestock_farms.gpkg", tmp_path / "farms.gpkg")
    info = ogr("ogrinfo", "-so", str(path), "livestock_farms")
    assert "Geometry: Point" in info and 'ID["EPSG",4326]' in info and "FID Column = id" in info
    types = field_types(info)
    assert types["head_count"] == "Integer" and types["town_id"] == "Integer64"
    assert types["capacity"] == "Real" and types["commissioned_on"] == "Date"
    assert types["is_large_scale"] == "Integer(Boolean)" and types["updated_at"] == "DateTime"
    dumped = gdal_rows(
        path,
        "-sql",
        "SELECT CAST(id AS INTEGER) AS fid_copy, name, head_count, ST_X(geom) AS X, ST_Y(geom) AS Y "
        "FROM livestock_farms",
        xy=False,
    )
    assert_farms_match(dumped, farms_in_db, fid="fid_copy")
    assert "rtree_livestock_farms_geom" in ogr(
        "ogrinfo", str(path), "-sql", "SELECT name FROM sqlite_master WHERE type = 'table'"
    )


def test_geopackage_in_gauss_kruger_zone_40_has_projected_coordinates(client, farms_in_db, tmp_path):
    path = download(client, "/export/livestock_farms.gpkg?crs=EPSG:4528&species=pig", tmp_path / "gk.gpkg")
    assert "CGCS2000 / 3-degree Gauss-Kruger zone 40" in ogr("ogrinfo", "-so", str(path), "livestock_farms")
    dumped = gdal_rows(
        path,
        "-sql",
        "SELECT CAST(id AS INTEGER) AS fid_copy, ST_X(geom) AS X, ST_Y(geom) AS Y FROM livestock_farms",
        xy=False,
    )
    to_gk = Transformer.from_crs("OGC:CRS84", "EPSG:4528", always_xy=True)
    assert dumped
    for row in dumped:
        _, _, lon, lat = farms_in_db[int(row["fid_copy"])]
        assert (float(row["X"]), float(row["Y"])) == pytest.approx(to_gk.transform(lon, lat), abs=1e-3)


def test_all_gpkg_holds_every_layer_with_its_count(client, demo_engine, tmp_path):
    path = download(client, "/export/all.gpkg", tmp_path / "all.gpkg")
    for layer in LAYERS:
        expected = scalar(demo_engine, f"SELECT count(*) FROM {layer}")
        assert f"Feature Count: {expected}\n" in ogr("ogrinfo", "-so", str(path), layer), layer
    assert "Geometry: Multi Polygon" in ogr("ogrinfo", "-so", str(path), "towns")


def test_export_filters_are_the_items_filters(client, demo_engine, tmp_path):
    path = download(
        client,
        "/export/livestock_farms.geojson?species=pig&bbox=119.3,35.85,119.5,36.0",
        tmp_path / "pigs.geojson",
    )
    expected = scalar(
        demo_engine,
        "SELECT count(*) FROM livestock_farms WHERE species = 'pig' "
        "AND geom && ST_MakeEnvelope(119.3, 35.85, 119.5, 36.0, 4326)",
    )
    assert expected > 0 and f"Feature Count: {expected}\n" in ogr("ogrinfo", "-so", "-al", str(path))


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/export/livestock_farms.shp", 400, "format"),
        ("/export/farms.geojson", 404, None),
        ("/export/livestock_farms.geojson?crs=EPSG:4528", 400, "crs"),
        ("/export/livestock_farms.csv?limit=5", 400, "limit"),
        ("/export/towns.csv?geometry=xy", 400, "geometry"),
        ("/export/all.csv", 400, "format"),
        ("/export/all.gpkg?species=pig", 400, "species"),
        ("/export/livestock_farms.kml?filter=head_count >", 400, "filter"),
    ],
)
def test_bad_export_requests_are_problems(client, url, status, parameter):
    assert_problem(client.get(url), status, parameter)


def test_an_unknown_layer_is_named_alike_by_the_export_the_tiles_and_the_collections(client):
    for url in ("/export/farms.geojson", "/tiles/farms.json", "/tiles/farms/1/0/0.mvt", "/collections/farms"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["detail"] == "no layer 'farms'"


def test_too_many_features_for_one_sheet_is_a_limit_not_a_bad_parameter(client, monkeypatch):
    from service.export import tabular

    monkeypatch.setattr(tabular, "XLSX_MAX_ROWS", 3)
    body = assert_problem(client.get("/export/villages.xlsx"), 422)
    assert body["detail"] == "more than 3 features: too many for one Excel sheet; use CSV"


def test_export_command_writes_the_file_with_a_progress_bar(
    demo_database_url, farms_in_db, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("DATABASE_URL", demo_database_url)
    out = tmp_path / "farms.gpkg"
    code = cli.main(
        [
            "export",
            "livestock_farms",
            "-f",
            "gpkg",
            "-o",
            str(out),
            "--where",
            "species=pig,dairy",
            "--filter",
            "head_count > 0",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "livestock_farms.gpkg [" in captured.err and "100.0%" in captured.err
    assert '"features": ' in captured.out
    count = int(re.search(r'"features": (\d+)', captured.out).group(1))
    assert 0 < count < len(farms_in_db)
    assert f"Feature Count: {count}\n" in ogr("ogrinfo", "-so", str(out), "livestock_farms")


def test_export_command_reports_a_bad_parameter_in_one_line(demo_database_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", demo_database_url)
    code = cli.main(
        ["export", "livestock_farms", "-f", "csv", "-o", str(tmp_path / "x.csv"), "--bbox", "1,2"]
    )
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("sanichain: error: bbox:") and "\n" not in err
