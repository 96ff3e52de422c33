"""/api: FastAPI's OpenAPI 3.1 document converted to a valid OpenAPI 3.0.3 document (OGC "oas30")."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import OpenAPIV30SpecValidator

from service.api.app import create_app
from service.api.openapi30 import document_30, schema_30
from service.config import SitingSettings
from service.models import LAYERS
from tests.problems import assert_problem

OAS30 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30"
REF = {"$ref": "#/components/schemas/Point"}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": ["string", "null"]}, {"type": "string", "nullable": True}),
        ({"type": ["integer", "string"]}, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (
            {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}], "title": "Reach"},
            {"type": "number", "minimum": 0, "exclusiveMinimum": True, "title": "Reach", "nullable": True},
        ),
        (
            {"anyOf": [REF, {"type": "null"}], "default": None},
            {"default": None, "allOf": [REF], "nullable": True},
        ),
        (
            {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
            {"anyOf": [{"type": "integer"}, {"type": "string"}], "nullable": True},
        ),
        ({"type": "string", "const": "grid"}, {"type": "string", "enum": ["grid"]}),
        ({"type": "integer", "examples": [10, 20]}, {"type": "integer", "example": 10}),
        (
            {"type": "number", "exclusiveMaximum": 5.5},
            {"type": "number", "maximum": 5.5, "exclusiveMaximum": True},
        ),
        ({"type": "number", "minimum": 3, "exclusiveMinimum": 1}, {"type": "number", "minimum": 3}),
        (
            {"type": "number", "minimum": 1, "exclusiveMinimum": 3},
            {"type": "number", "minimum": 3, "exclusiveMinimum": True},
        ),
        ({**REF, "default": "pig"}, {"allOf": [REF], "default": "pig"}),
        (
            {"type": "string", "contentMediaType": "application/octet-stream"},
            {"type": "string", "format": "binary"},
        ),
        ({"type": "null"}, {"nullable": True, "enum": [None]}),
        (
            {
                "type": "object",
                "properties": {"k": {"type": ["integer", "null"]}},
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"k": {"type": "integer", "nullable": True}},
                "additionalProperties": False,
            },
        ),
        (
            {"type": "array", "items": {"const": 1}, "prefixItems": [{"type": "integer"}], "$schema": "x"},
            {"type": "array", "items": {"enum": [1]}},
        ),
        ({"oneOf": [True, False]}, {"oneOf": [{}, {"not": {}}]}),
    ],
)
def test_schema_30_rewrites_each_json_schema_2020_construct(schema, expected):
    assert schema_30(schema) == expected


def test_document_30_converts_every_schema_position_and_leaves_the_input_unchanged():
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "t",
            "version": "1",
            "summary": "s",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "paths": {
            "/x": {
                "get": {
                    "parameters": [{"name": "n", "in": "query", "schema": {"type": ["integer", "null"]}}],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "headers": {"H": {"schema": {"const": "a"}}},
                            "content": {"application/json": {"schema": {"examples": ["e"]}}},
                        }
                    },
                }
            }
        },
        "components": {"schemas": {"S": {"type": ["string", "null"]}}, "pathItems": {}},
        "webhooks": {},
    }
    before = json.dumps(doc)
    out = document_30(doc)
    assert json.dumps(doc) == before
    assert out["openapi"] == "3.0.3" and "webhooks" not in out and "pathItems" not in out["components"]
    assert out["info"] == {"title": "t", "version": "1", "license": {"name": "MIT"}}
    get = out["paths"]["/x"]["get"]
    assert get["parameters"][0]["schema"] == {"type": "integer", "nullable": True}
    assert get["responses"]["200"]["headers"]["H"]["schema"] == {"enum": ["a"]}
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {"example": "e"}
    assert out["components"]["schemas"]["S"] == {"type": "string", "nullable": True}
    OpenAPIV30SpecValidator(out).validate()


def parameter_names(doc: dict[str, Any], path: str) -> list[str]:
    return [p["name"] for p in doc["paths"][path]["get"]["parameters"]]


def test_api_serves_a_valid_openapi_30_document_of_every_operation(client):
    response = client.get("/api")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = response.json()
    assert doc["openapi"] == "3.0.3"
    OpenAPIV30SpecValidator(doc).validate()
    original = client.get("/openapi.json").json()
    assert original["openapi"].startswith("3.1")
    layer_paths = {f"/collections/{name}/items" for name in LAYERS}
    assert {p: sorted(ops) for p, ops in doc["paths"].items() if p not in layer_paths} == {
        p: sorted(ops) for p, ops in original["paths"].items()
    }
    assert layer_paths <= set(doc["paths"])
    assert set(doc["components"]["schemas"]) == set(original["components"]["schemas"])
    text = json.dumps(doc)
    assert '"type": "null"' not in text and '"const"' not in text and '"type": [' not in text
    # the 3.1 document's items parameters (test_ogc_features checks them), `f` included
    generic = "/collections/{layer}/items"
    assert parameter_names(doc, generic) == parameter_names(original, generic)
    assert "f" in parameter_names(doc, generic)


def test_landing_page_links_the_30_definition_and_the_html_docs_and_claims_oas30(client):
    doc = client.get("/", headers={"Accept": "application/json"}).json()
    links = {link["rel"]: link for link in doc["links"]}
    assert links["service-desc"]["href"] == "http://testserver/api"
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert (
        links["service-doc"]["href"] == "http://testserver/docs"
        and links["service-doc"]["type"] == "text/html"
    )
    assert client.get("/docs").headers["content-type"].startswith("text/html")
    assert OAS30 in client.get("/conformance").json()["conformsTo"]


def test_api_lists_each_layers_properties_as_query_parameters_of_its_items_path(client):
    doc = client.get("/api").json()
    farms = {p["name"]: p for p in doc["paths"]["/collections/livestock_farms/items"]["get"]["parameters"]}
    assert {"bbox", "limit", "cursor", "species", "head_count", "town_code", "status"} <= set(farms)
    assert farms["species"]["in"] == "query" and "pig" in farms["species"]["schema"]["enum"]
    assert farms["head_count"]["schema"]["type"] == "integer"
    assert "layer" not in farms
    towns = parameter_names(doc, "/collections/towns/items")
    assert "species" not in towns and "name" in towns
    ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


# -- the statuses and bodies the service answers (service/api/openapi_responses.py) ------------------
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _operations(doc):
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def _problem_ref(response):
    return response["content"]["application/problem+json"]["schema"]


def test_openapi_documents_400_problem_json_where_fastapi_wrote_422(client):
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = schemas["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail"]
    assert {"parameter", "errors"} <= set(problem["properties"])
    with_input = [(m, p, op) for m, p, op in _operations(doc) if op.get("parameters") or "requestBody" in op]
    assert len(with_input) >= 25
    for method, path, op in with_input:
        assert _problem_ref(op["responses"]["400"]) == PROBLEM, (method, path)
    unprocessable = {(m, p) for m, p, op in _operations(doc) if "422" in op["responses"]}
    assert unprocessable == {
        ("get", "/coverage"),
        ("get", "/coverage/gaps"),
        ("get", "/maps/coverage"),
        ("post", "/planning/scenarios"),
        ("post", "/planning/siting"),
        ("get", "/export/{filename}"),
        # feature edits: the validator's refusals, by field
        ("post", "/collections/{layer}/items"),
        ("put", "/collections/{layer}/items/{feature_id}"),
        ("patch", "/collections/{layer}/items/{feature_id}"),
        ("post", "/collections/{layer}/items/{feature_id}/history/{version}/restore"),
    }


def test_a_refused_parameter_answers_the_documented_400_problem(client):
    doc = client.get("/openapi.json").json()
    problem_schema = doc["components"]["schemas"]["Problem"]
    response = client.get("/collections/livestock_farms/items", params={"limit": "many"})
    body = assert_problem(response, 400)
    assert body["title"] == "Bad Request" and body["type"] == "about:blank"
    assert body["detail"].startswith("limit") and body["parameter"] == "limit"
    jsonschema.validate(body, problem_schema)
    # FastAPI's own validation: the same 400, each field listed
    response = client.get("/coverage/gaps", params={"layer": "collection_points", "limit": 0})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["errors"][0]["parameter"] == "limit"
    jsonschema.validate(body, problem_schema)


def test_every_operation_documents_503_with_retry_after_and_404_where_a_thing_is_named(client):
    doc = client.get("/openapi.json").json()
    for method, path, op in _operations(doc):
        unavailable = op["responses"]["503"]
        assert _problem_ref(unavailable) == PROBLEM, (method, path)
        assert unavailable["headers"]["Retry-After"]["schema"]["type"] == "integer"
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path" or p["name"] == "town"}
        assert ("404" in op["responses"]) == bool(names), (method, path)
    assert "404" in doc["paths"]["/planning/scenarios/{scenario_id}"]["get"]["responses"]
    assert "404" in doc["paths"]["/chain/flows"]["get"]["responses"]  # ?town= names a town
    assert "404" not in doc["paths"]["/health"]["get"]["responses"]


def test_openapi_documents_the_conflicts_limits_and_token_errors_the_routes_raise(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/coverage", "/coverage/gaps", "/maps/coverage"):
        assert "road network" in paths[path]["get"]["responses"]["409"]["description"]
    assert "409" in paths["/planning/scenarios"]["post"]["responses"]
    assert "limits" in paths["/planning/siting"]["post"]["responses"]["422"]["description"]
    assert "Excel" in paths["/export/{filename}"]["get"]["responses"]["422"]["description"]
    assigning = paths["/chain/assignments"]["post"]["responses"]
    assert {"401", "403"} <= set(assigning)
    assert "409" not in paths["/collections/{layer}/items"]["get"]["responses"]


def test_road_coverage_without_a_network_answers_the_documented_409(empty_engine):
    with TestClient(create_app(empty_engine)) as c:
        documented = c.get("/openapi.json").json()["paths"]["/coverage"]["get"]["responses"]
        response = c.get("/coverage", params={"layer": "collection_points", "distance_mode": "road"})
    assert "409" in documented
    body = assert_problem(response, 409, None, "road")
    assert body["title"] == "Conflict"


def test_a_siting_problem_over_the_limit_answers_the_documented_422(planner_client):
    doc = planner_client.get("/openapi.json").json()
    planner_client.app.state.siting_settings = SitingSettings(max_pairs=20)
    body = {
        "layer": "collection_points",
        "model": "maximal_covering",
        "k": 2,
        "distance_m": 3000,
        "candidates": {"source": "villages"},
    }
    response = planner_client.post("/planning/siting", json=body)
    assert response.status_code == 422
    assert "422" in doc["paths"]["/planning/siting"]["post"]["responses"]
    problem = response.json()
    assert problem["status"] == 422 and problem["max_size"] == 20
    assert problem["detail"].startswith("distance_m")
    jsonschema.validate(problem, doc["components"]["schemas"]["Problem"])


ITEMS = "/collections/{layer}/items"


@pytest.mark.parametrize(
    ("operation", "path", "params", "media_type"),
    [
        ("/chain/diagram", "/chain/diagram", {"format": "png"}, "image/png"),
        ("/chain/diagram", "/chain/diagram", {"format": "svg"}, "image/svg+xml"),
        ("/chain/diagram", "/chain/diagram", {}, "text/html"),
        (ITEMS, "/collections/towns/items", {"f": "html", "limit": 1}, "text/html"),
        (ITEMS, "/collections/towns/items", {"limit": 1}, "application/geo+json"),
        ("/collections/{layer}/queryables", "/collections/towns/queryables", {}, "application/schema+json"),
        (
            "/coverage",
            "/coverage",
            {"layer": "collection_points", "format": "geojson"},
            "application/geo+json",
        ),
        ("/chain/flows", "/chain/flows", {}, "application/geo+json"),
        ("/indicators", "/indicators", {"f": "html"}, "text/html"),
    ],
)
def test_the_success_media_type_answered_is_one_the_document_lists(
    client, operation, path, params, media_type
):
    doc = client.get("/openapi.json").json()
    documented = doc["paths"][operation]["get"]["responses"]["200"]["content"]
    response = client.get(path, params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert media_type in documented


def test_api_30_carries_the_problem_schema_and_the_statuses_on_each_layers_items_path(client):
    doc = client.get("/api").json()
    OpenAPIV30SpecValidator(doc).validate()
    assert doc["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    farms = doc["paths"]["/collections/livestock_farms/items"]["get"]["responses"]
    assert {"200", "400", "404", "503"} <= set(farms) and "422" not in farms
    assert set(farms["200"]["content"]) == {"application/geo+json", "text/html"}
