"""Reading GIS files for import: KML/KMZ from field apps, GeoPackage, zipped Shapefile (GBK DBF with or
without .cpg), GeoJSON with and without a `crs`, Gauss-Krüger zones, mixed geometries.

Every file is written here, in the test (GDAL through pyogrio or ogr2ogr; the KML as text, as Ovital
writes it); nothing touches the database.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyogrio import raw
from pyproj import Geod, Transformer

from service.errors import BadParameter
from service.importing import coordinates, geodata
from service.importing.rows import Options, Row, read

GEOD = Geod(ellps="WGS84")
ZHUCHENG = (119.4, 36.0)
NEAR = (119.45, 35.95)


def metres(a: Any, b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def projected(lonlat: tuple[float, float], epsg: int) -> tuple[float, float]:
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(*lonlat)
    return float(x), float(y)


def write_layer(
    path: Path,
    features: list[tuple[Any, dict[str, Any]]],
    *,
    crs: str | None = "EPSG:4326",
    layer: str | None = None,
    encoding: str | None = None,
    driver: str | None = None,
    append: bool = False,
) -> Path:
    """A layer written by GDAL: (shapely geometry, attributes) per feature, text fields only."""
    names = list(features[0][1])
    columns = [np.array([attrs.get(n) for _, attrs in features], dtype=object) for n in names]
    geometries = shapely.to_wkb(np.array([g for g, _ in features], dtype=object))
    kinds = {g.geom_type for g, _ in features}
    raw.write(
        path, geometries, columns, names, layer=layer, driver=driver, crs=crs, encoding=encoding,
        geometry_type=kinds.pop() if len(kinds) == 1 else "Unknown", append=append,
    )  # fmt: skip
    return path


def summary(rows: list[Row]) -> list[tuple[int, dict[str, Any], list[str], list[str]]]:
    return [(r.number, r.properties, r.problems, r.warnings) for r in rows]


# -- KML and KMZ from field apps -----------------------------------------------------------------------

OVITAL_KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
<Document>
  <name>诸城中转站调查</name>
  <Folder>
    <name>枳沟镇</name>
    <Placemark>
      <name>枳沟镇垃圾压缩中转站</name>
      <description>编码：TS-KML-1
状态：运行
运营单位：枳沟镇环卫所</description>
      <Point><coordinates>119.401,36.002,0</coordinates></Point>
    </Placemark>
    <Placemark>
      <name>桃林镇中转站</name>
      <description><![CDATA[编码：TS-KML-2<br/>备注：新建]]></description>
      <ExtendedData>
        <Data name="处理能力"><value>80吨/日</value></Data>
        <Data name="状态"><value>在建</value></Data>
      </ExtendedData>
      <Point><coordinates>119.3505,35.9876,12.5</coordinates></Point>
    </Placemark>
  </Folder>
  <Folder>
    <name>轨迹</name>
    <Placemark>
      <name>巡查路线</name>
      <LineString><coordinates>119.40,36.00,0 119.41,36.01,0</coordinates></LineString>
    </Placemark>
    <Placemark>
      <name>空坐标</name>
      <Point><coordinates>0,0,0</coordinates></Point>
    </Placemark>
  </Folder>
</Document>
</kml>
"""

KML_ROWS = [
    (
        1,
        {
            "name": "枳沟镇垃圾压缩中转站",
            "code": "TS-KML-1",
            "status": "operational",
            "operator": "枳沟镇环卫所",
        },
        [],
        [],
    ),
    (
        2,
        {
            "name": "桃林镇中转站",
            "capacity": Decimal(80),
            "capacity_unit": "t/d",
            "status": "under_construction",
            "code": "TS-KML-2",
        },
        [],
        [],
    ),
    (3, {"name": "巡查路线"}, ["geometry is a LineString: transfer_stations holds points"], []),
    (4, {"name": "空坐标"}, ["coordinates are (0, 0): a missing position, not a place"], []),
]


def test_an_ovital_kml_reads_name_description_lines_and_extended_data_over_all_its_folders(tmp_path):
    path = tmp_path / "奥维导出.kml"
    path.write_text(OVITAL_KML, encoding="utf-8")
    rows = list(read(path, "transfer_stations"))

    assert summary(rows) == KML_ROWS  # numbered by position in the file, folder after folder
    assert rows[0].geometry == {"type": "Point", "coordinates": [119.401, 36.002]}
    assert rows[1].geometry == {"type": "Point", "coordinates": [119.3505, 35.9876]}  # height dropped
    assert rows[2].geometry is None and rows[3].geometry is None


def test_a_kmz_reads_as_the_kml_inside_it(tmp_path):
    path = tmp_path / "survey.kmz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.kml", OVITAL_KML)
        archive.writestr("files/icon.png", b"\x89PNG\r\n\x1a\n")
    assert summary(list(read(path, "transfer_stations"))) == KML_ROWS


