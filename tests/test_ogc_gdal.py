"""GDAL's OAPIF driver (the engine of QGIS's WFS/OGC API provider) reads the running service."""

from __future__ import annotations

import csv as csv_module
import io
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from service.features import catalogue
from service.models import LAYERS
from tests.gdal import field_types as ogr_fields
from tests.gdal import ogr as run
from tests.queries import rows, scalar
from tests.service_process import running_service

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is not installed"),
]


@pytest.fixture(scope="module")
def service_url(demo_database_url: str) -> Iterator[str]:
    with running_service(demo_database_url) as url:
        yield url


@pytest.mark.parametrize("layer", list(LAYERS))
def test_ogrinfo_reports_every_collection_with_count_geometry_and_fields(service_url, demo_engine, layer):
    info = run("ogrinfo", "-so", f"OAPIF:{service_url}/", layer)
    expected = scalar(demo_engine, f"SELECT count(*) FROM {layer}")
    assert f"Feature Count: {expected}\n" in info
    geometry = {"Point": "Point", "LineString": "Line String", "MultiPolygon": "Multi Polygon"}
    assert f"Geometry: {geometry[catalogue.layer(layer).geometry_type]}" in info
    fields = ogr_fields(info)
    gdal_types = {
        "string": "String",
        "integer": "Integer",
        "number": "Real",
        "boolean": "Integer(Boolean)",
        "date": "Date",
        "datetime": "DateTime",
    }
    for field in catalogue.layer(layer).fields:
        assert fields.get(field.name) in (gdal_types[field.kind], "Integer64") or (
            field.kind == "number" and fields.get(field.name) == "Integer"
        ), (field.name, fields.get(field.name))


def test_ogr2ogr_pulls_a_whole_layer_through_the_next_links(service_url, demo_engine, tmp_path):
    out = tmp_path / "links.gpkg"
    run("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{service_url}/", "chain_links", "-oo", "PAGE_SIZE=500")
    info = run("ogrinfo", "-so", str(out), "chain_links")
    expected = scalar(demo_engine, "SELECT count(*) FROM chain_links")
    assert f"Feature Count: {expected}\n" in info
    # the same ids, once each, and the same coordinates
    csv = run(
        "ogr2ogr",
        "-f",
        "CSV",
        "/vsistdout/",
        str(out),
        "-sql",
        "SELECT CAST(fid AS INTEGER) AS link_id, ST_X(ST_StartPoint(geom)) AS x "
        "FROM chain_links ORDER BY fid",
        "-dialect",
        "SQLite",
    )
    dumped = list(csv_module.reader(io.StringIO(csv)))[1:]
    db = rows(demo_engine, "SELECT id, ST_X(ST_StartPoint(geom)) FROM chain_links ORDER BY id")
    assert [int(r[0]) for r in dumped] == [r[0] for r in db]
    assert all(abs(float(r[1]) - d[1]) < 1e-9 for r, d in zip(dumped, db, strict=True))


def test_ogr2ogr_with_a_spatial_filter_sends_bbox_and_gets_the_right_farms(
    service_url, demo_engine, tmp_path
):
    out = tmp_path / "farms.gpkg"
    run(
        "ogr2ogr",
        "-f",
        "GPKG",
        str(out),
        f"OAPIF:{service_url}/collections/livestock_farms",
        "-spat",
        "119.3",
        "35.85",
        "119.5",
        "36.0",
        "-nln",
        "farms",
    )
    info = run("ogrinfo", "-so", str(out), "farms")
    expected = scalar(
        demo_engine,
        "SELECT count(*) FROM livestock_farms WHERE geom && ST_MakeEnvelope(119.3, 35.85, 119.5, 36.0, 4326)",
    )
    assert expected > 0 and f"Feature Count: {expected}\n" in info


def test_an_attribute_filter_is_sent_to_the_service_because_api_lists_the_properties(
    service_url, demo_engine
):
    result = subprocess.run(
        [
            "ogrinfo",
            "-ro",
            "-al",
            "-q",
            f"OAPIF:{service_url}/",
            "livestock_farms",
            "-where",
            "species='pig'",
            "-oo",
            "PAGE_SIZE=1000",
            "--debug",
            "on",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    fetched = re.findall(r"HTTP: Fetch\((\S+)\)", result.stderr)
    assert f"{service_url}/api" in fetched  # the OpenAPI 3.0 definition of the landing page's service-desc
    assert any("/collections/livestock_farms/items?" in url and "species=pig" in url for url in fetched)
    assert "evaluated on client side" not in result.stderr
    expected = scalar(demo_engine, "SELECT count(*) FROM livestock_farms WHERE species = 'pig'")
    assert result.stdout.count("OGRFeature(livestock_farms)") == expected > 0
