"""Chain endpoints: flows as lines, facility loads, integrity, assignment, indicators, flow diagram."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from service.accounts import audit
from service.accounts.permissions import Action
from service.api.deps import engine_of
from service.api.headers import base_url
from service.api.negotiation import wants_html
from service.api.pages_html import integrity_page
from service.api.problems import problem_for
from service.api.report_params import LangQuery, ReportLang, csv_response, lang_of, xlsx_response
from service.api.security import SignedIn, actor, check_action, requires
from service.api.streaming import CursorStreamingResponse
from service.chain import (
    assignment,
    diagram,
    flows,
    indicators,
    indicators_files,
    indicators_page,
    integrity,
    integrity_workbook,
    reports,
    sankey_apart,
    stored,
)
from service.chain.computation import computed, find_town, flow_features, prepare
from service.chain.parameters import ChainParameters
from service.errors import BadParameter
from service.features.collection_stream import feature_collection
from service.maps.i18n import words
from service.models import FACILITY_LAYERS, STREAMS, Stream

router = APIRouter(tags=["chain"])


class DiagramFormat(StrEnum):
    html = "html"
    svg = "svg"
    png = "png"


class IntegrityFormat(StrEnum):
    json = "json"
    xlsx = "xlsx"


INTEGRITY_FORMAT = Query(
    None, description="json or xlsx; default by Accept (JSON, or the page for a browser)"
)


DIAGRAM_STREAM = Stream(STREAMS[0])  # the diagram's default: domestic waste
TownCode = Annotated[str | None, Query(pattern=r"^[0-9]{9}$", description="9-digit town code")]
# 10 g per person and day: a fortieth of the lowest rural rate measured (0.4). Smaller values are no
# planning question; the tiniest (5e-324) even underflow PostgreSQL's arithmetic.
MIN_WASTE_KG_PER_PERSON_DAY = 0.01
WasteRate = Annotated[
    float | None,
    Query(
        ge=MIN_WASTE_KG_PER_PERSON_DAY,
        le=5,
        description="override the per-capita waste rate, kg/person/day (0.01 ≤ x ≤ 5)",
    ),
]


def parameters(waste_kg_per_person_day: WasteRate = None) -> ChainParameters:
    params = ChainParameters()
    if waste_kg_per_person_day is not None:
        params = params.model_copy(update={"waste_kg_per_person_day": waste_kg_per_person_day})
    return params


Params = Annotated[ChainParameters, Depends(parameters)]


@router.get("/chain/flows", summary="Chain links as GeoJSON lines with their flow (t/day) and length (m)")
def chain_flows(
    request: Request,
    params: Params,
    stream: Stream | None = None,
    town: TownCode = None,
) -> CursorStreamingResponse:
    features = flow_features(engine_of(request), params, stream.value if stream else None, town)
    return CursorStreamingResponse(feature_collection(features), "application/geo+json", on_error=problem_for)


@router.get("/chain/facilities", summary="Facility inflow, capacity and utilisation")
def chain_facilities(
    request: Request,
    params: Params,
    layer: str | None = Query(None, pattern="^(" + "|".join(FACILITY_LAYERS) + ")$"),
    town: TownCode = None,
) -> dict[str, Any]:
    with computed(engine_of(request), params) as conn:
        town_row = find_town(conn, town)
        loads = flows.facility_loads(conn, layer, town_row["id"] if town_row else None)
        totals = flows.stream_totals(conn, town_row["id"] if town_row else None)
    return {
        "facilities": loads,
        "streams": [{k: (None if v != v else v) for k, v in t.__dict__.items()} for t in totals],
        "parameters": params.model_dump(),
    }


@router.get(
    "/chain/integrity", summary="Integrity report of the chain (a page for a browser, JSON otherwise)"
)
def chain_integrity(
    request: Request,
    params: Params,
    town: TownCode = None,
    stream: Stream | None = None,
    severity: str | None = Query(None, pattern="^(error|warning)$"),
    f: str | None = Query(None, pattern="^(json|html)$", description="json or html; default by Accept"),
    format: IntegrityFormat | None = INTEGRITY_FORMAT,
    lang: LangQuery = ReportLang.zh,
) -> Response:
    with computed(engine_of(request), params) as conn:
        town_row = find_town(conn, town)
        findings = integrity.check(conn, params)
        english = lang is ReportLang.en
        names_en = integrity_workbook.english_names(conn, [asdict(x) for x in findings]) if english else {}
    if town_row:
        findings = [x for x in findings if x.town_code == town_row["code"]]
    if stream:
        findings = [x for x in findings if x.stream in (stream.value, None)]
    if severity:
        findings = [x for x in findings if x.severity == severity]
    report = integrity.report(findings)
    if format is IntegrityFormat.xlsx:
        asked = [("town", town), ("stream", stream), ("severity", severity), *params.model_dump().items()]
        language = lang_of(lang)
        book = integrity_workbook.integrity_workbook(report, asked, language, words(language), names_en)
        return xlsx_response(book, f"integrity-{town or 'city'}.xlsx")
    if format is None and wants_html(request):
        return HTMLResponse(integrity_page(report, base_url(request), lang_of(lang), names_en))
    return JSONResponse(json.loads(json.dumps(report, default=float)))


class AssignmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream: Stream
    respect_capacity: bool = False
    apply: bool = Field(False, description="write the links (editor or admin, city-wide); default: dry run")


@router.post(
    "/chain/assignments",
    summary="Attach unconnected sources to the nearest facility (dry run by default)",
    **requires(Action.propose_assignments),
)
def chain_assignments(request: Request, body: AssignmentRequest, principal: SignedIn) -> dict[str, Any]:
    if body.apply:  # writing links needs more than proposing them
        check_action(request, principal, Action.assign_chain)
    engine = engine_of(request)
    with engine.connect() as conn, conn.begin():
        prepare(conn)
        proposals, unassigned = assignment.propose(conn, body.stream.value, body.respect_capacity)
        result = assignment.as_dicts(proposals, unassigned)
        result["applied"] = assignment.apply(conn, proposals) if body.apply else 0
        stored.settle(conn)  # the stored chain moves with the written links, in their transaction
        audit.record(
            conn,
            actor(request, principal),
            "chain.assign" if body.apply else "chain.propose",
            layer="chain_links" if body.apply else None,
            detail={
                "stream": body.stream.value,
                "respect_capacity": body.respect_capacity,
                "proposed": len(proposals),
                "applied": result["applied"],
            },
        )
    return result


class IndicatorsFormat(StrEnum):
    json = "json"
    html = "html"
    xlsx = "xlsx"
    csv = "csv"


IndicatorsFormatQuery = Annotated[
    IndicatorsFormat | None,
    Query(description="json, html, xlsx or csv (a download); default: f, else by Accept"),
]


def indicators_format(request: Request, f: str | None, format: IndicatorsFormat | None) -> IndicatorsFormat:
    """`format` when given (f agreeing with it, if both are), else `f` or the Accept header."""
    if format is not None:
        if f is not None and f != format.value:
            raise BadParameter("format", f"f={f} and format={format.value} disagree: give one of them")
        return format
    return IndicatorsFormat.html if wants_html(request) else IndicatorsFormat.json


@router.get("/indicators", summary="Every figure of the source document, computed live")
def get_indicators(
    request: Request,
    params: Params,
    town: TownCode = None,
    f: str | None = Query(None, pattern="^(json|html)$", description="json or html; default by Accept"),
    format: IndicatorsFormatQuery = None,
    lang: LangQuery = ReportLang.zh,
) -> Response:
    chosen = indicators_format(request, f, format)
    with computed(engine_of(request), params) as conn:
        town_row = find_town(conn, town)
        data = indicators.scoped(indicators.compute(conn), town_row)
    data["parameters"] = params.model_dump()
    language = lang_of(lang)
    name = f"indicators-{town or 'city'}"
    if chosen is IndicatorsFormat.xlsx:
        asked = [("town", town), *data["parameters"].items()]
        book = indicators_files.indicators_workbook(
            data, asked, language, city_scope=town_row is None, status=words(language)
        )
        return xlsx_response(book, f"{name}.xlsx")
    if chosen is IndicatorsFormat.csv:
        table = indicators_files.indicators_csv(data, language, city_scope=town_row is None)
        return csv_response(table, f"{name}.csv")
    if chosen is IndicatorsFormat.html:
        html = indicators_page.page(data, language, request.url, town_row is None, words(language))
        return HTMLResponse(html)
    return JSONResponse(json.loads(json.dumps(data, default=float)))


@router.get("/chain/diagram", summary="SFD-style flow diagram (HTML, SVG or PNG)")
def chain_diagram(
    request: Request,
    params: Params,
    stream: Stream = DIAGRAM_STREAM,
    town: TownCode = None,
    format: DiagramFormat = DiagramFormat.html,
) -> Response:
    with computed(engine_of(request), params) as conn:
        town_row = find_town(conn, town)
        d = diagram.build(conn, stream.value, town_row)
    if format is DiagramFormat.png:
        return Response(sankey_apart.render(d, "png"), media_type="image/png")
    svg = sankey_apart.render(d, "svg")
    if format is DiagramFormat.svg:
        return Response(svg, media_type="image/svg+xml")
    return HTMLResponse(reports.diagram_page(d.title, svg, stream.value, town))
