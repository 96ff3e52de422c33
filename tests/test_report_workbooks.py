"""Every XLSX report reads the same way and says what the JSON of the same request says: a title, the
date and the request's parameters above a frozen header row of labels with units (Chinese, English on
request), numbers kept as numbers with number formats. And a format a route cannot produce is a 400
naming the formats it can."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from tests.problems import assert_problem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def fetch_book(client: Any, path: str, params: dict[str, Any]) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return load_workbook(io.BytesIO(response.content))


def check_head(sheet: Worksheet, title: str, *parameters: str) -> list[str]:
    """Title, date (now), parameters, frozen header: the header's texts."""
    assert sheet["A1"].value == title and sheet["A1"].font.bold
    made = sheet["B2"].value
    assert isinstance(made, dt.datetime) and abs(dt.datetime.now() - made) < dt.timedelta(minutes=10)
    assert sheet["B2"].number_format == "yyyy-mm-dd hh:mm"
    for p in parameters:
        assert p in sheet["B3"].value
    assert sheet.freeze_panes == "A5"
    header = [c.value for c in sheet[4]]
    assert all(c.font.bold for c in sheet[4])
    assert all(sheet.column_dimensions[c.column_letter].width >= 6 for c in sheet[4])
    return header


def rows_by(sheet: Worksheet, key_column: int = 0) -> dict[Any, list[Any]]:
    """The data rows (below the header) by the value of one column: [cell, …]."""
    return {row[key_column].value: list(row) for row in sheet.iter_rows(min_row=5)}


def test_coverage_workbook_in_chinese_has_the_figures_of_the_json(client):
    params = {"layer": "transfer_stations", "distance_m": 5000}
    body = client.get("/coverage", params=params).json()
    book = fetch_book(client, "/coverage", {**params, "format": "xlsx"})
    assert book.sheetnames == ["全市", "乡镇", "设施", "未覆盖"]
    title = "设施覆盖报告：乡镇垃圾压缩中转站，5,000 米"
    city = book["全市"]
    assert check_head(city, title, "layer = transfer_stations", "distance_m = 5000") == [
        "指标",
        "全市",
        "单位",
    ]
    figures = rows_by(city)
    served = figures["覆盖行政村"]
    assert served[1].value == body["city"]["villages_served"] and served[1].number_format == "#,##0"
    share = figures["行政村覆盖率"]
    assert share[1].value == pytest.approx(body["city"]["villages_served_share"])
    assert (share[1].number_format, share[2].value) == ("0.0%", "%")
    assert figures["人口"][2].value == "人"
    towns = book["乡镇"]
    header = check_head(towns, title)
    assert header[:5] == ["编码", "乡镇（街道）", "行政村总数（个）", "覆盖行政村（个）", "行政村覆盖率（%）"]
    by_code = rows_by(towns)
    for town in body["towns"]:
        row = by_code[town["code"]]
        assert row[4].value == pytest.approx(town["villages_served_share"]) and row[4].number_format == "0.0%"
        assert row[header.index("人口（人）")].value == town["population_total"]
    facilities = book["设施"]
    header = check_head(facilities, title)
    assert header[:6] == ["编码", "名称", "乡镇（街道）代码", "假设设施", "经度（°）", "纬度（°）"]
    by_code = rows_by(facilities)
    for facility in body["facilities"]:
        row = by_code[facility["code"]]
        assert row[3].value == "否" and row[4].number_format == "0.000000"
        assert row[header.index("覆盖人口（人）")].value == facility["population_served"]
    unserved = book["未覆盖"]
    check_head(unserved, title)
    kinds = [r[0].value for r in unserved.iter_rows(min_row=5)]
    villages_unserved = body["city"]["villages_total"] - body["city"]["villages_served"]
    farms_unserved = body["city"]["farms_total"] - body["city"]["farms_served"]
    assert (kinds.count("行政村"), kinds.count("养殖场")) == (villages_unserved, farms_unserved)


def test_coverage_workbook_in_english(client):
    params = {"layer": "transfer_stations", "distance_m": 5000, "lang": "en"}
    book = fetch_book(client, "/coverage", {**params, "format": "xlsx"})
    assert book.sheetnames == ["city", "towns", "facilities", "unserved"]
    header = check_head(
        book["towns"], "Coverage report: Transfer stations within 5,000 m", "layer = transfer"
    )
    assert header[:5] == ["code", "town", "villages", "villages served", "villages served share (%)"]
    assert book["city"]["A2"].value == "Date" and book["city"]["A3"].value == "Parameters"