def test_one_folder_of_a_kml_is_chosen_with_the_sheet_option(tmp_path):
    path = tmp_path / "survey.kml"
    path.write_text(OVITAL_KML, encoding="utf-8")
    rows = list(read(path, "transfer_stations", Options(sheet="轨迹")))
    assert [(r.number, r.properties["name"]) for r in rows] == [(1, "巡查路线"), (2, "空坐标")]


# -- GeoPackage ----------------------------------------------------------------------------------------

FARMS = [
    ({"编码": "LF-G1", "名称": "昌城镇王家庄生猪养殖场", "畜种": "生猪", "存栏": "1.2万头"}, ZHUCHENG),
    ({"编码": "LF-G2", "名称": "贾悦镇鑫旺奶牛场", "畜种": "奶牛", "存栏": "850"}, NEAR),
]
FARM_PROPERTIES = [
    {"code": "LF-G1", "name": "昌城镇王家庄生猪养殖场", "species": "pig", "head_count": 12000},
    {"code": "LF-G2", "name": "贾悦镇鑫旺奶牛场", "species": "dairy", "head_count": 850},
]


def farm_features(epsg: int | None) -> list[tuple[Any, dict[str, Any]]]:
    return [(shapely.Point(projected(at, epsg) if epsg else at), attrs) for attrs, at in FARMS]


def test_a_geopackage_in_gauss_kruger_zone_40_reads_to_wgs84_within_a_metre(tmp_path):
    path = write_layer(tmp_path / "farms.gpkg", farm_features(4528), crs="EPSG:4528", layer="养殖场")
    rows = list(read(path, "livestock_farms"))
    assert [(r.number, r.properties, r.problems) for r in rows] == [
        (1, FARM_PROPERTIES[0], []),
        (2, FARM_PROPERTIES[1], []),
    ]
    assert metres(rows[0].geometry["coordinates"], ZHUCHENG) < 1.0
    assert metres(rows[1].geometry["coordinates"], NEAR) < 1.0


def test_a_geopackage_with_several_layers_is_refused_listing_them_and_read_by_name(tmp_path):
    path = write_layer(tmp_path / "dept.gpkg", farm_features(None), layer="养殖场")
    write_layer(path, [(shapely.Point(ZHUCHENG), {"名称": "某站"})], layer="中转站", append=True)
    with pytest.raises(BadParameter) as raised:
        list(read(path, "livestock_farms"))
    assert raised.value.parameter == "file"
    assert raised.value.message == "file: dept.gpkg holds 2 layers (养殖场, 中转站): choose one with --sheet"

    rows = list(read(path, "livestock_farms", Options(sheet="养殖场")))
    assert [r.properties for r in rows] == FARM_PROPERTIES
    with pytest.raises(
        BadParameter, match=r"^sheet: no layer '猪场' in dept\.gpkg \(it has 养殖场, 中转站\)"
    ):
        list(read(path, "livestock_farms", Options(sheet="猪场")))


# -- zipped Shapefile ----------------------------------------------------------------------------------


