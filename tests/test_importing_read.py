"""Reading the city's own files: encodings, title rows, units, DMS text, CRSs and Chinese map datums.

Every file is written here, in the test; nothing touches the database.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from pyproj import Geod, Transformer

from service.errors import BadParameter
from service.importing import columns, coordinates, sources, units
from service.importing.rows import Options, Row, read

GEOD = Geod(ellps="WGS84")
# A farm near Zhucheng (Shandong), inside CGCS2000 3° Gauss-Krüger zone 40 (117°–120° … 120°E central).
ZHUCHENG = (119.4, 36.0)

FARMS_HEADER = "编码,名称,畜种,存栏(头),经度,纬度,状态,乡镇\n"
FARMS = (
    "LF-001,昌城镇王家庄生猪养殖场,生猪,1.2万头,119.401,36.002,运行,昌城镇\n"
    "LF-002,贾悦镇鑫旺奶牛场（二期）,奶牛,850,119.3505,35.9876,在建,贾悦镇\n"
)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def write_csv(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def as_tuples(rows: list[Row]) -> list[tuple]:
    return [(r.number, r.properties, r.geometry, r.problems, r.warnings) for r in rows]


# -- encodings ----------------------------------------------------------------------------------------


def test_gbk_and_utf8_csv_with_chinese_headers_read_to_the_same_rows_with_the_text_kept(tmp_path):
    gbk = write_csv(tmp_path / "farms-gbk.csv", FARMS_HEADER + FARMS, "gbk")
    utf8 = write_csv(tmp_path / "farms-utf8.csv", FARMS_HEADER + FARMS, "utf-8")
    bom = write_csv(tmp_path / "farms-bom.csv", FARMS_HEADER + FARMS, "utf-8-sig")

    assert sources.detect_encoding(gbk) == "gb18030"
    assert sources.detect_encoding(utf8) == "utf-8"
    assert sources.detect_encoding(bom) == "utf-8-sig"
    from_gbk = list(read(gbk, "livestock_farms"))
    assert as_tuples(from_gbk) == as_tuples(list(read(utf8, "livestock_farms")))
    assert as_tuples(from_gbk) == as_tuples(list(read(bom, "livestock_farms")))

    first, second = from_gbk
    assert first.number == 2 and second.number == 3  # the lines a clerk sees, header on line 1
    assert first.properties == {
        "code": "LF-001",
        "name": "昌城镇王家庄生猪养殖场",
        "species": "pig",
        "head_count": 12000,
        "status": "operational",
    }
    assert second.properties["name"] == "贾悦镇鑫旺奶牛场（二期）"
    assert second.properties["species"] == "dairy"
    assert second.properties["status"] == "under_construction"
    assert first.geometry == {"type": "Point", "coordinates": [119.401, 36.002]}
    assert first.problems == [] and first.warnings == []


def test_a_named_encoding_that_does_not_fit_the_bytes_is_a_bad_parameter_naming_the_encoding(tmp_path):
    gbk = write_csv(tmp_path / "farms.csv", FARMS_HEADER + FARMS, "gbk")
    with pytest.raises(BadParameter) as raised:
        list(read(gbk, "livestock_farms", Options(encoding="utf-8")))
    assert raised.value.parameter == "encoding"
    assert "farms.csv is not utf-8" in raised.value.message


def test_a_quoted_cell_over_two_lines_keeps_the_next_rows_line_numbers(tmp_path):
    text = '编码,名称,经度,纬度\nCP-1,"东关村\n收集点",119.40,36.00\nCP-2,西关村收集点,119.41,36.01\n'
    rows = list(read(write_csv(tmp_path / "points.csv", text, "utf-8"), "collection_points"))
    assert [(r.number, r.properties["name"]) for r in rows] == [(2, "东关村\n收集点"), (4, "西关村收集点")]


# -- spreadsheets ---------------------------------------------------------------------------------------


def farms_workbook(path: Path) -> Path:
    workbook = Workbook()
    notes = workbook.active
    notes.title = "说明"
    notes["A1"] = "本表由各镇街填报"
    sheet = workbook.create_sheet("养殖场")
    sheet["A1"] = "诸城市畜禽规模养殖场统计表"
    sheet.merge_cells("A1:F1")
    sheet["A2"] = "填报单位：诸城市农业农村局        2024年6月"
    sheet.merge_cells("A2:F2")
    # Two header rows: 编码/名称/畜种/存栏 merged down over both, 坐标 merged across 经度 and 纬度.
    for column, text in zip("ABCD", ("编码", "名称", "畜种", "存栏(头)"), strict=True):
        sheet[f"{column}3"] = text
        sheet.merge_cells(f"{column}3:{column}4")
    sheet["E3"] = "坐标"
    sheet.merge_cells("E3:F3")
    sheet["E4"], sheet["F4"] = "经度", "纬度"
    sheet.append(["LF-101", "皇华镇东鲁肉鸡场", "肉鸡", 60000, 119.45, 35.95])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["LF-102", "枳沟镇蛋鸡场", "蛋鸡", "1.5万只", "119°24'00\"E", "36°00'00\"N"])
    workbook.save(path)
    return path


def test_an_xlsx_sheet_by_name_with_title_rows_and_merged_header_cells_reads_its_data_rows(tmp_path):
    path = farms_workbook(tmp_path / "farms.xlsx")
    rows = list(read(path, "livestock_farms", Options(sheet="养殖场")))

    assert [r.number for r in rows] == [5, 7]  # the spreadsheet's own row numbers, the empty row skipped
    assert rows[0].properties == {
        "code": "LF-101",
        "name": "皇华镇东鲁肉鸡场",
        "species": "broiler",
        "head_count": 60000,
    }
    assert rows[0].geometry == {"type": "Point", "coordinates": [119.45, 35.95]}
    assert rows[1].properties["head_count"] == 15000
    assert rows[1].geometry == {"type": "Point", "coordinates": [119.4, 36.0]}
    assert rows[1].warnings == ["coordinates read from degrees-minutes-seconds text: (119.400000, 36.000000)"]


def test_an_xlsx_sheet_that_is_not_there_is_refused_with_the_sheets_it_has(tmp_path):
    path = farms_workbook(tmp_path / "farms.xlsx")
    with pytest.raises(BadParameter) as raised:
        read(path, "livestock_farms", Options(sheet="Sheet9")).__next__()
    assert raised.value.parameter == "sheet"
    assert raised.value.message == "sheet: no sheet 'Sheet9' in farms.xlsx (it has 说明, 养殖场)"


def test_a_file_without_a_header_naming_the_layers_fields_is_refused(tmp_path):
    path = write_csv(tmp_path / "notes.csv", "甲,乙\n1,2\n", "utf-8")
    with pytest.raises(BadParameter, match=r"^file: no header row naming fields of villages"):
        list(read(path, "villages"))


# -- numbers with units ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "default_unit", "value", "unit"),
    [
        ("120吨/日", None, Decimal(120), "t/d"),
        ("5 t/d", None, Decimal(5), "t/d"),
        ("3000 kg/day", None, Decimal(3), "t/d"),
        ("80 m³/d", None, Decimal(80), "m3/d"),
        ("1.2万头", None, Decimal(12000), None),
        ("1,200", None, Decimal(1200), None),
        ("３吨／日", None, Decimal(3), "t/d"),
        ("12", "吨/日", Decimal(12), "t/d"),
        ("1.5", "万头", Decimal(15000), None),
    ],
)
def test_numbers_with_their_unit_in_the_cell_come_out_in_the_stored_unit(text, default_unit, value, unit):
    quantity = units.quantity(text, default_unit)
    assert (quantity.value, quantity.unit) == (value, unit)


def test_an_unknown_unit_is_an_error_naming_it():
    with pytest.raises(units.UnitError, match="unit 'l/h' is not known"):
        units.quantity("30 L/h")


def test_capacities_with_units_in_cells_or_header_are_converted_and_set_the_capacity_unit(tmp_path):
    text = (
        "编码,名称,处理能力,经度,纬度\n"
        "TS-1,枳沟镇中转站,120吨/日,119.40,36.00\n"
        "TS-2,桃林镇中转站,30000 kg/day,119.41,36.01\n"
        "TS-3,林家村中转站,四十吨,119.42,36.02\n"
    )
    rows = list(read(write_csv(tmp_path / "stations.csv", text, "utf-8"), "transfer_stations"))
    assert [(r.properties.get("capacity"), r.properties.get("capacity_unit")) for r in rows] == [
        (Decimal(120), "t/d"),
        (Decimal(30), "t/d"),
        (None, None),
    ]
    assert rows[2].problems == ["处理能力: '四十吨' is not a number"]

    by_header = "编码,名称,处理能力(吨/日),经度,纬度\nTS-4,相州镇中转站,45,119.40,36.00\n"
    (row,) = read(write_csv(tmp_path / "by-header.csv", by_header, "utf-8"), "transfer_stations")
    assert (row.properties["capacity"], row.properties["capacity_unit"]) == (Decimal(45), "t/d")


# -- coordinates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("119.4085", 119.4085),
        ("119°24'30\"E", 119 + 24 / 60 + 30 / 3600),
        ("119度24分30秒", 119 + 24 / 60 + 30 / 3600),
        ("东经119°24′30″", 119 + 24 / 60 + 30 / 3600),
        ("36°0'36''N", 36.01),
        ("N36:00:36", 36.01),
        ("36°30'S", -36.5),
    ],
)
def test_degrees_minutes_seconds_text_is_read_as_decimal_degrees(text, expected):
    assert coordinates.degrees(text) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("text", ["119°75'00\"", "east", "119°24'30\"E 5"])
def test_text_that_is_not_degrees_is_refused(text):
    with pytest.raises(coordinates.CoordinateError):
        coordinates.degrees(text)


def test_swapped_zero_missing_and_metre_pairs_are_flagged_and_get_no_geometry(tmp_path):
    text = (
        "编码,名称,经度,纬度\n"
        "CP-1,正常,119.40,36.00\n"
        "CP-2,颠倒,36.00,119.40\n"
        "CP-3,零点,0,0\n"
        "CP-4,空白,,\n"
        "CP-5,米制,40500000,3985000\n"
    )
    rows = list(read(write_csv(tmp_path / "points.csv", text, "utf-8"), "collection_points"))
    assert [(r.number, r.geometry is not None) for r in rows] == [
        (2, True),
        (3, False),
        (4, False),
        (5, False),
        (6, False),
    ]
    assert rows[0].problems == []
    assert rows[1].problems == ["longitude and latitude look swapped: (36.0, 119.4)"]
    assert rows[2].problems == ["coordinates are (0, 0): a missing position, not a place"]
    assert rows[3].problems == ["no coordinates"]
    assert rows[4].problems == [
        "coordinates (40500000.0, 3985000.0) are metres, not degrees: name the file's crs "
        "(they look like CGCS2000 3° Gauss-Krüger zone 40: crs EPSG:4528)"
    ]


def test_gauss_kruger_zone_40_metres_come_back_to_the_same_place_within_a_metre(tmp_path):
    easting, northing = Transformer.from_crs("EPSG:4326", "EPSG:4528", always_xy=True).transform(*ZHUCHENG)
    assert 40_000_000 < easting < 41_000_000  # the zone number is written in the easting
    text = f"code,name,x,y\nCP-GK,surveyed point,{easting:.3f},{northing:.3f}\n"
    path = write_csv(tmp_path / "survey.csv", text, "utf-8")
    (row,) = read(path, "collection_points", Options(crs="EPSG:4528"))
    assert row.problems == []
    assert metres(tuple(row.geometry["coordinates"]), ZHUCHENG) < 1.0


def test_an_unknown_crs_is_a_bad_parameter_before_any_row(tmp_path):
    path = write_csv(tmp_path / "farms.csv", FARMS_HEADER + FARMS, "utf-8")
    with pytest.raises(BadParameter) as raised:
        read(path, "livestock_farms", Options(crs="EPSG:999999")).__next__()
    assert raised.value.parameter == "crs"


def test_gcj02_matches_the_published_sample_and_its_inverse_returns_within_a_metre():
    # Published pair of wandergis/coordtransform (test/app.js): WGS 84 (116.404, 39.915) on Amap.
    assert coordinates.wgs84_to_gcj02(116.404, 39.915) == pytest.approx(
        (116.41024449916938, 39.91640428150164), abs=1e-9
    )
    assert metres(coordinates.gcj02_to_wgs84(116.41024449916938, 39.91640428150164), (116.404, 39.915)) < 1.0

    shifted = coordinates.wgs84_to_gcj02(*ZHUCHENG)
    assert 300 < metres(shifted, ZHUCHENG) < 800  # the offset that must not reach the inventory
    assert metres(coordinates.gcj02_to_wgs84(*shifted), ZHUCHENG) < 1.0


def test_bd09_matches_the_published_sample_and_returns_to_wgs84_within_a_metre():
    # Same source: GCJ-02 (116.404, 39.915) on Baidu is (116.41036949371029, 39.92133699351021).
    assert coordinates.gcj02_to_bd09(116.404, 39.915) == pytest.approx(
        (116.41036949371029, 39.92133699351021), abs=1e-9
    )
    on_baidu = coordinates.gcj02_to_bd09(*coordinates.wgs84_to_gcj02(*ZHUCHENG))
    assert metres(coordinates.bd09_to_wgs84(*on_baidu), ZHUCHENG) < 1.0


def test_points_picked_on_amap_are_read_as_wgs84_when_the_crs_says_gcj02(tmp_path):
    lon, lat = coordinates.wgs84_to_gcj02(*ZHUCHENG)
    text = f"编码,名称,经度,纬度\nCP-A,高德取点,{lon:.8f},{lat:.8f}\n"
    (row,) = read(write_csv(tmp_path / "amap.csv", text, "utf-8"), "collection_points", Options(crs="gcj02"))
    assert metres(tuple(row.geometry["coordinates"]), ZHUCHENG) < 1.0


def test_a_position_outside_the_area_is_a_warning_not_a_problem(tmp_path):
    text = "编码,名称,经度,纬度\nCP-1,济南,117.0,36.65\n"
    path = write_csv(tmp_path / "far.csv", text, "utf-8")
    (row,) = read(path, "collection_points", Options(area=(119.0, 35.6, 119.8, 36.3)))
    assert row.problems == []
    assert row.warnings == ["position (117.000000, 36.650000) lies outside the area of the import"]


# -- columns ------------------------------------------------------------------------------------------


def test_chinese_and_english_headers_match_the_layers_fields_and_the_rest_is_listed():
    header = ["Code", "名称", "Longitude", "LAT", "处理能力（吨/日）", "状态", "所属乡镇", "备注", "Capacity"]
    matched = columns.match(header, "transfer_stations")
    assert matched.targets == {
        0: "code",
        1: "name",
        2: "lon",
        3: "lat",
        4: "capacity",
        5: "status",
        6: "town",
    }
    assert matched.units == {4: "吨/日"}
    assert matched.unmatched == ["备注"]
    assert matched.duplicates == ["Capacity"]


def test_a_mapping_file_overrides_the_automatic_matching_of_a_header(tmp_path):
    text = "编码,名称,场所名称,经度,纬度\nLF-9,张三,石桥子镇张家养殖场,119.40,36.00\n"
    path = write_csv(tmp_path / "farms.csv", text, "utf-8")
    (automatic,) = read(path, "livestock_farms")
    assert automatic.properties == {"code": "LF-9", "name": "张三"}

    mapping = tmp_path / "mapping.json"
    overrides = {"名称": "operator", "场所名称": "name"}
    mapping.write_text(json.dumps(overrides, ensure_ascii=False), encoding="utf-8")
    (mapped,) = read(path, "livestock_farms", Options(mapping=mapping))
    assert mapped.properties == {"code": "LF-9", "operator": "张三", "name": "石桥子镇张家养殖场"}


def test_a_mapping_to_a_field_the_layer_does_not_have_is_refused(tmp_path):
    path = write_csv(tmp_path / "farms.csv", FARMS_HEADER + FARMS, "utf-8")
    with pytest.raises(BadParameter) as raised:
        read(path, "livestock_farms", Options(mapping={"名称": "population"})).__next__()
    assert raised.value.message == "mapping: '名称' → 'population': livestock_farms has no field 'population'"


def test_a_value_outside_the_vocabulary_is_a_problem_naming_the_column(tmp_path):
    text = "编码,名称,畜种,存栏,经度,纬度\nLF-7,某养殖场,骆驼,12,119.40,36.00\n"
    (row,) = read(write_csv(tmp_path / "farms.csv", text, "utf-8"), "livestock_farms")
    assert row.problems == ["畜种: '骆驼' is not one of pig, dairy, beef, sheep, layer, broiler"]
    assert "species" not in row.properties


def test_a_surveyors_northing_and_easting_in_the_wrong_columns_are_flagged_as_swapped(tmp_path):
    easting, northing = Transformer.from_crs("EPSG:4326", "EPSG:4528", always_xy=True).transform(*ZHUCHENG)
    text = f"code,name,x,y\nCP-GK,surveyed point,{northing:.3f},{easting:.3f}\n"
    path = write_csv(tmp_path / "survey.csv", text, "utf-8")
    (row,) = read(path, "collection_points", Options(crs="EPSG:4528"))
    assert row.geometry is None
    assert row.problems == [f"easting and northing look swapped: ({northing:.3f}, {easting:.3f})"]


def test_a_file_that_is_not_the_workbook_its_name_says_is_refused(tmp_path):
    path = tmp_path / "farms.xlsx"
    path.write_text("编码,名称\n", encoding="utf-8")
    with pytest.raises(BadParameter, match=r"farms\.xlsx is not an XLSX workbook"):
        list(read(path, "livestock_farms"))


def test_a_first_data_row_of_words_only_is_data_not_a_second_header_row(tmp_path):
    text = "编码,名称,状态,乡镇\nCP-1,东关村收集点,运行,密州街道\n"
    rows = list(read(write_csv(tmp_path / "points.csv", text, "utf-8"), "collection_points"))
    assert [(r.number, r.properties) for r in rows] == [
        (2, {"code": "CP-1", "name": "东关村收集点", "status": "operational"})
    ]


def test_position_columns_are_not_fields_of_a_layer_drawn_as_outlines():
    with pytest.raises(BadParameter, match="towns has no field 'lon'"):
        columns.check_mapping({"经度": "lon"}, "towns")
    assert columns.match(["编码", "名称", "经度"], "towns").unmatched == ["经度"]
