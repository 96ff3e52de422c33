"""A one-value query parameter given twice is a 400 naming it, on every route of the OpenAPI document
(the OGC API's, the exports' and the landing page's included); never the last value silently kept.
Repeatable parameters (arrays in the document) keep every value."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.accounts import role_headers
from tests.queries import rows, scalar

PATH_VALUES = {
    "layer": "transfer_stations",
    "code": "370782001",
    "feature_id": "1",
    "town_code": "370782001",
    "filename": "transfer_stations.csv",
}


def _operations(client: TestClient) -> list[tuple[str, str]]:
    """(path with its parameters filled, single-valued query parameter) of every GET operation."""
    found = []
    for path, item in client.get("/openapi.json").json()["paths"].items():
        get = item.get("get")
        if not get:
            continue
        filled = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "1"), path)
        for p in get.get("parameters", []):
            schema = p.get("schema", {})
            types = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
            if p["in"] == "query" and "array" not in types:
                found.append((filled, p["name"]))
    return found


@pytest.fixture(scope="module")
def admin(demo_engine):
    with TestClient(create_app(demo_engine), headers=role_headers(demo_engine, "admin")) as c:
        yield c


def test_every_single_valued_query_parameter_given_twice_is_a_400_naming_it(admin):
    operations = _operations(admin)
    assert len(operations) > 30 and ("/coverage", "layer") in operations
    for open_route in (
        ("/collections/transfer_stations/items", "limit"),
        ("/collections/transfer_stations/items/1", "crs"),
        ("/export/transfer_stations.csv", "bbox"),
        ("/", "f"),
    ):
        assert open_route in operations
    wrong = []
    for path, name in operations:
        response = admin.get(path, params=[(name, "1"), (name, "2")])
        detail = response.json().get("detail", "") if "json" in response.headers["content-type"] else ""
        if response.status_code != 400 or not str(detail).startswith(f"{name}: given 2 times (1, 2)"):
            wrong.append((path, name, response.status_code, str(detail)[:120]))
    assert not wrong


def test_coverage_with_the_layer_twice_is_refused_not_answered_for_the_last(admin):
    response = admin.get(
        "/coverage", params=[("layer", "manure_centers"), ("layer", "biogas_centers"), ("distance_m", "5000")]
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == (
        "layer: given 2 times (manure_centers, biogas_centers); it takes one value"
    )


def test_a_repeatable_parameter_keeps_every_value(admin):
    both = admin.get(
        "/coverage",
        params=[("layer", "collection_points"), ("status", "operational"), ("status", "suspended")],
    ).json()
    one = admin.get("/coverage", params=[("layer", "collection_points"), ("status", "operational")]).json()
    assert both["statuses"] == ["operational", "suspended"] and one["statuses"] == ["operational"]


def test_coverage_by_several_layers_counts_a_farm_served_by_any_of_them(admin, demo_engine):
    both = admin.get(
        "/coverage",
        params={"layer": "manure_centers,biogas_centers", "distance_m": 5000, "subjects": "farms"},
    )
    assert both.status_code == 200, both.text
    body = both.json()
    served_by = {}
    for layer in ("manure_centers", "biogas_centers"):
        served_by[layer] = admin.get(
            "/coverage", params={"layer": layer, "distance_m": 5000, "subjects": "farms"}
        ).json()["city"]["farms_served"]
    expected = scalar(
        demo_engine,
        """SELECT count(*) FROM livestock_farms f WHERE f.status = 'operational' AND EXISTS (
               SELECT 1 FROM (SELECT geom FROM manure_centers WHERE status = 'operational' UNION ALL
                              SELECT geom FROM biogas_centers WHERE status = 'operational') c
               WHERE ST_DWithin(f.geom::geography, c.geom::geography, 5000))""",
    )
    assert body["city"]["farms_served"] == expected
    assert expected > max(served_by.values())  # each layer alone leaves some of them unserved
    assert body["layer"] == "manure_centers,biogas_centers"
    layers = {f["layer"] for f in body["facilities"]}
    assert layers == {"manure_centers", "biogas_centers"}
    ids = {(f["layer"], f["id"]) for f in body["facilities"]}
    real = {
        (layer, int(i))
        for layer in layers
        for (i,) in rows(demo_engine, f"SELECT id FROM {layer} WHERE status = 'operational'")
    }
    assert ids == real  # the features' own ids, each with its layer


def test_the_coverage_map_draws_several_layers_named_in_one_value(admin):
    response = admin.get(
        "/maps/coverage", params={"layer": "manure_centers,biogas_centers", "distance_m": 5000}
    )
    assert response.status_code == 200
    assert '"layer":"manure_centers"' in response.text and '"layer":"biogas_centers"' in response.text


@pytest.mark.parametrize(
    ("url", "name", "values"),
    [
        ("/collections/villages/items?limit=1&limit=2", "limit", "1, 2"),
        ("/collections/villages/items?f=json&f=html", "f", "json, html"),
        ("/collections/livestock_farms/items?species=pig&species=dairy", "species", "pig, dairy"),
        ("/collections/transfer_stations/items/1?f=json&f=json", "f", "json, json"),
        ("/export/villages.csv?geometry=xy&geometry=wkt", "geometry", "xy, wkt"),
        ("/export/livestock_farms.geojson?species=pig&species=dairy", "species", "pig, dairy"),
        ("/?f=json&f=html", "f", "json, html"),
    ],
)
def test_the_feature_api_and_exports_refuse_a_parameter_given_twice(admin, url, name, values):
    response = admin.get(url)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["parameter"] == name
    assert body["detail"] == f"{name}: given 2 times ({values}); it takes one value"


def test_a_property_filter_takes_several_values_as_one_comma_separated_value(admin, demo_engine):
    response = admin.get("/collections/livestock_farms/items", params={"species": "pig,dairy", "limit": 1})
    assert response.status_code == 200, response.text
    expected = scalar(demo_engine, "SELECT count(*) FROM livestock_farms WHERE species IN ('pig', 'dairy')")
    assert response.json()["numberMatched"] == expected > 0