def test_gaps_workbook_lists_the_gap_areas_and_the_unserved_of_the_json(client):
    params = {"layer": "transfer_stations", "distance_m": 3000, "limit": 5}
    body = client.get("/coverage/gaps", params=params).json()
    book = fetch_book(client, "/coverage/gaps", {**params, "format": "xlsx"})
    assert book.sheetnames == ["概况", "空白区", "未覆盖行政村", "未覆盖养殖场"]
    title = "服务空白区报告：乡镇垃圾压缩中转站，3,000 米"
    summary = rows_by(book["概况"])
    check_head(book["概况"], title, "limit = 5", "cluster_radius_m = 3000")
    assert summary["未覆盖行政村"][1].value == body["villages_unserved"] > 5
    assert summary["未覆盖养殖场"][1].value == body["farms_unserved"]
    areas = book["空白区"]
    header = check_head(areas, title)
    assert header[:3] == ["空白区序号", "未覆盖行政村（个）", "未覆盖人口（人）"]
    rows = list(areas.iter_rows(min_row=5))
    assert len(rows) == len(body["clusters"]) == 5
    for row, cluster in zip(rows, body["clusters"], strict=True):
        assert (row[0].value, row[2].value) == (cluster["rank"], cluster["population"])
        assert row[2].number_format == "#,##0"
        assert row[header.index("村/场编码")].value == ", ".join(cluster["members"])
    villages = book["未覆盖行政村"]
    check_head(villages, title)
    assert [r[0].value for r in villages.iter_rows(min_row=5)] == [v["code"] for v in body["villages"]]
    assert [r[3].value for r in villages.iter_rows(min_row=5)] == [v["population"] for v in body["villages"]]


def test_indicators_workbook_sets_the_published_figures_beside_the_live_ones(client):
    body = client.get("/indicators", params={"f": "json"}).json()
    book = fetch_book(client, "/indicators", {"format": "xlsx"})
    assert book.sheetnames == ["指标", "乡镇", "处理厂"]
    figures = book["指标"]
    assert check_head(figures, "诸城市农村环卫指标", "waste_kg_per_person_day = 0.4") == [
        "指标",
        "本系统（实时）",
        "公开数据",
        "单位",
    ]
    rows = rows_by(figures)
    population = rows["常住人口"]
    assert [c.value for c in population[1:]] == [body["city"]["population"], 1_100_000, "人"]
    assert population[1].number_format == population[2].number_format == "#,##0"
    toilets = rows["新建改建户厕"]
    assert (toilets[1].value, toilets[2].value) == (body["city"]["toilets_rebuilt"], 230_000)
    assert toilets[2].number_format == '">"#,##0'
    share = rows["户厕改造率"]
    assert share[1].value == pytest.approx(body["city"]["toilet_share"]) and share[1].number_format == "0.0%"
    assert share[2].value is None
    waste = rows["生活垃圾产生量"]
    assert waste[1].value == pytest.approx(body["city"]["waste_generated_t_per_day"])
    assert (waste[1].number_format, waste[3].value) == ("#,##0.00", "吨/日")
    towns = book["乡镇"]
    header = check_head(towns, "诸城市农村环卫指标")
    assert header[:3] == ["编码", "乡镇（街道）", "常住人口（人）"]
    by_code = rows_by(towns)
    for town in body["towns"]:
        row = by_code[town["code"]]
        assert row[1].value == town["name"]
        column = header.index("生活垃圾收运覆盖率（%）")
        assert row[column].value == pytest.approx(town["waste_connected_share"])
        assert row[column].number_format == "0.0%"
    plants = rows_by(book["处理厂"])
    assert plants["TP-INC-2"][2].value == "运行" and plants["TP-INC-2"][5].value == pytest.approx(0.576)


def test_a_town_indicators_workbook_in_english_has_no_published_column(client):
    book = fetch_book(client, "/indicators", {"format": "xlsx", "town": "370782101", "lang": "en"})
    assert book.sheetnames == ["figures", "towns", "treatment plants"]
    header = check_head(book["figures"], "Zhigou Town rural sanitation indicators", "town = 370782101")
    assert header == ["Figure", "live", "Unit"]
    assert rows_by(book["figures"])["administrative villages"][1].value == 155


