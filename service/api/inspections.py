"""Inspections: record a visit (inspectors and admins), read the records and their photos (signed-in users).

`POST /inspections` takes multipart/form-data (the phone's form, photos included) and an
`Idempotency-Key` header: 201 with the record the first time, 200 with the same record on every re-send
of that key (`Idempotent-Replayed: true`), 409 if the key was used for another visit.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from service.accounts.permissions import Action
from service.accounts.tokens import Principal
from service.api import inspection_form
from service.api.deps import engine_of
from service.api.headers import base_url
from service.api.negotiation import wants_html
from service.api.observability import metrics_of
from service.api.report_params import LangQuery, ReportLang, lang_of, xlsx_response
from service.api.security import SignedIn, actor, requires
from service.config import InspectionSettings, settings
from service.inspections import checklists, due, photos, records, review
from service.maps.i18n import words
from service.reports import overdue as overdue_report
from service.reports import review as review_report
from service.reports.workbook import XLSX

router = APIRouter(tags=["inspections"])
INSPECTOR = requires(Action.record_inspection)
InspectionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the inspection's id")]

FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": list(records.REQUIRED),
                    "properties": {
                        "layer": {"type": "string", "enum": list(checklists.CHECKLISTS)},
                        "feature_id": {"type": "integer", "minimum": 1},
                        "inspected_at": {"type": "string", "format": "date-time"},
                        "outcome": {"type": "string", "enum": ["ok", "defects", "out_of_service"]},
                        "checklist": {
                            "type": "string",
                            "description": 'JSON: item → true/false/null, e.g. {"compactor_works": true}',
                        },
                        "notes": {"type": "string", "maxLength": records.MAX_NOTES},
                        "lon": {"type": "number", "minimum": -180, "maximum": 180},
                        "lat": {"type": "number", "minimum": -90, "maximum": 90},
                        "accuracy_m": {"type": "number", "minimum": 0},
                        "photo": {
                            "type": "array",
                            "maxItems": photos.MAX_PHOTOS,
                            "items": {"type": "string", "format": "binary"},
                        },
                    },
                }
            }
        },
    }
}


def _with_links(request: Request, record: dict[str, Any]) -> dict[str, Any]:
    base = base_url(request)
    for photo in record["photos"]:
        photo["href"] = f"{base}/inspections/{record['id']}/photos/{photo['number']}"
    record["href"] = f"{base}/inspections/{record['id']}"
    return record


def _record(
    request: Request, principal: Principal, form: inspection_form.InspectionForm, key: str
) -> tuple[records.Recorded, dict[str, Any]]:
    visit = records.parse_visit(form.fields)
    checked = photos.checked(form.photos)
    with engine_of(request).begin() as conn:
        done = records.record(conn, visit, key, checked, principal, actor(request, principal))
        return done, records.read(conn, done.id)


@router.post(
    "/inspections",
    summary="Record an inspection of a facility (with photos and the inspector's position)",
    status_code=201,
    response_model=None,
    responses={
        200: {
            "description": "a re-send of a recorded key: the first record",
            "content": {"application/json": {}},
            "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
        }
    },
    dependencies=INSPECTOR["dependencies"],
    openapi_extra={**INSPECTOR["openapi_extra"], **FORM_SCHEMA},
    description=INSPECTOR["description"]
    + " Re-sending the same `Idempotency-Key` answers the first record (200), never a second one.",
)
async def record_inspection(
    request: Request,
    principal: SignedIn,
    key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="chosen by the device; the same on every re-send"),
    ] = None,
) -> Response:
    checked_key = records.idempotency_key(key)
    form = await inspection_form.read(request)
    done, record = await run_in_threadpool(_record, request, principal, form, checked_key)
    metrics = metrics_of(request)
    if metrics is not None and done.created:
        metrics.inspections.labels(record["outcome"]).inc()
    body = _with_links(request, record)
    headers = {"Location": body["href"]}
    if not done.created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=201 if done.created else 200, headers=headers)


@router.get(
    "/inspections/checklists", summary="What is checked at each kind of facility", response_model=None
)
def checklist_items(lang: LangQuery = ReportLang.zh) -> dict[str, Any]:
    return {
        "checklists": checklists.described(lang_of(lang)),
        "outcomes": ["ok", "defects", "out_of_service"],
    }


@router.get(
    "/inspections",
    summary="Inspections, newest first: of one facility, one layer or one town",
    response_model=None,
)
def inspections(
    request: Request,
    _: SignedIn,
    layer: Annotated[str | None, Query(description="a facility layer, e.g. transfer_stations")] = None,
    feature_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="with layer: one facility")
    ] = None,
    town: Annotated[str | None, Query(pattern="^[0-9]{9}$", description="a town's 9-digit code")] = None,
    limit: Annotated[int, Query(ge=1, le=records.MAX_LIST, description="most records")] = 100,
    lang: LangQuery = ReportLang.zh,
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        found = records.listed(
            conn, layer=layer, feature_id=feature_id, town=town, limit=limit, lang=lang_of(lang)
        )
    return {"inspections": [_with_links(request, r) for r in found], "returned": len(found)}


@router.get(
    "/inspections/overdue",
    summary="Facilities whose inspection is due: by town and grid, most overdue first (JSON, HTML, XLSX)",
    response_model=None,
    responses={200: {"content": {"text/html": {}, XLSX: {}}}},
)
def overdue(
    request: Request,
    _: SignedIn,
    town: Annotated[str | None, Query(pattern="^[0-9]{9}$", description="a town's 9-digit code")] = None,
    grid: Annotated[str | None, Query(max_length=64, description="a grid's code, e.g. WG-07")] = None,
    layer: Annotated[str | None, Query(description="one facility layer")] = None,
    limit: Annotated[int, Query(ge=1, le=due.MAX_LIST, description="most overdue facilities listed")] = 500,
    lang: LangQuery = ReportLang.zh,
    f: Annotated[
        str | None, Query(pattern="^(json|html|xlsx)$", description="json, html or xlsx; default by Accept")
    ] = None,
) -> Response:
    scope = due.Scope(town, grid, layer)
    with engine_of(request).connect() as conn:
        data = due.overdue(conn, scope, settings(InspectionSettings), limit=limit, lang=lang_of(lang))
    if f == "xlsx":
        parameters = [("town", town), ("grid", grid), ("layer", layer), ("limit", limit)]
        return xlsx_response(
            overdue_report.xlsx(data, parameters, lang_of(lang), words(lang_of(lang))),
            "inspections-overdue.xlsx",
        )
    if f == "html" or (f is None and wants_html(request)):
        query = "&".join(f"{k}={v}" for k, v in request.query_params.items() if k != "f")
        return HTMLResponse(
            overdue_report.page(data, base_url(request), lang_of(lang), query, words(lang_of(lang)))
        )
    return JSONResponse(data)


@router.get(
    "/inspections/review",
    summary="The review rhythm: a week's or a month's inspections per town and grid (JSON, HTML, XLSX)",
    response_model=None,
    responses={200: {"content": {"text/html": {}, XLSX: {}}}},
)
def review_rhythm(
    request: Request,
    _: SignedIn,
    period: Annotated[
        str, Query(pattern="^(week|month)$", description="week (Monday–Sunday) or month")
    ] = "week",
    date: Annotated[
        datetime.date | None, Query(description="a day of the period (the city's calendar); default today")
    ] = None,
    town: Annotated[str | None, Query(pattern="^[0-9]{9}$", description="a town's 9-digit code")] = None,
    grid: Annotated[str | None, Query(max_length=64, description="a grid's code, e.g. WG-07")] = None,
    lang: LangQuery = ReportLang.zh,
    f: Annotated[
        str | None, Query(pattern="^(json|html|xlsx)$", description="json, html or xlsx; default by Accept")
    ] = None,
) -> Response:
    day = date or datetime.datetime.now(review.CITY_TIME).date()
    with engine_of(request).connect() as conn:
        data = review.review(
            conn, period, day, due.Scope(town, grid), settings(InspectionSettings), lang=lang_of(lang)
        )
    if f == "xlsx":
        parameters = [("period", period), ("date", day.isoformat()), ("town", town), ("grid", grid)]
        name = f"inspections-{period}-{data['start'][:10]}.xlsx"
        return xlsx_response(review_report.xlsx(data, parameters, lang_of(lang)), name)
    if f == "html" or (f is None and wants_html(request)):
        query = {k: v for k, v in request.query_params.items() if k not in ("f", "date")}
        return HTMLResponse(
            review_report.page(data, base_url(request), lang_of(lang), {"period": period, **query})
        )
    return JSONResponse(data)


@router.get("/inspections/{inspection_id}", summary="One inspection record", response_model=None)
def inspection(
    request: Request, inspection_id: InspectionId, _: SignedIn, lang: LangQuery = ReportLang.zh
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        return _with_links(request, records.read(conn, inspection_id, lang_of(lang)))


@router.get(
    "/inspections/{inspection_id}/photos/{number}",
    summary="A photo of an inspection (signed-in users only)",
    response_model=None,
    responses={
        200: {"content": {t: {"schema": {"type": "string", "format": "binary"}} for t in photos.TYPES}}
    },
)
def inspection_photo(
    request: Request,
    inspection_id: InspectionId,
    number: Annotated[int, Path(ge=1, le=photos.MAX_PHOTOS, description="the photo's number, from 1")],
    _: SignedIn,
) -> Response:
    with engine_of(request).connect() as conn:
        content_type, content = records.photo(conn, inspection_id, number)
    return Response(
        content,
        media_type=content_type,
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
