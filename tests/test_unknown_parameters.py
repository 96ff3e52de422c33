"""A query parameter a route does not know is a 400 naming it, on every route: a typo such as
`distanse_m` must not answer silently for the default."""

from __future__ import annotations

import pytest

ROUTES = [
    "/health",
    "/conformance",
    "/collections",
    "/collections/villages",
    "/collections/villages/queryables",
    "/tiles/villages.json",
    "/coverage?layer=collection_points",
    "/coverage/gaps?layer=collection_points",
    "/chain/flows",
    "/chain/facilities",
    "/chain/integrity",
    "/indicators",
    "/planning/scenarios",
    "/maps/city",
]


@pytest.mark.parametrize("path", ROUTES)
def test_an_unknown_query_parameter_is_a_400_naming_it(client, path):
    sep = "&" if "?" in path else "?"
    r = client.get(f"{path}{sep}distanse_m=3000")
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["parameter"] == "distanse_m"
    assert body["detail"] == "distanse_m: unknown query parameter"


def test_the_same_routes_answer_without_the_unknown_parameter(client):
    for path in ROUTES:
        assert client.get(path).status_code == 200, path


def test_routes_with_property_filters_check_names_against_the_layer(client):
    """Items and export take the layer's properties as filters: a real property is answered, an unknown
    name is still a 400 naming it (the layer's own check)."""
    assert client.get("/collections/livestock_farms/items?species=pig&limit=1").status_code == 200
    r = client.get("/collections/livestock_farms/items?specie=pig")
    assert r.status_code == 400 and r.json()["parameter"] == "specie"
    r = client.get("/export/livestock_farms.csv?specie=pig")
    assert r.status_code == 400 and r.json()["parameter"] == "specie"
