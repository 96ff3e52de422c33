"""Chain endpoints: flows as lines, facility loads, integrity, assignment, indicators, flow diagram."""

from __future__ import annotations

import json
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
from service.api.security import SignedIn, actor, check_action, requires
from service.api.streaming import CursorStreamingResponse
from service.chain import assignment, diagram, flows, indicators, integrity, reports, sankey
from service.chain.computation import computed, find_town, flow_features
from service.chain.parameters import ChainParameters
from service.features.collection_stream import feature_collection
from service.models import FACILITY_LAYERS, STREAMS, Stream

router = APIRouter(tags=["chain"])


class DiagramFormat(StrEnum):
    html = "html"
    svg = "svg"
    png = "png"


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
) -> Response:
    with computed(engine_of(request), params) as conn:
        town_row = find_town(conn, town)
        findings = integrity.check(conn, params)
    if town_row:
        findings = [x for x in findings if x.town_code == town_row["code"]]
    if stream:
        findings = [x for x in findings if x.stream in (stream.value, None)]
    if severity:
        findings = [x for x in findings if x.severity == severity]
    report = integrity.report(findings)
    if wants_html(request):
        return HTMLResponse(integrity_page(report, base_url(request)))
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
        flows.compute(conn)
        proposals, unassigned = assignment.propose(conn, body.stream.value, body.respect_capacity)
        result = assignment.as_dicts(proposals, unassigned)
        result["applied"] = assignment.apply(conn, proposals) if body.apply else 0
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


@router.get("/indicators", summary="Every figure of the source document, computed live")
def get_indicators(
    request: Request,
    params: Params,
    town: TownCode = None,
    f: str | None = Query(None, pattern="^(json|html)$", description="json or html; default by Accept"),
) -> Response:
    with computed(engine_of(request), params) as conn:
        town_row = find_town(conn, town)
        data = indicators.compute(conn)
    if town_row:
        data["towns"] = [t for t in data["towns"] if t["code"] == town_row["code"]]
        data["city"] = {
            "code": town_row["code"],
            "name": town_row["name"],
            **{k: v for k, v in data["towns"][0].items() if k not in ("code", "name", "kind")},
        }
    data["parameters"] = params.model_dump()
    if wants_html(request):  # f (checked above: json or html), else the Accept header
        scope = town_row["name"] if town_row else data["city"]["name"] or "city"
        return HTMLResponse(reports.indicators_page(data, scope))
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
        return Response(sankey.render(d, "png"), media_type="image/png")
    svg = sankey.render(d, "svg")
    if format is DiagramFormat.svg:
        return Response(svg, media_type="image/svg+xml")
    return HTMLResponse(reports.diagram_page(d.title, svg, stream.value, town))
