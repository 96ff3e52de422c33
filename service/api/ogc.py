"""OGC API – Features (Part 1 Core + GeoJSON, Part 2 CRS, Part 3 CQL2 text) over the public layers.

Thin: parameters → service.features → streamed GeoJSON. Errors are raised, and answered by api.problems.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from service.api import html_pages, openapi30
from service.api.deps import engine_of, query_params
from service.api.headers import base_url, public_url
from service.api.negotiation import wants_html
from service.api.problems import problem_for
from service.api.streaming import CursorStreamingResponse
from service.features import catalogue, fetch
from service.features import crs as crs_
from service.features.catalogue import Layer
from service.features.errors import FeatureNotFound, ParameterError
from service.features.params import feature_query, parse_crs
from service.features.query import FeatureQuery, selected_fields

router = APIRouter(tags=["OGC API – Features"])

GEOJSON = "application/geo+json"
# FastAPI writes OpenAPI 3.1 (at /openapi.json, for /docs); /api serves it converted to 3.0.3, the
# version the oas30 class names and GDAL's OAPIF driver looks for.
OPENAPI = openapi30.MEDIA_TYPE
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
]
JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "string",
    "datetime": "string",
}
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_JSON = "application/schema+json"
LayerName = Annotated[str, Path(description="layer name, e.g. livestock_farms")]


def _url(request: Request, path: str) -> str:
    return base_url(request) + path


# -- landing, conformance ------------------------------------------------------------------------
@router.get("/", summary="Landing page", response_model=None)
def landing(request: Request, f: Annotated[str | None, Query(description="json or html")] = None) -> Response:
    doc = {
        "title": "sanichain",
        "description": "Rural sanitation inventory of a city: household → village → town → city.",
        "links": [
            {"rel": "self", "href": _url(request, "/"), "type": "application/json", "title": "This document"},
            {**_html_alternate(request), "title": "City map (HTML)"},
            {
                "rel": "service-desc",
                "href": _url(request, "/api"),
                "type": OPENAPI,
                "title": "OpenAPI definition",
            },
            {
                "rel": "service-doc",
                "href": _url(request, "/docs"),
                "type": "text/html",
                "title": "API documentation",
            },
            {
                "rel": "conformance",
                "href": _url(request, "/conformance"),
                "type": "application/json",
                "title": "Conformance classes",
            },
            {
                "rel": "data",
                "href": _url(request, "/collections"),
                "type": "application/json",
                "title": "Layers (feature collections)",
            },
            {
                "rel": "status",
                "href": _url(request, "/health"),
                "type": "application/json",
                "title": "Service health",
            },
        ],
    }
    if wants_html(request):  # a browser gets the city map, whose panel carries these links
        from service.api.maps import landing_map

        return landing_map(request)
    return JSONResponse(doc)


@router.get("/api", summary="The API definition (OpenAPI 3.0)", include_in_schema=False)
def api_definition(request: Request) -> Response:
    """FastAPI's OpenAPI 3.1 document as OpenAPI 3.0.3, converted once per application."""
    state = request.app.state
    if getattr(state, "openapi30", None) is None:
        doc = openapi30.document_30(request.app.openapi())
        doc["paths"].update(_items_path_of_each_layer(doc["paths"][ITEMS_PATH]["get"]))
        state.openapi30 = doc
    return JSONResponse(state.openapi30, media_type=OPENAPI)


ITEMS_PATH = "/collections/{layer}/items"


def _items_path_of_each_layer(generic: dict[str, Any]) -> dict[str, Any]:
    """`/collections/<name>/items` for every layer, its properties listed as query parameters: GDAL's
    OAPIF driver (QGIS) sends an attribute filter to the server only for parameters it finds there."""
    paths = {}
    for layer in catalogue.layers():
        parameters = [p for p in generic["parameters"] if p.get("in") != "path"]
        named = {p["name"] for p in parameters}
        for name, prop in _property_schemas(layer).items():
            if name in named or "$ref" in prop:
                continue
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": f"features whose {name} equals one of these values (comma-separated)",
                    "schema": prop,
                }
            )
        summary = f"Features of {layer.name}"
        paths[ITEMS_PATH.replace("{layer}", layer.name)] = {
            "get": {
                **generic,
                "summary": summary,
                "operationId": f"items_{layer.name}",
                "parameters": parameters,
            }
        }
    return paths


Format = Annotated[str | None, Query(description="json or html (default: by the Accept header)")]


def _html_alternate(request: Request) -> dict[str, str]:
    return {
        "rel": "alternate",
        "href": html_pages.with_f(str(public_url(request))),
        "type": "text/html",
        "title": "This document as HTML",
    }


