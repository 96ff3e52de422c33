"""Editing features (OGC API – Features Part 4): create, replace, update, delete, history, restore.

Thin: the body and headers → service.editing.store → the stored feature with its ETag (the version).
Replacing, updating and deleting (and restoring a feature that exists) name the version they read in
If-Match: without it 428, with an outdated one 412. `dry-run=true` does the edit, answers what would be stored
and what it does to the chain, and takes it back.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from service.accounts.permissions import Action
from service.accounts.tokens import Principal
from service.api.deps import declared_query_parameters, engine_of
from service.api.headers import base_url
from service.api.security import SignedIn, actor, requires
from service.config import EditSettings
from service.editing import history, store
from service.errors import BadParameter, BodyTooLarge
from service.features.errors import FeatureNotFound

router = APIRouter(tags=["Editing (OGC API – Features Part 4)"])

GEOJSON = "application/geo+json"
EDITOR = requires(Action.edit_inventory)
LayerName = Annotated[str, Path(description="layer name, e.g. collection_points")]
FeatureId = Annotated[str, Path(description="the feature's id, as in its URL")]
DryRun = Annotated[
    bool,
    Query(alias="dry-run", description="do it, answer what would be stored and its consequences, undo it"),
]
AcceptOutside = Annotated[
    bool,
    Query(alias="accept-outside", description="accept a position outside the city (a warning, not a 422)"),
]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description='the ETag of the feature as read, e.g. "3"')
]


def _body_schema(*media: str) -> dict[str, Any]:
    feature = {"type": "object", "description": "a GeoJSON Feature (`type`, `geometry`, `properties`)"}
    return {"requestBody": {"required": True, "content": {m: {"schema": feature} for m in media}}}


def _settings(request: Request) -> EditSettings:
    held = getattr(request.app.state, "edit_settings", None)
    return held if isinstance(held, EditSettings) else EditSettings()


async def _raw_body(request: Request) -> bytes:
    """The body, read no further than the configured limit (a huge body is refused, not buffered)."""
    limit = _settings(request).edit_max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is {declared} bytes; at most {limit} are read", limit_bytes=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body exceeds {limit} bytes", limit_bytes=limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def feature_body(request: Request) -> dict[str, Any]:
    body = store.parse_body(
        await _raw_body(request), request.headers.get("content-type"), store.FEATURE_MEDIA
    )
    store.check_feature(body)
    return body


async def patch_body(request: Request) -> dict[str, Any]:
    body = store.parse_body(await _raw_body(request), request.headers.get("content-type"), store.PATCH_MEDIA)
    store.check_feature(body, patch=True)
    return body


async def no_body(request: Request) -> None:
    """A delete or a restore takes no body: one sent is refused rather than ignored."""
    if await _raw_body(request):
        raise BadParameter("body", f"{request.method} {request.url.path} takes no body")


def _known_parameters(request: Request) -> None:
    # the items paths are open to a layer's property names for reads; these writes are not
    unknown = sorted(set(request.query_params) - declared_query_parameters(request))
    if unknown:
        raise BadParameter(unknown[0], "unknown query parameter")


def _feature_id(layer: str, feature_id: str) -> int:
    # as the read route resolves it: ASCII decimal integers only
    if not (feature_id.isascii() and feature_id.isdigit()) or len(feature_id) > 18:
        raise FeatureNotFound(f"no feature {feature_id!r} in {layer} (ids are decimal integers)")
    return int(feature_id)


def _edit(request: Request, principal: Principal, operation: store.Operation, dry_run: bool) -> store.Outcome:
    store.editable(operation.layer)
    return store.run(engine_of(request), [operation], actor(request, principal), principal, dry_run=dry_run)


def _answer(request: Request, outcome: store.Outcome, status: int = 200) -> Response:
    written = outcome.written[0]
    if outcome.dry_run:
        return JSONResponse(
            {
                "dry_run": True,
                "feature": written.feature,
                "warnings": written.warnings,
                "consequences": outcome.consequences,
            }
        )
    if written.feature is None or written.version is None:
        return Response(status_code=204)
    location = base_url(request) + f"/collections/{written.layer}/items/{written.feature_id}"
    headers = {"ETag": store.etag(written.version)}
    if status == 201:
        headers["Location"] = location
    feature = dict(written.feature)
    if written.warnings:
        feature["warnings"] = written.warnings
    return JSONResponse(feature, status_code=status, media_type=GEOJSON, headers=headers)


def _change(
    request: Request, principal: Principal, op: store.OperationKind, layer: str, feature_id: str,
    body: dict[str, Any], if_match: str | None, dry_run: bool, accept_outside: bool,
) -> Response:  # fmt: skip
    """A replace (PUT) or an update (PATCH) of a stored feature: they differ only in how the body is read."""
    operation = store.Operation(
        op, layer, _feature_id(layer, feature_id), body, store.parse_if_match(if_match),
        accept_outside=accept_outside,
    )  # fmt: skip
    return _answer(request, _edit(request, principal, operation, dry_run))


def _write_route(*body_media: str, takes_body: bool = True, note: str = "") -> dict[str, Any]:
    """Decorator arguments of a write: the role check first (a refused role is a 403 whatever the
    request holds), then the query parameters and the body."""
    checks = [*EDITOR["dependencies"], Depends(_known_parameters)]
    if not takes_body:
        checks.append(Depends(no_body))
    extra = {**EDITOR["openapi_extra"], **(_body_schema(*body_media) if body_media else {})}
    return {
        "response_model": None,
        "dependencies": checks,
        "openapi_extra": extra,
        "description": EDITOR["description"] + note,
    }


@router.post(
    "/collections/{layer}/items",
    summary="Create a feature",
    status_code=201,
    **_write_route(GEOJSON, "application/json"),
)
def create(
    request: Request,
    layer: LayerName,
    principal: SignedIn,
    body: Annotated[dict[str, Any], Depends(feature_body)],
    dry_run: DryRun = False,
    accept_outside: AcceptOutside = False,
) -> Response:
    operation = store.Operation("create", layer, feature=body, accept_outside=accept_outside)
    return _answer(request, _edit(request, principal, operation, dry_run), status=201)


@router.put(
    "/collections/{layer}/items/{feature_id}",
    summary="Replace a feature (If-Match required)",
    **_write_route(GEOJSON, "application/json"),
)
def replace(
    request: Request,
    layer: LayerName,
    feature_id: FeatureId,
    principal: SignedIn,
    body: Annotated[dict[str, Any], Depends(feature_body)],
    if_match: IfMatch = None,
    dry_run: DryRun = False,
    accept_outside: AcceptOutside = False,
) -> Response:
    return _change(request, principal, "replace", layer, feature_id, body, if_match, dry_run, accept_outside)


@router.patch(
    "/collections/{layer}/items/{feature_id}",
    summary="Update a feature by JSON Merge Patch (If-Match required)",
    **_write_route("application/merge-patch+json", GEOJSON, "application/json"),
)
def update(
    request: Request,
    layer: LayerName,
    feature_id: FeatureId,
    principal: SignedIn,
    body: Annotated[dict[str, Any], Depends(patch_body)],
    if_match: IfMatch = None,
    dry_run: DryRun = False,
    accept_outside: AcceptOutside = False,
) -> Response:
    return _change(request, principal, "update", layer, feature_id, body, if_match, dry_run, accept_outside)


@router.delete(
    "/collections/{layer}/items/{feature_id}",
    summary="Delete a feature (If-Match required)",
    status_code=204,
    **_write_route(takes_body=False),
)
def delete(
    request: Request,
    layer: LayerName,
    feature_id: FeatureId,
    principal: SignedIn,
    if_match: IfMatch = None,
    dry_run: DryRun = False,
) -> Response:
    expected = store.parse_if_match(if_match)
    operation = store.Operation("delete", layer, _feature_id(layer, feature_id), expected=expected)
    return _answer(request, _edit(request, principal, operation, dry_run))


def _history(request: Request, layer: str, feature_id: int) -> list[dict[str, Any]]:
    with engine_of(request).connect() as conn:
        return history.listing(conn, layer, feature_id)


@router.get(
    "/collections/{layer}/items/{feature_id}/history",
    summary="Every version of a feature, newest first (signed-in users: it names people)",
    response_model=None,
    dependencies=[Depends(_known_parameters)],
)
async def feature_history(request: Request, layer: LayerName, feature_id: FeatureId, _: SignedIn) -> Response:
    found = _feature_id(layer, feature_id)
    versions = await run_in_threadpool(_history, request, layer, found)
    return JSONResponse({"layer": layer, "id": found, "versions": versions})


@router.post(
    "/collections/{layer}/items/{feature_id}/history/{version}/restore",
    summary="Bring back a version of a feature (also a deleted one, with its id)",
    **_write_route(takes_body=False, note=" If-Match is required when the feature exists."),
)
def restore(
    request: Request,
    layer: LayerName,
    feature_id: FeatureId,
    version: Annotated[int, Path(ge=1, le=2_000_000_000, description="the version to bring back")],
    principal: SignedIn,
    if_match: IfMatch = None,
    dry_run: DryRun = False,
) -> Response:
    expected = store.parse_if_match(if_match)
    operation = store.Operation(
        "restore", layer, _feature_id(layer, feature_id), expected=expected, version=version
    )
    return _answer(request, _edit(request, principal, operation, dry_run))
