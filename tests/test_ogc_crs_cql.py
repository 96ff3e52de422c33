"""Part 2 (output CRS, bbox-crs, axis order) checked against pyproj; Part 3 CQL2 text against SQL."""

from __future__ import annotations

import pytest
from pyproj import Transformer
from sqlalchemy import text

from tests.queries import scalar

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.fixture(scope="module")
def farm(demo_engine) -> tuple[int, float, float]:
    with demo_engine.connect() as conn:
        row = conn.execute(
            text("SELECT id, ST_X(geom), ST_Y(geom) FROM livestock_farms ORDER BY id LIMIT 1")
        ).one()
    return row[0], row[1], row[2]


@pytest.mark.parametrize(
    ("crs", "epsg"),
    [
        (CRS84, "OGC:CRS84"),
        (EPSG + "4326", "EPSG:4326"),
        (EPSG + "4490", "EPSG:4490"),
        (EPSG + "4528", "EPSG:4528"),
        (EPSG + "4549", "EPSG:4549"),
        (EPSG + "3857", "EPSG:3857"),
    ],
)
def test_output_crs_coordinates_and_axis_order_match_pyproj(client, farm, crs, epsg):
    fid, lon, lat = farm
    # pyproj with the authority's axis order: what OGC URIs mean (lat/lon for 4326, northing first for GK)
    expected = Transformer.from_crs("OGC:CRS84", epsg).transform(lon, lat)
    tolerance = 1e-3 if crs.endswith(("4528", "4549", "3857")) else 1e-9
    for url in (f"/collections/livestock_farms/items/{fid}", "/collections/livestock_farms/items?limit=1"):
        response = client.get(url, params={"crs": crs})
        assert response.status_code == 200
        assert response.headers["content-crs"] == f"<{crs}>"
        body = response.json()
        feature = body if body["type"] == "Feature" else body["features"][0]
        assert feature["geometry"]["coordinates"] == pytest.approx(list(expected), abs=tolerance)


def test_gauss_kruger_zone_40_has_the_zone_in_the_easting(client, farm):
    body = client.get(f"/collections/livestock_farms/items/{farm[0]}", params={"crs": EPSG + "4528"}).json()
    northing, easting = body["geometry"]["coordinates"]
    assert 40_000_000 < easting < 41_000_000 and 3_900_000 < northing < 4_100_000