def zipped_shapefile(
    folder: Path, name: str, features: list, *, crs: str, keep_cpg: bool, upper: bool = False
) -> Path:
    """A Shapefile with a GBK DBF (ogr2ogr from a GeoPackage), zipped as a city sends it."""
    source = write_layer(folder / f"{name}-src.gpkg", features, crs="EPSG:4326", layer=name)
    out = folder / name
    out.mkdir()
    subprocess.run(
        ["ogr2ogr", "-f", "ESRI Shapefile", "-t_srs", crs, "-lco", "ENCODING=CP936",
         str(out / f"{name}.shp"), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    if not keep_cpg:
        (out / f"{name}.cpg").unlink()
    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for part in sorted(out.iterdir()):
            z.write(part, f"{name}/{part.stem}{part.suffix.upper() if upper else part.suffix}")
    return archive


@pytest.mark.parametrize("keep_cpg", [True, False], ids=["with-cpg", "without-cpg"])
def test_a_zipped_shapefile_with_a_gbk_dbf_keeps_its_chinese_text_with_or_without_cpg(tmp_path, keep_cpg):
    path = zipped_shapefile(tmp_path, "farms", farm_features(None), crs="EPSG:4528", keep_cpg=keep_cpg)
    dbf_bytes = zipfile.ZipFile(path).read("farms/farms.dbf")
    assert "昌城镇王家庄生猪养殖场".encode("gbk") in dbf_bytes  # the DBF really is GBK
    rows = list(read(path, "livestock_farms"))
    assert [r.properties for r in rows] == FARM_PROPERTIES
    assert metres(rows[0].geometry["coordinates"], ZHUCHENG) < 1.0  # from the .prj's zone 40


def test_a_shapefile_in_6_degree_zone_20_is_read_through_its_prj(tmp_path):
    path = zipped_shapefile(tmp_path, "farms", farm_features(None), crs="EPSG:4498", keep_cpg=True)
    rows = list(read(path, "livestock_farms"))
    assert [r.problems for r in rows] == [[], []]
    assert metres(rows[1].geometry["coordinates"], NEAR) < 1.0


# -- GeoJSON -------------------------------------------------------------------------------------------


def geojson(features: list[tuple[dict[str, Any] | None, dict[str, Any]]], crs: str | None = None) -> str:
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": g, "properties": p} for g, p in features],
    }
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return json.dumps(doc, ensure_ascii=False)


def test_geojson_with_a_legacy_crs_member_without_one_and_with_the_crs_option(tmp_path):
    east, north = projected(ZHUCHENG, 4528)
    point = {"type": "Point", "coordinates": [east, north]}
    legacy = tmp_path / "legacy.geojson"
    legacy.write_text(geojson([(point, {"名称": "测站"})], "urn:ogc:def:crs:EPSG::4528"), encoding="utf-8")
    (row,) = read(legacy, "collection_points")
    assert (row.properties, row.problems) == ({"name": "测站"}, [])
    assert metres(row.geometry["coordinates"], ZHUCHENG) < 1.0

    plain = tmp_path / "plain.geojson"  # RFC 7946: WGS 84 by definition
    plain.write_text(geojson([({"type": "Point", "coordinates": list(NEAR)}, {"name": "站"})]), "utf-8")
    (row,) = read(plain, "collection_points")
    assert row.geometry == {"type": "Point", "coordinates": list(NEAR)}

    # metres in a file that names no CRS: flagged, and read right once the crs is given
    metric = tmp_path / "metric.geojson"
    metric.write_text(geojson([(point, {"name": "站"})]), "utf-8")
    (row,) = read(metric, "collection_points")
    assert row.geometry is None
    assert row.problems == [
        f"coordinates ({east}, {north}) are metres, not degrees: name the file's crs "
        "(they look like CGCS2000 3° Gauss-Krüger zone 40: crs EPSG:4528)"
    ]
    (row,) = read(metric, "collection_points", Options(crs="EPSG:4528"))
    assert metres(row.geometry["coordinates"], ZHUCHENG) < 1.0


def test_geojson_points_picked_on_amap_are_converted_when_asked(tmp_path):
    on_amap = coordinates.wgs84_to_gcj02(*ZHUCHENG)
    path = tmp_path / "amap.geojson"
    path.write_text(
        geojson([({"type": "Point", "coordinates": list(on_amap)}, {"name": "高德取点"})]), "utf-8"
    )
    (row,) = read(path, "collection_points", Options(crs="gcj02"))
    assert metres(row.geometry["coordinates"], ZHUCHENG) < 1.0


def test_mixed_geometries_fit_the_layer_or_are_named_as_problems(tmp_path):
    lon, lat = ZHUCHENG
    features = [
        ({"type": "Point", "coordinates": [lon, lat]}, {"code": "F1"}),
        ({"type": "MultiPoint", "coordinates": [[lon, lat]]}, {"code": "F2"}),
        ({"type": "MultiPoint", "coordinates": [[lon, lat], [lon + 0.01, lat]]}, {"code": "F3"}),
        ({"type": "LineString", "coordinates": [[lon, lat], [lon + 0.01, lat]]}, {"code": "F4"}),
        (
            {
                "type": "Polygon",
                "coordinates": [[[lon, lat], [lon + 0.01, lat], [lon, lat + 0.01], [lon, lat]]],
            },
            {"code": "F5"},
        ),
        (None, {"code": "F6"}),
        ({"type": "Point", "coordinates": [lat, lon]}, {"code": "F7"}),
    ]
    path = tmp_path / "mixed.geojson"
    path.write_text(geojson(features), "utf-8")
    rows = list(read(path, "livestock_farms", Options(area=(119.0, 35.6, 119.8, 36.3))))
    assert [(r.number, r.properties["code"], r.geometry is not None, r.problems) for r in rows] == [
        (1, "F1", True, []),
        (2, "F2", True, []),
        (3, "F3", False, ["geometry is a MultiPoint: livestock_farms holds points"]),
        (4, "F4", False, ["geometry is a LineString: livestock_farms holds points"]),
        (5, "F5", False, ["geometry is a Polygon: livestock_farms holds points"]),
        (6, "F6", False, ["no geometry"]),
        (7, "F7", False, [f"longitude and latitude look swapped: ({lat}, {lon})"]),
    ]
    assert rows[1].geometry == {"type": "Point", "coordinates": [lon, lat]}


def test_town_polygons_come_as_multipolygons_and_a_point_for_a_town_is_a_problem(tmp_path):
    square = [[[119.3, 35.9], [119.4, 35.9], [119.4, 36.0], [119.3, 36.0], [119.3, 35.9]]]
    features = [
        ({"type": "Polygon", "coordinates": square}, {"编码": "370782001", "名称": "密州街道"}),
        ({"type": "Point", "coordinates": list(ZHUCHENG)}, {"编码": "370782002", "名称": "龙都街道"}),
    ]
    path = tmp_path / "towns.geojson"
    path.write_text(geojson(features), "utf-8")
    first, second = read(path, "towns", Options(area=(119.0, 35.6, 119.8, 36.3)))
    assert first.properties == {"code": "370782001", "name": "密州街道"}
    assert first.geometry == {"type": "MultiPolygon", "coordinates": [square]}
    assert (first.problems, first.warnings) == ([], [])
    assert second.problems == ["geometry is a Point: towns holds polygons"]


# -- Gauss-Krüger zones in CSV columns ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epsg", "prefix"),
    [(4498, 20), (4509, 0), (4528, 40), (4549, 0)],
    ids=["6deg-zone20-prefixed", "6deg-cm117", "3deg-zone40-prefixed", "3deg-cm120"],
)
def test_gauss_kruger_columns_with_and_without_zone_prefix_read_within_a_metre(tmp_path, epsg, prefix):
    east, north = projected(ZHUCHENG, epsg)
    assert int(east // 1_000_000) == prefix
    path = tmp_path / "survey.csv"
    path.write_text(f"编码,名称,X,Y\nCP-1,测点,{east:.3f},{north:.3f}\n", encoding="utf-8")
    (row,) = read(path, "collection_points", Options(crs=f"EPSG:{epsg}"))
    assert row.problems == []
    assert metres(row.geometry["coordinates"], ZHUCHENG) < 1.0


def test_a_zone_prefixed_easting_read_with_the_wrong_epsg_is_a_problem_naming_the_right_one(tmp_path):
    east40, north40 = projected(ZHUCHENG, 4528)
    east20, north20 = projected(ZHUCHENG, 4498)
    path = tmp_path / "survey.csv"
    path.write_text(f"编码,名称,X,Y\nCP-1,测点,{east40:.3f},{north40:.3f}\n", encoding="utf-8")
    (row,) = read(path, "collection_points", Options(crs="EPSG:4549"))
    assert row.geometry is None
    assert row.problems == [
        f"easting {float(f'{east40:.3f}')} carries zone number 40 in front but EPSG:4549 writes none: "
        "the file's crs is probably CGCS2000 3° Gauss-Krüger zone 40: crs EPSG:4528"
    ]

    path.write_text(f"编码,名称,X,Y\nCP-1,测点,{east20:.3f},{north20:.3f}\n", encoding="utf-8")
    (row,) = read(path, "collection_points", Options(crs="EPSG:4528"))
    assert row.geometry is None
    assert row.problems == [
        f"easting {float(f'{east20:.3f}')} does not start with zone 40 of EPSG:4528: the crs does not fit; "
        "it looks like CGCS2000 6° Gauss-Krüger zone 20: crs EPSG:4498"
    ]


def test_a_6_degree_zone_20_pair_in_degree_columns_names_its_epsg():
    east, north = projected(ZHUCHENG, 4498)
    position, problems = coordinates.locate(east, north, None)
    assert position is None
    assert problems == [
        f"coordinates ({east}, {north}) are metres, not degrees: name the file's crs "
        "(they look like CGCS2000 6° Gauss-Krüger zone 20: crs EPSG:4498)"
    ]


def test_a_geopackage_read_in_batches_keeps_every_feature_in_order_numbered_by_position(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(geodata, "BATCH", 3)  # 7 features: batches of 3, 3 and 1
    farms = [
        (shapely.Point((11940 + i) / 100, 36.0), {"编码": f"LF-{i}", "名称": f"养殖场{i}"}) for i in range(7)
    ]
    path = write_layer(tmp_path / "farms.gpkg", farms, layer="farms")
    rows = list(read(path, "livestock_farms"))
    assert [(r.number, r.properties["code"]) for r in rows] == [(i + 1, f"LF-{i}") for i in range(7)]
    assert rows[6].geometry == {"type": "Point", "coordinates": [119.46, 36.0]}


def test_shapefile_parts_with_upper_case_suffixes_are_found_and_the_gbk_dbf_detected(tmp_path):
    path = zipped_shapefile(
        tmp_path, "farms", farm_features(None), crs="EPSG:4528", keep_cpg=False, upper=True
    )
    assert "farms/farms.DBF" in zipfile.ZipFile(path).namelist()
    assert [r.properties for r in read(path, "livestock_farms")] == FARM_PROPERTIES
