"""The statuses and bodies the service really answers, written into FastAPI's OpenAPI document.

FastAPI documents a 422 validation error for every operation with parameters, and only the media
types it can see in a route's signature. This service answers a bad request with a 400
problem+json (`api.problems`), a missing thing with 404, a clash with the database with 409, work
over a limit with 422, a database that cannot serve with 503, and chooses the success media type
at run time (GeoJSON, HTML, CSV, XLSX, PNG…). `install(app)` completes the document once, when it
is first built; /api converts the completed document to OpenAPI 3.0.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.api import schemas as response_schemas

PROBLEM_JSON = "application/problem+json"
ROLES_EXTENSION = "x-sanichain-roles"  # the roles a state-changing operation allows (api.security)
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; members beyond these name the limit that was exceeded",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "parameter": {"type": "string", "description": "the query parameter or body field at fault"},
        "errors": {
            "type": "array",
            "description": "each field the request validation refused",
            "items": {
                "type": "object",
                "required": ["parameter", "message"],
                "properties": {"parameter": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}
# FastAPI's own validation-error schemas: unused once its 422s are replaced
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
SCHEMA_JSON = "application/schema+json"
SVG = "image/svg+xml"
PNG = "image/png"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXT: dict[str, Any] = {"schema": {"type": "string"}}
BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
TEXT_TYPES = (HTML, SVG, CSV, "text/css", "text/javascript")

# Success media types chosen at run time (by `f`, `format`, Accept or the file asked for), by operation.
SUCCESS_MEDIA: dict[tuple[str, str], tuple[str, ...]] = {
    ("get", "/"): (JSON, HTML),
    ("get", "/conformance"): (JSON, HTML),
    ("get", "/collections"): (JSON, HTML),
    ("get", "/collections/{layer}"): (JSON, HTML),
    ("get", "/collections/{layer}/queryables"): (SCHEMA_JSON,),
    ("get", "/collections/{layer}/schema"): (SCHEMA_JSON,),
    ("get", "/collections/{layer}/items"): (GEOJSON, HTML),
    ("get", "/chain/flows"): (GEOJSON,),
    ("get", "/chain/diagram"): (HTML, SVG, PNG),
    ("get", "/indicators"): (JSON, HTML, XLSX, CSV),
    ("get", "/chain/integrity"): (JSON, XLSX),
    ("get", "/coverage"): (JSON, GEOJSON, XLSX),
    ("get", "/coverage/gaps"): (JSON, XLSX),
    ("get", "/maps/assets/{package}/{version}/{file}"): ("text/javascript", "text/css", PNG),
    ("get", "/audit"): (JSON, CSV),
}

ITEM = "/collections/{layer}/items/{feature_id}"
RESTORE = ITEM + "/history/{version}/restore"
EDIT_422 = "the feature was refused by validation (`errors` lists each field and what is wrong with it)"
EDIT_409 = "a value that must be unique is taken, or (delete) other features still refer to this one"
EDIT_412 = "the version named in If-Match is no longer the stored one: read the feature again"
EDIT_413 = "the body is larger than `SANICHAIN_EDIT_MAX_BODY_BYTES`"
EDIT_415 = "the body is not of a media type the operation reads (GeoJSON, JSON, or for PATCH merge patch)"
EDIT_428 = "If-Match is missing (or `*`): name the ETag of the feature as read"
EDIT_STATUSES = {409: EDIT_409, 413: EDIT_413, 415: EDIT_415, 422: EDIT_422}
VERSIONED_STATUSES = {**EDIT_STATUSES, 412: EDIT_412, 428: EDIT_428}
ETAG_HEADER = {"ETag": {"description": "the feature's version, for If-Match", "schema": {"type": "string"}}}
DRY_RUN = "dry run (`dry-run=true`): what would be stored and its consequences; nothing is kept"
# Successes beyond FastAPI's own (the dry run answers 200 where a write answers 201 or 204).
EXTRA_SUCCESSES: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("get", ITEM): {"200": (GEOJSON, HTML)},
    ("post", "/collections/{layer}/items"): {"201": (GEOJSON,), "200": (JSON,)},
    ("put", ITEM): {"200": (GEOJSON, JSON)},
    ("patch", ITEM): {"200": (GEOJSON, JSON)},
    ("delete", ITEM): {"200": (JSON,)},
    ("post", RESTORE): {"200": (GEOJSON, JSON)},
}

COVERAGE_OPERATIONS = (
    ("get", "/coverage"),
    ("get", "/coverage/gaps"),
    ("get", "/maps/coverage"),
    ("post", "/planning/scenarios"),
)
ROAD_MODE_409 = "road distances asked for, but no road network is loaded (`sanichain roads import`)"
WORK_422 = "the work asked for exceeds a configured limit (the problem names the limit and what would fit)"
# Statuses beyond the ones every operation gets, by operation, with what they mean there.
EXTRA_STATUSES: dict[tuple[str, str], dict[int, str]] = {
    **{op: {409: ROAD_MODE_409, 422: WORK_422} for op in COVERAGE_OPERATIONS},
    ("post", "/planning/siting"): {
        422: "the problem is larger than the configured limits (`measure`, `size`, `max_size`), "
        "or has no solution"
    },
    ("get", "/export/{filename}"): {422: "more features than one Excel sheet holds (XLSX); use CSV"},
    ("post", "/chain/assignments"): {
        403: "a role that may not propose assignments, or `apply` by a role that may not write chain links "
        "(editor or admin for the whole city)",
    },
    ("post", "/collections/{layer}/items"): EDIT_STATUSES,
    ("put", ITEM): VERSIONED_STATUSES,
    ("patch", ITEM): VERSIONED_STATUSES,
    ("delete", ITEM): {409: EDIT_409, 412: EDIT_412, 428: EDIT_428},
    ("post", RESTORE): VERSIONED_STATUSES,
    ("post", "/inspections"): {
        409: "the `Idempotency-Key` was already used by this inspector for another visit",
        413: "a photo, or the whole body, is larger than its limit",
    },
    ("post", "/auth/token"): {
        429: "too many failed sign-ins for the account or the address; see Retry-After"
    },
}
# query parameters that name a thing which may not exist (404 like a path's)
NAMING_PARAMETERS = frozenset({"town"})
BAD_REQUEST = (
    "a parameter or body field is malformed, out of range or names nothing known, a query parameter the "
    "operation does not know, or an untrusted `Host` (`parameter` names it)"
)
NOT_FOUND = "the layer, feature, town, scenario or file named in the path (or `town`) does not exist"
UNAUTHENTICATED = (
    "no valid sign-in where one is needed: a write without one, a read while the read policy is "
    "`signed-in`, or a bearer token that is unknown, expired or revoked (or its user disabled)"
)
FORBIDDEN = (
    "signed in, but the role (`x-sanichain-roles` lists those allowed) or the user's town does not allow it"
)
UNAVAILABLE = (
    "the database cannot serve now (unreachable, busy or too slow); retry after `Retry-After` seconds"
)
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds after which a retry may succeed (when known)",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _problem_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
    }
    if headers:
        response["headers"] = headers
    return response


def _media(media_type: str, found: dict[str, Any]) -> dict[str, Any]:
    """The media type object of a success: the schema FastAPI derived for it when it has one."""
    if media_type in found:
        return found[media_type]
    if media_type.endswith("json"):
        return found.get(JSON, {"schema": {"type": "object"}})
    return TEXT if media_type in TEXT_TYPES else BINARY


def _complete_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's validation error: answered as 400 here
    parameters = operation.get("parameters", [])
    # every operation refuses unknown query parameters and untrusted Host names
    responses["400"] = _problem_response(BAD_REQUEST)
    if any(p.get("in") == "path" or p.get("name") in NAMING_PARAMETERS for p in parameters):
        responses["404"] = _problem_response(NOT_FOUND)
    # any request may carry a bearer token that is not (or no longer) valid
    responses["401"] = _problem_response(
        UNAUTHENTICATED, {"WWW-Authenticate": {"schema": {"type": "string"}}}
    )
    if ROLES_EXTENSION in operation:
        responses["403"] = _problem_response(FORBIDDEN)
    for status, description in EXTRA_STATUSES.get((method, path), {}).items():
        responses[str(status)] = _problem_response(description)
    responses["503"] = _problem_response(UNAVAILABLE, RETRY_AFTER)
    media = SUCCESS_MEDIA.get((method, path))
    success = responses.get("200")
    if media and success is not None:
        found = success.get("content", {})
        success["content"] = {m: _media(m, found) for m in media}
    for code, types in EXTRA_SUCCESSES.get((method, path), {}).items():
        response = responses.setdefault(code, {"description": DRY_RUN})
        found = response.get("content", {})
        response["content"] = {m: _media(m, found) for m in types}
        if GEOJSON in types:
            response["headers"] = {**response.get("headers", {}), **ETAG_HEADER}
    operation["responses"] = dict(sorted(responses.items()))


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` (FastAPI's document) with the statuses and media types the service answers, in place."""
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            _complete_operation(method, path, operation)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    response_schemas.document(doc)
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    return doc


def install(app: FastAPI) -> None:
    """Complete `app`'s OpenAPI document when it is first built (FastAPI then keeps it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