@pytest.mark.parametrize(
    "bbox_crs", [EPSG + "4326", EPSG + "4490", EPSG + "4549", EPSG + "4528", EPSG + "3857"]
)
def test_bbox_in_another_crs_selects_the_same_features_as_in_crs84(client, bbox_crs):
    lon0, lat0, lon1, lat1 = 119.3, 35.85, 119.5, 36.0
    epsg = "EPSG:" + bbox_crs.rsplit("/", 1)[1]
    to = Transformer.from_crs("OGC:CRS84", epsg)
    a, b = to.transform(lon0, lat0)
    c, d = to.transform(lon1, lat1)
    # a box a little inside the lon/lat one (the projected box is not exactly a lon/lat rectangle)
    shrink = [(a, c), (b, d)]
    box = [min(shrink[0]), min(shrink[1]), max(shrink[0]), max(shrink[1])]
    inside = client.get(
        "/collections/villages/items",
        params={"bbox": ",".join(map(str, box)), "bbox-crs": bbox_crs, "limit": 2000, "properties": ""},
    ).json()
    reference = client.get(
        "/collections/villages/items",
        params={"bbox": f"{lon0},{lat0},{lon1},{lat1}", "limit": 2000, "properties": ""},
    ).json()
    got = {f["id"] for f in inside["features"]}
    want = {f["id"] for f in reference["features"]}
    assert len(got) > 50
    # same box up to the curvature of projected edges: at most a handful of border villages differ
    assert len(got ^ want) <= max(3, len(want) // 50)


def test_bbox_axis_order_follows_the_bbox_crs(client):
    lonlat = client.get("/collections/villages/items?bbox=119.3,35.85,119.5,36.0&limit=1").json()
    latlon = client.get(
        "/collections/villages/items",
        params={"bbox": "35.85,119.3,36.0,119.5", "bbox-crs": EPSG + "4326", "limit": 1},
    ).json()
    assert latlon["numberMatched"] == lonlat["numberMatched"] > 0


def count(engine, where: str) -> int:
    return int(scalar(engine, f"SELECT count(*) FROM livestock_farms f WHERE {where}"))


CQL = [
    ("species = 'pig' AND head_count > 1000", "species = 'pig' AND head_count > 1000"),
    ("species = 'pig' OR species = 'dairy'", "species IN ('pig', 'dairy')"),
    ("NOT (status = 'operational')", "NOT (status = 'operational')"),
    ("head_count BETWEEN 100 AND 500", "head_count BETWEEN 100 AND 500"),
    ("species IN ('sheep', 'beef')", "species IN ('sheep', 'beef')"),
    ("name LIKE '%奶牛%'", "name LIKE '%奶牛%'"),
    ("commissioned_on IS NULL", "commissioned_on IS NULL"),
    ("commissioned_on >= DATE('2015-01-01')", "commissioned_on >= DATE '2015-01-01'"),
    ("capacity >= 500.5", "capacity >= 500.5"),
    ("is_large_scale = true AND has_manure_facility = true", "is_large_scale AND has_manure_facility"),
    (
        "S_INTERSECTS(geom, POLYGON((119.3 35.85, 119.5 35.85, 119.5 36.0, 119.3 36.0, 119.3 35.85)))",
        "ST_Intersects(geom, ST_MakeEnvelope(119.3, 35.85, 119.5, 36.0, 4326))",
    ),
    (
        "S_INTERSECTS(geom, BBOX(119.3, 35.85, 119.5, 36.0)) AND species <> 'pig'",
        "ST_Intersects(geom, ST_MakeEnvelope(119.3, 35.85, 119.5, 36.0, 4326)) AND species <> 'pig'",
    ),
    ("town_code = '370782001'", "town_id = (SELECT id FROM towns WHERE code = '370782001')"),
]


@pytest.mark.parametrize(("cql", "where"), CQL)
def test_cql2_text_selects_what_the_equivalent_sql_selects(client, demo_engine, cql, where):
    body = client.get("/collections/livestock_farms/items", params={"filter": cql, "limit": 1}).json()
    assert body["numberMatched"] == count(demo_engine, where)


def test_cql2_geometry_in_filter_crs_is_transformed(client, demo_engine):
    to = Transformer.from_crs("OGC:CRS84", "EPSG:4549")  # northing, easting
    (n0, e0), (n1, e1) = to.transform(119.3, 35.85), to.transform(119.5, 36.0)
    cql = f"S_INTERSECTS(geom, BBOX({n0}, {e0}, {n1}, {e1}))"
    body = client.get(
        "/collections/livestock_farms/items", params={"filter": cql, "filter-crs": EPSG + "4549", "limit": 1}
    ).json()
    expected = count(demo_engine, "ST_Intersects(geom, ST_MakeEnvelope(119.3, 35.85, 119.5, 36.0, 4326))")
    assert abs(body["numberMatched"] - expected) <= 2


@pytest.mark.parametrize(
    "cql",
    [
        "S_INTERSECTS(geom, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))",  # self-intersecting
        "head_count + 1 > 3",
        "S_INTERSECTS(name, POINT(1 2))",
        "T_BEFORE(updated_at, TIMESTAMP('2020-01-01T00:00:00Z'))",
        "species = 'pig' AND",
        "head_count > 1e400",
    ],
)
def test_unsupported_or_invalid_cql2_is_a_400_naming_filter(client, cql):
    response = client.get("/collections/livestock_farms/items", params={"filter": cql})
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == "filter"