def test_indicators_csv_is_the_json_with_chinese_headers_and_percentages(client):
    body = client.get("/indicators", params={"f": "json"}).json()
    response = client.get("/indicators", params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, city, *towns = rows
    assert header[:4] == ["编码", "名称", "常住人口（人）", "行政村（个）"]
    assert city[:4] == ["370782", "诸城市", "1100000", "1249"]
    share = header.index("户厕改造率（%）")
    assert float(city[share]) == pytest.approx(body["city"]["toilet_share"] * 100, abs=0.01)
    assert [t[0] for t in towns] == [t["code"] for t in body["towns"]]
    english = client.get("/indicators", params={"format": "csv", "lang": "en", "town": "370782101"})
    header, town = list(csv.reader(io.StringIO(english.content.decode("utf-8-sig"))))
    assert header[:3] == ["code", "name", "population (people)"] and town[1] == "Zhigou Town"


def test_integrity_workbook_names_every_finding_of_the_json(client):
    params = {"waste_kg_per_person_day": 5}  # twelve times the rate: stations overflow
    body = client.get("/chain/integrity", params=params).json()
    assert body["summary"]["errors"] > 0
    book = fetch_book(client, "/chain/integrity", {**params, "format": "xlsx"})
    assert book.sheetnames == ["概况", "规则", "发现"]
    summary = rows_by(book["概况"])
    check_head(book["概况"], "收运链完整性检查", "waste_kg_per_person_day = 5")
    assert summary["错误"][1].value == body["summary"]["errors"]
    rules = rows_by(book["规则"], key_column=1)
    assert rules["over_capacity"][0].value == "超负荷"
    assert rules["over_capacity"][2].value == body["summary"]["by_rule"]["over_capacity"]
    findings = book["发现"]
    header = check_head(findings, "收运链完整性检查")
    assert header[:5] == ["级别", "规则", "图层", "编码", "名称"]
    rows = list(findings.iter_rows(min_row=5, values_only=True))
    assert [r[3] for r in rows] == [f["code"] for f in body["findings"]]
    over = [r for r in rows if r[1] == "超负荷"]
    assert over and all(r[0] == "错误" for r in over) and "utilisation = " in over[0][8]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/coverage?layer=transfer_stations&distance_m=3000", "'json', 'geojson' or 'xlsx'"),
        ("/coverage/gaps?layer=transfer_stations&distance_m=3000", "'json' or 'xlsx'"),
        ("/indicators", "'json', 'html', 'xlsx' or 'csv'"),
        ("/chain/integrity", "'json' or 'xlsx'"),
        ("/chain/diagram", "'html', 'svg' or 'png'"),
    ],
)
def test_a_format_the_route_cannot_produce_is_a_400_naming_the_allowed_ones(client, path, allowed):
    response = client.get(f"{path}{'&' if '?' in path else '?'}format=pdf")
    assert_problem(response, 400)
    assert response.json()["parameter"] == "format" and allowed in response.json()["detail"]


def test_gaps_as_xlsx_is_a_workbook_never_the_json(client):
    response = client.get(
        "/coverage/gaps", params={"layer": "transfer_stations", "distance_m": 3000, "format": "xlsx"}
    )
    assert response.headers["content-type"] == XLSX and response.content[:2] == b"PK"


def test_an_unknown_language_and_disagreeing_formats_are_400s(client):
    response = client.get("/indicators", params={"lang": "fr"})
    assert_problem(response, 400)
    assert response.json()["parameter"] == "lang" and "'zh' or 'en'" in response.json()["detail"]
    response = client.get("/indicators", params={"f": "html", "format": "xlsx"})
    assert_problem(response, 400)
    assert response.json()["parameter"] == "format" and "disagree" in response.json()["detail"]
    agreeing = client.get("/indicators", params={"f": "json", "format": "json"})
    assert agreeing.status_code == 200 and agreeing.json()["city"]["villages"] == 1249


def test_a_layer_export_keeps_its_header_in_row_one_frozen_and_wide_enough(client):
    """Layer exports are data for GDAL, QGIS and the importer: no title above the header."""
    response = client.get("/export/transfer_stations.xlsx")
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["id", "code", "name"] and sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width >= 10
    assert sheet.max_row == 15  # the header and the 14 stations