@router.get("/conformance", summary="Conformance classes", response_model=None)
def conformance(request: Request, f: Format = None) -> Response:
    if wants_html(request):
        return HTMLResponse(html_pages.conformance_page(CONFORMANCE, _url(request, "/")))
    return JSONResponse({"conformsTo": CONFORMANCE})


# -- collections ----------------------------------------------------------------------------------
def _collection(request: Request, layer: Layer, extent: list[float] | None) -> dict[str, Any]:
    base = f"/collections/{layer.name}"
    doc: dict[str, Any] = {
        "id": layer.name,
        "title": layer.title,
        "description": f"{layer.title} ({layer.geometry_type})",
        "itemType": "feature",
        "crs": crs_.uris(),
        "storageCrs": crs_.CRS84,
        "links": [
            {"rel": "self", "href": _url(request, base), "type": "application/json", "title": layer.title},
            {"rel": "items", "href": _url(request, base + "/items"), "type": GEOJSON, "title": "Features"},
            {
                # GDAL's OAPIF driver takes field types from this link (it matches "describedBy" exactly)
                "rel": "describedBy",
                "href": _url(request, base + "/schema"),
                "type": "application/schema+json",
                "title": "Schema of the features",
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "href": _url(request, base + "/queryables"),
                "type": "application/schema+json",
                "title": "Queryables",
            },
            {
                "rel": "alternate",
                "href": _url(request, f"/export/{layer.name}.gpkg"),
                "type": "application/geopackage+sqlite3",
                "title": "Download as GeoPackage",
            },
            {
                "rel": "alternate",
                "href": _url(request, f"/tiles/{layer.name}.json"),
                "type": "application/json",
                "title": "Vector tiles (TileJSON)",
            },
        ],
    }
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [extent], "crs": crs_.CRS84}}
    return doc


@router.get("/collections", summary="The layers")
def collections(request: Request, f: Format = None) -> Response:
    html = wants_html(request)
    engine = engine_of(request)
    docs = [
        _collection(request, layer, fetch.spatial_extent(engine, layer.table.name))
        for layer in catalogue.layers()
    ]
    doc = {
        "links": [
            {"rel": "self", "href": _url(request, "/collections"), "type": "application/json"},
            _html_alternate(request),
        ],
        "collections": docs,
    }
    if html:
        return HTMLResponse(html_pages.collections_page(doc, _url(request, "/")))
    return JSONResponse(doc)


@router.get("/collections/{layer}", summary="One layer")
def collection(request: Request, layer: LayerName, f: Format = None) -> Response:
    html = wants_html(request)
    found = catalogue.layer(layer)
    doc = _collection(request, found, fetch.spatial_extent(engine_of(request), found.table.name))
    doc["links"].insert(1, _html_alternate(request))
    if html:
        queryables = [
            html_pages.Queryable(name, prop.get("type", "geometry"), prop.get("enum"))
            for name, prop in _property_schemas(found).items()
        ]
        return HTMLResponse(html_pages.collection_page(doc, queryables, _url(request, "/")))
    return JSONResponse(doc)


@router.get("/collections/{layer}/queryables", summary="Properties usable in filters")
def queryables(request: Request, layer: LayerName) -> Response:
    # OGC API Features Part 3: every property, with its type and vocabulary
    found = catalogue.layer(layer)
    doc = {
        "$schema": JSON_SCHEMA,
        "$id": _url(request, f"/collections/{found.name}/queryables"),
        "type": "object",
        "title": found.title,
        "properties": _property_schemas(found),
    }
    return JSONResponse(doc, media_type=SCHEMA_JSON)


@router.get("/collections/{layer}/schema", summary="JSON Schema of the layer's GeoJSON features")
def schema(request: Request, layer: LayerName) -> Response:
    found = catalogue.layer(layer)
    properties = _property_schemas(found)
    del properties["geom"]
    doc = {
        "$schema": JSON_SCHEMA,
        "$id": _url(request, f"/collections/{found.name}/schema"),
        "title": found.title,
        "type": "object",
        "required": ["type", "id", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "integer"},
            "geometry": {"type": "object", "description": f"GeoJSON {found.geometry_type}"},
            "properties": {"type": "object", "properties": properties},
        },
    }
    return JSONResponse(doc, media_type=SCHEMA_JSON)


def _property_schemas(found: Layer) -> dict[str, Any]:
    props: dict[str, Any] = {"geom": {"$ref": f"https://geojson.org/schema/{found.geometry_type}.json"}}
    for f in found.fields:
        prop: dict[str, Any] = {"type": JSON_TYPES[f.kind]}
        if f.vocabulary:
            prop["enum"] = list(f.vocabulary)
        if f.kind in ("date", "datetime"):
            prop["format"] = "date" if f.kind == "date" else "date-time"
        props[f.name] = prop
    return props


# -- features -------------------------------------------------------------------------------------


