"""/api: FastAPI's OpenAPI 3.1 document converted to a valid OpenAPI 3.0.3 document (OGC "oas30")."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator

from service.api.openapi30 import document_30, schema_30
from service.models import LAYERS

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
    params = {p["name"] for p in doc["paths"]["/collections/{layer}/items"]["get"]["parameters"]}
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
        "f",
    } <= params


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
    towns = {p["name"] for p in doc["paths"]["/collections/towns/items"]["get"]["parameters"]}
    assert "species" not in towns and "name" in towns
    ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
