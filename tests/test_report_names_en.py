"""Report workbooks asked for in English (`lang=en`) name towns, facilities and farms by their English
name where one is recorded, and by the Chinese one where none is (villages have no English name); in
Chinese they always use the Chinese name. Checked cell by cell with openpyxl against the database, over
a copy of the demo with English names given to some farms, one station's removed, and known problems
for the integrity report (tests/attention_world.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import Engine, text

from service.db import make_engine
from tests.attention_world import OVERLOADED_STATION, SUSPENDED_STATION, UNCONNECTED_VILLAGE, make_problems
from tests.conftest import PgServer, demo_copy
from tests.queries import rows

STATION_WITHOUT_ENGLISH = "TS-370782003"  # 舜王街道垃圾压缩中转站: its name_en is removed here
FARMS_NAMED = 40  # the largest farms get an English name; the others keep none, as in the demo


@pytest.fixture(scope="module")
def app_engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    with demo_copy(pg_server, migrated_template, "names_en") as url:
        engine = make_engine(url)
        make_problems(engine)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE transfer_stations SET name_en = NULL WHERE code = :c"),
                {"c": STATION_WITHOUT_ENGLISH},
            )
            conn.execute(
                text(
                    "UPDATE livestock_farms SET name_en = 'Farm ' || code WHERE id IN "
                    "(SELECT id FROM livestock_farms ORDER BY head_count DESC, id LIMIT :n)"
                ),
                {"n": FARMS_NAMED},
            )
        yield engine
        engine.dispose()


def _book(client: Any, path: str, **params: Any) -> Any:
    response = client.get(path, params={**params, "format": "xlsx"})
    assert response.status_code == 200, response.text
    return load_workbook(io.BytesIO(response.content))


def _column(sheet: Worksheet, header: str, key_header: str) -> dict[Any, Any]:
    """{value of the `key_header` column: value of the `header` column} over the data rows."""
    headers = [c.value for c in sheet[4]]
    key, wanted = headers.index(key_header), headers.index(header)
    return {row[key].value: row[wanted].value for row in sheet.iter_rows(min_row=5) if row[key].value}


def _names(engine: Engine, table: str, lang: str) -> dict[str, str]:
    english = "coalesce(nullif(btrim(name_en), ''), name)" if lang == "en" else "name"
    if table == "villages":  # no English names
        english = "name"
    return {str(code): str(name) for code, name in rows(engine, f"SELECT code, {english} FROM {table}")}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_coverage_workbook_names_towns_facilities_and_farms_in_the_language_asked(client, app_engine, lang):
    book = _book(client, "/coverage", layer="transfer_stations", distance_m=3000, lang=lang)
    sheets = dict(zip(("city", "towns", "facilities", "unserved"), book.worksheets, strict=True))
    code, name, town = ("code", "name", "town") if lang == "en" else ("编码", "名称", "乡镇（街道）")
    towns = _column(sheets["towns"], town, code)
    assert towns == _names(app_engine, "towns", lang) and len(towns) == 14
    if lang == "en":
        assert towns["370782101"] == "Zhigou Town"
    stations = _column(sheets["facilities"], name, code)
    expected = _names(app_engine, "transfer_stations", lang)
    assert stations == {c: expected[c] for c in stations} and len(stations) >= 13
    assert stations[STATION_WITHOUT_ENGLISH] == "舜王街道垃圾压缩中转站"  # no English name: the Chinese
    if lang == "en":
        assert stations[OVERLOADED_STATION] == "Zhigou Town waste transfer station"
    unserved = _column(sheets["unserved"], name, code)
    farms, villages = _names(app_engine, "livestock_farms", lang), _names(app_engine, "villages", lang)
    assert unserved == {c: farms.get(c) or villages[c] for c in unserved}
    english_farms = [c for c in unserved if c in farms and unserved[c].startswith("Farm ")]
    assert (len(english_farms) > 0) == (lang == "en")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_gaps_workbook_names_unserved_farms_in_the_language_asked(client, app_engine, lang):
    book = _book(client, "/coverage/gaps", layer="manure_centers", distance_m=3000, limit=500, lang=lang)
    code, name = ("code", "name") if lang == "en" else ("编码", "名称")
    farms = _column(book.worksheets[3], name, code)
    expected = _names(app_engine, "livestock_farms", lang)
    assert farms and farms == {c: expected[c] for c in farms}
    assert any(n.startswith("Farm ") for n in farms.values()) == (lang == "en")
    villages = _column(book.worksheets[2], name, code)
    expected_villages = _names(app_engine, "villages", lang)
    assert villages and villages == {c: expected_villages[c] for c in villages}


def test_integrity_workbook_in_english_names_facilities_by_their_english_name(client, app_engine):
    book = _book(client, "/chain/integrity", lang="en")
    findings = book["findings"]
    headers = [c.value for c in findings[4]]
    code, name = headers.index("code"), headers.index("name")
    named = {(r[code].value, r[name].value) for r in findings.iter_rows(min_row=5) if r[code].value}
    stations = _names(app_engine, "transfer_stations", "en")
    assert (OVERLOADED_STATION, stations[OVERLOADED_STATION]) in named
    assert (SUSPENDED_STATION, stations[SUSPENDED_STATION]) in named
    assert stations[SUSPENDED_STATION].endswith("transfer station")
    village = _names(app_engine, "villages", "en")[UNCONNECTED_VILLAGE]
    assert (UNCONNECTED_VILLAGE, village) in named  # villages have no English name
    chinese = _book(client, "/chain/integrity", lang="zh")["发现"]
    zh_headers = [c.value for c in chinese[4]]
    zh_named = {
        (r[zh_headers.index("编码")].value, r[zh_headers.index("名称")].value)
        for r in chinese.iter_rows(min_row=5)
    }
    assert (OVERLOADED_STATION, _names(app_engine, "transfer_stations", "zh")[OVERLOADED_STATION]) in zh_named


def test_indicators_workbook_in_english_names_towns_and_plants_in_english(client, app_engine):
    book = _book(client, "/indicators", lang="en")
    assert _column(book["towns"], "town", "code") == _names(app_engine, "towns", "en")
    assert _column(book["treatment plants"], "name", "code") == _names(app_engine, "treatment_plants", "en")


def test_coverage_json_carries_the_english_names_beside_the_chinese(client, app_engine):
    body = client.get("/coverage", params={"layer": "transfer_stations", "distance_m": 3000}).json()
    towns = dict(rows(app_engine, "SELECT code, name_en FROM towns"))
    assert {t["code"]: t["name_en"] for t in body["towns"]} == towns
    station = next(f for f in body["facilities"] if f["code"] == STATION_WITHOUT_ENGLISH)
    assert station["name_en"] is None and station["name"] == "舜王街道垃圾压缩中转站"
