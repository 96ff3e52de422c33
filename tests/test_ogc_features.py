"""OGC API – Features over the Zhucheng demo: documents, counts, filters and coordinates equal PostGIS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.models import LAYERS
from tests.problems import assert_problem
from tests.queries import column, rows, scalar

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def all_features(client: TestClient, url: str) -> list[dict[str, Any]]:
    """Follow next links to the end."""
    features: list[dict[str, Any]] = []
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.text
        body = page.json()
        features += body["features"]
        assert body["numberReturned"] == len(body["features"])
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), "")
    return features


def test_landing_page_is_json_for_clients_and_html_for_browsers(client):
    doc = client.get("/", headers={"Accept": "application/json"}).json()
    rels = {link["rel"]: link["href"] for link in doc["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert rels["data"].endswith("/collections")
    assert client.get("/?f=json", headers={"Accept": "text/html"}).json()["title"] == "sanichain"
    page = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.headers["content-type"].startswith("text/html")
    assert 'href="http://testserver/collections"' in page.text


def test_conformance_declares_core_geojson_crs_and_cql2(client):
    classes = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in classes
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in classes


def test_collections_list_the_ten_layers_with_extent_crs_and_items_links(client, demo_engine):
    body = client.get("/collections").json()
    assert [c["id"] for c in body["collections"]] == list(LAYERS)
    farms = next(c for c in body["collections"] if c["id"] == "livestock_farms")
    assert farms["crs"][0] == CRS84 and "http://www.opengis.net/def/crs/EPSG/0/4490" in farms["crs"]
    assert any(
        link["rel"] == "items" and link["href"].endswith("/collections/livestock_farms/items")
        for link in farms["links"]
    )
    minx, _, _, maxy = farms["extent"]["spatial"]["bbox"][0]
    x0 = scalar(demo_engine, "SELECT ST_XMin(ST_Extent(geom)) FROM livestock_farms")
    y1 = scalar(demo_engine, "SELECT ST_YMax(ST_Extent(geom)) FROM livestock_farms")
    assert minx <= x0 + 1e-3 and maxy >= y1 - 1e-3  # the planner's estimate may be a little larger


@pytest.mark.parametrize("layer", list(LAYERS))
def test_number_matched_equals_the_sql_count_of_every_layer(client, demo_engine, layer):
    body = client.get(f"/collections/{layer}/items?limit=1").json()
    assert body["numberMatched"] == scalar(demo_engine, f"SELECT count(*) FROM {layer}")
    assert body["numberReturned"] == 1


def test_paging_through_a_whole_layer_returns_every_id_exactly_once(client, demo_engine):
    features = all_features(client, "/collections/villages/items?limit=97")
    ids = [f["id"] for f in features]
    assert ids == column(demo_engine, "SELECT id FROM villages ORDER BY id")


def test_features_carry_the_row_id_attributes_town_code_and_coordinates_of_postgis(client, demo_engine):
    [row] = rows(
        demo_engine,
        "SELECT f.id, f.code, f.name, f.species, f.head_count, ST_X(f.geom), ST_Y(f.geom), t.code "
        "FROM livestock_farms f JOIN towns t ON t.id = f.town_id ORDER BY f.id DESC LIMIT 1",
    )
    feature = client.get(f"/collections/livestock_farms/items/{row[0]}").json()
    assert feature["type"] == "Feature" and feature["id"] == row[0]
    props = feature["properties"]
    assert (props["code"], props["name"], props["species"], props["head_count"]) == tuple(row[1:5])
    assert props["town_code"] == row[7]
    assert feature["geometry"]["type"] == "Point"
    assert feature["geometry"]["coordinates"] == pytest.approx([row[5], row[6]], abs=1e-9)


def test_items_are_geojson_with_content_crs_and_polygons_from_postgis(client, demo_engine):
    response = client.get("/collections/towns/items?limit=20")
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["content-crs"] == f"<{CRS84}>"
    towns = response.json()["features"]
    assert len(towns) == 14 and {t["geometry"]["type"] for t in towns} == {"MultiPolygon"}
    area = scalar(demo_engine, "SELECT ST_Area(geom) FROM towns WHERE id = :id", id=towns[0]["id"])
    from shapely.geometry import shape

    assert shape(towns[0]["geometry"]).area == pytest.approx(area, rel=1e-9)


def test_bbox_selects_what_st_intersects_selects(client, demo_engine):
    bbox = (119.3, 35.85, 119.5, 36.0)
    for layer in ("villages", "towns", "chain_links"):
        got = all_features(client, f"/collections/{layer}/items?limit=500&bbox={','.join(map(str, bbox))}")
        expected = scalar(
            demo_engine,
            f"SELECT count(*) FROM {layer} WHERE ST_Intersects(geom, ST_MakeEnvelope(:a, :b, :c, :d, 4326))",
            a=bbox[0],
            b=bbox[1],
            c=bbox[2],
            d=bbox[3],
        )
        assert 0 < len(got) == expected


def test_property_filters_town_status_species_and_stream(client, demo_engine):
    town = scalar(demo_engine, "SELECT code FROM towns ORDER BY code LIMIT 1")
    cases = {
        f"/collections/villages/items?town={town}": (
            "SELECT count(*) FROM villages v JOIN towns t ON t.id = v.town_id WHERE t.code = :town"
        ),
        "/collections/livestock_farms/items?species=pig,dairy&status=operational": (
            "SELECT count(*) FROM livestock_farms "
            "WHERE species IN ('pig', 'dairy') AND status = 'operational'"
        ),
        "/collections/chain_links/items?stream=fecal_sludge": (
            "SELECT count(*) FROM chain_links WHERE stream = 'fecal_sludge'"
        ),
        "/collections/livestock_farms/items?is_large_scale=true&head_count=1030": (
            "SELECT count(*) FROM livestock_farms WHERE is_large_scale AND head_count = 1030"
        ),
    }
    for url, query in cases.items():
        body = client.get(url + "&limit=1").json()
        assert body["numberMatched"] == scalar(demo_engine, query, town=town) > 0, url


def test_datetime_filters_on_updated_at(client, demo_engine):
    latest = scalar(demo_engine, "SELECT max(updated_at) FROM villages")
    stamp = latest.isoformat()
    assert client.get("/collections/villages/items", params={"datetime": f"{stamp}/.."}).json()[
        "numberMatched"
    ] == (scalar(demo_engine, "SELECT count(*) FROM villages WHERE updated_at >= :t", t=latest))
    assert (
        client.get("/collections/villages/items?datetime=../2000-01-01T00:00:00Z").json()["numberMatched"]
        == 0
    )


def test_properties_selects_and_sortby_orders(client, demo_engine):
    body = client.get(
        "/collections/villages/items?properties=name,population&sortby=-population&limit=5"
    ).json()
    assert all(set(f["properties"]) == {"name", "population"} for f in body["features"])
    top = column(demo_engine, "SELECT population FROM villages ORDER BY population DESC, id LIMIT 5")
    assert [f["properties"]["population"] for f in body["features"]] == top
    empty = client.get("/collections/villages/items?properties=&limit=1").json()
    assert empty["features"][0]["properties"] == {}


def test_sorted_paging_with_nulls_and_ties_returns_every_feature_once(client, demo_engine):
    # commissioned_on has NULLs and repeated dates: both must survive keyset paging
    features = all_features(
        client, "/collections/livestock_farms/items?limit=37&sortby=-commissioned_on,name"
    )
    assert len(features) == len({f["id"] for f in features}) == 566
    expected = column(
        demo_engine, "SELECT id FROM livestock_farms ORDER BY commissioned_on DESC NULLS FIRST, name, id"
    )
    assert [f["id"] for f in features] == expected


def test_items_stream_valid_json_for_a_large_page(client, demo_engine):
    with client.stream("GET", "/collections/chain_links/items?limit=10000") as response:
        chunks = list(response.iter_bytes())
    body = json.loads(b"".join(chunks))
    assert (
        len(body["features"])
        == body["numberMatched"]
        == scalar(demo_engine, "SELECT count(*) FROM chain_links")
    )
    assert not any(link["rel"] == "next" for link in body["links"])


def test_unknown_layer_and_feature_are_404_problems(client):
    for url in (
        "/collections/farms",
        "/collections/farms/items",
        "/collections/villages/items/999999999",
        "/collections/villages/items/abc",
        "/collections/villages/items/-1",
    ):
        assert_problem(client.get(url), 404)


BAD = [
    ("bbox=1,2,3", "bbox"),
    ("bbox=a,b,c,d", "bbox"),
    ("bbox=119,36,120,35", "bbox"),
    ("bbox=nan,1,2,3", "bbox"),
    ("limit=0", "limit"),
    ("limit=10001", "limit"),
    ("limit=ten", "limit"),
    ("limit=99999999999999999999999", "limit"),
    ("nonsense=1", "nonsense"),
    ("properties=name,secret", "properties"),
    ("sortby=name;DROP TABLE villages", "sortby"),
    ("sortby=geom", "sortby"),
    ("cursor=not-a-cursor", "cursor"),
    ("cursor=eyJvIjoiLW5hbWUiLCJrIjpbMV19", "cursor"),  # a cursor of another sort order
    ("cursor=eyJvIjoiK2lkIiwiayI6WzFdLCJiIjoieCJ9", "cursor"),  # a direction that is not a boolean
    ("datetime=yesterday", "datetime"),
    ("datetime=2024-02-01/2024-01-01", "datetime"),
    ("crs=EPSG:9999", "crs"),
    ("bbox=1,2,3,4&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/32650", "bbox-crs"),
    ("filter=population >", "filter"),
    ("filter=secret = 1", "filter"),
    ("filter=population = 'many'", "filter"),
    ("filter=name > 3", "filter"),
    ("filter-lang=cql2-json&filter=x", "filter-lang"),
    ("population=many", "population"),
    ("town=1&town=2", "town"),
    ("limit=5&limit=6", "limit"),
]


@pytest.mark.parametrize(("query", "parameter"), BAD)
def test_bad_parameters_are_400_problems_naming_the_parameter(client, query, parameter):
    assert_problem(client.get(f"/collections/villages/items?{query}"), 400, parameter)


def test_unknown_vocabulary_values_are_400_and_injection_in_free_text_matches_nothing(client, demo_engine):
    assert client.get("/collections/livestock_farms/items?species=unicorn").status_code == 400
    assert client.get("/collections/livestock_farms/items?status=' OR '1'='1").status_code == 400
    body = client.get("/collections/villages/items?name=' OR '1'='1' --").json()
    assert body["numberMatched"] == 0
    for cql in ("name = 'x'' OR ''1''=''1'", "name = 'x'; DROP TABLE villages", "name = 'x' --"):
        assert client.get("/collections/villages/items", params={"filter": cql}).status_code == 400, cql
    assert scalar(demo_engine, "SELECT count(*) FROM villages") == 1249


def test_the_openapi_document_describes_the_items_parameters(client):
    spec = client.get("/openapi.json").json()
    params = {p["name"] for p in spec["paths"]["/collections/{layer}/items"]["get"]["parameters"]}
    assert {
        "bbox",
        "limit",
        "datetime",
        "crs",
        "bbox-crs",
        "filter",
        "sortby",
        "properties",
        "cursor",
    } <= params


def pages_of(client: TestClient, url: str, rel: str) -> list[list[int]]:
    """The ids of each page, following `rel` links from `url` to the end."""
    out: list[list[int]] = []
    while url:
        body = client.get(url).json()
        out.append([f["id"] for f in body["features"]])
        url = next((link["href"] for link in body["links"] if link["rel"] == rel), "")
    return out


@pytest.mark.parametrize(
    "query",
    ["limit=97", "limit=37&sortby=-commissioned_on,name", "limit=50&sortby=head_count&species=pig"],
)
def test_prev_links_walk_back_through_the_same_pages_the_next_links_walked(client, query):
    layer = "villages" if query == "limit=97" else "livestock_farms"
    forward = pages_of(client, f"/collections/{layer}/items?{query}", "next")
    assert len(forward) > 3
    first = client.get(f"/collections/{layer}/items?{query}").json()
    assert not any(link["rel"] == "prev" for link in first["links"])
    # from the last page back to the first, by prev links
    url = f"/collections/{layer}/items?{query}"
    for _ in range(len(forward) - 1):
        body = client.get(url).json()
        url = next(link["href"] for link in body["links"] if link["rel"] == "next")
    backward = pages_of(client, url, "prev")
    assert backward == forward[::-1]
    # a page reached backward links forward to the page it came from
    last = client.get(url).json()
    prev_url = next(link["href"] for link in last["links"] if link["rel"] == "prev")
    before_last = client.get(prev_url).json()
    next_url = next(link["href"] for link in before_last["links"] if link["rel"] == "next")
    assert [f["id"] for f in client.get(next_url).json()["features"]] == forward[-1]