def _feature_links(request: Request, found: Layer, self_title: str | None = None) -> list[dict[str, Any]]:
    """self, its HTML alternate and the collection: the links of an items page (titled) or a feature."""
    own: dict[str, Any] = {"rel": "self", "href": str(public_url(request)), "type": GEOJSON}
    up: dict[str, Any] = {
        "rel": "collection",
        "href": _url(request, f"/collections/{found.name}"),
        "type": "application/json",
    }
    if self_title is not None:
        own["title"], up["title"] = self_title, found.title
    return [own, _html_alternate(request), up]


@router.get(
    "/collections/{layer}/items",
    summary="Features of a layer (GeoJSON, streamed, keyset-paged)",
    response_class=StreamingResponse,
    responses={200: {"content": {GEOJSON: {}}}},
)
def items(
    request: Request,
    layer: LayerName,
    limit: Annotated[str | None, Query(description="features per page, 1–10000 (default 10)")] = None,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS URI of bbox")] = None,
    crs: Annotated[str | None, Query(description="output CRS URI (default CRS84)")] = None,
    datetime: Annotated[str | None, Query(description="instant or interval on updated_at")] = None,
    properties: Annotated[str | None, Query(description="comma-separated property names")] = None,
    sortby: Annotated[str | None, Query(description="e.g. -capacity,+name")] = None,
    filter: Annotated[str | None, Query(description="CQL2 text")] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang")] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
    town: Annotated[str | None, Query(description="town code(s), comma-separated")] = None,
    cursor: Annotated[str | None, Query(description="opaque position from a next link")] = None,
    f: Format = None,
) -> Response:
    html = wants_html(request)
    found = catalogue.layer(layer)
    q = feature_query(found, query_params(request))
    if html:
        return CursorStreamingResponse(
            fetch.rendered_chunks(engine_of(request), q, _items_html(request, found, q)),
            media_type=html_pages.HTML,
            on_error=problem_for,
        )

    def links(cursors: fetch.Cursors) -> list[dict[str, Any]]:
        out = _feature_links(request, found, "This page")
        for rel, token in (("next", cursors.next), ("prev", cursors.prev)):
            if token is not None:
                out.append(
                    {
                        "rel": rel,
                        "href": str(public_url(request).include_query_params(cursor=token)),
                        "type": GEOJSON,
                        "title": "Next page" if rel == "next" else "Previous page",
                    }
                )
        return out

    return CursorStreamingResponse(
        fetch.page_chunks(engine_of(request), q, links),
        media_type=GEOJSON,
        headers={"Content-Crs": f"<{q.crs.uri}>"},
        on_error=problem_for,
    )


def _items_html(request: Request, found: Layer, q: FeatureQuery) -> fetch.Render:
    view = html_pages.ItemsView(
        layer=found.name,
        title=found.title,
        columns=[f.name for f in selected_fields(q)],
        root=_url(request, "/"),
        self_href=str(public_url(request)),
        first_href=str(public_url(request).remove_query_params("cursor")),
        cursor_href=lambda token: str(public_url(request).include_query_params(cursor=token)),
    )
    return lambda number_matched, features: html_pages.items_page(view, number_matched, features)


@router.get(
    "/collections/{layer}/items/{feature_id}",
    summary="One feature",
    responses={200: {"content": {GEOJSON: {}}}},
)
def item(
    request: Request,
    layer: LayerName,
    feature_id: str,
    crs: Annotated[str | None, Query(description="output CRS URI (default CRS84)")] = None,
    f: Format = None,
) -> Response:
    html = wants_html(request)
    found = catalogue.layer(layer)
    for name in request.query_params:
        if name not in ("crs", "f"):
            raise ParameterError(name, "unknown parameter")
    out_crs = parse_crs("crs", crs)
    # ids are ASCII decimal integers: str.isdigit alone also accepts '²' and '١' (int('١') is 1)
    if not (feature_id.isascii() and feature_id.isdigit()) or len(feature_id) > 18:
        raise FeatureNotFound(f"no feature {feature_id!r} in {found.name} (ids are decimal integers)")
    q = feature_query(found, {"crs": [crs]} if crs else {})
    feature = fetch.one_feature(engine_of(request), q, int(feature_id))
    if feature is None:
        raise FeatureNotFound(f"no feature {feature_id} in {found.name}")
    feature["links"] = _feature_links(request, found)
    if html:
        return HTMLResponse(html_pages.item_page(feature, found.name, found.title, _url(request, "/")))
    # the feature's version, as an edit names it in If-Match (service.editing.store)
    version = (feature.get("properties") or {}).get("version")
    tag = {"ETag": f'"{version}"'} if isinstance(version, int) else {}
    return JSONResponse(feature, media_type=GEOJSON, headers={"Content-Crs": f"<{out_crs.uri}>", **tag})
