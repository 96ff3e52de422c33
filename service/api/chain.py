"""Chain endpoints: flows as lines, facility loads, integrity, assignment, indicators, flow diagram."""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from service.api.auth import require_admin
from service.api.deps import engine_of
from service.chain import assignment, diagram, flows, indicators, integrity, reports, sankey
from service.chain.computation import UnknownTown, computed, find_town
from service.chain.parameters import ChainParameters

router = APIRouter(tags=["chain"])


class Stream(StrEnum):
    domestic_waste = "domestic_waste"
    fecal_sludge = "fecal_sludge"
    manure = "manure"


class DiagramFormat(StrEnum):
    html = "html"
    svg = "svg"
    png = "png"


TownCode = Annotated[str | None, Query(pattern=r"^[0-9]{9}$", description="9-digit town code")]
WasteRate = Annotated[
    float | None,
    Query(gt=0, le=5, description="override the per-capita waste rate, kg/person/day (0 < x ≤ 5)"),
]


def parameters(waste_kg_per_person_day: WasteRate = None) -> ChainParameters:
    params = ChainParameters()
    if waste_kg_per_person_day is not None:
        params = params.model_copy(update={"waste_kg_per_person_day": waste_kg_per_person_day})
    return params


Params = Annotated[ChainParameters, Depends(parameters)]


def _town_or_404(conn: Any, code: str | None) -> dict[str, Any] | None:
    try:
        return find_town(conn, code)
    except UnknownTown as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/chain/flows", summary="Chain links as GeoJSON lines with their flow (t/day) and length (m)")
def chain_flows(
    request: Request,
    params: Params,
    stream: Stream | None = None,
    town: TownCode = None,
) -> StreamingResponse:
    engine = engine_of(request)
    with computed(engine, params) as conn:  # validate the town before the first byte is sent
        town_row = _town_or_404(conn, town)

    def features() -> Iterator[str]:
        with computed(engine, params) as conn:
            rows = conn.execution_options(stream_results=True, max_row_buffer=500).execute(
                text(FLOWS_SQL),
                {"stream": stream.value if stream else None, "town": town_row["id"] if town_row else None},
            )
            yield '{"type":"FeatureCollection","features":['
            first = True
            for (feature,) in rows:
                yield ("" if first else ",\n") + feature
                first = False
            yield "]}\n"

    return StreamingResponse(features(), media_type="application/geo+json")


FLOWS_SQL = """
SELECT json_build_object(
    'type', 'Feature', 'id', l.id,
    'geometry', ST_AsGeoJSON(l.geom, 6)::json,
    'properties', json_build_object(
        'stream', l.stream,
        'source_layer', l.source_layer, 'source_id', l.source_id,
        'source_code', s.code, 'source_name', s.name,
        'target_layer', l.target_layer, 'target_id', l.target_id,
        'target_code', t.code, 'target_name', t.name,
        'flow_t_per_day', round(f.flow_t_per_day::numeric, 4),
        'length_m', round(ST_Length(l.geom::geography)::numeric, 1)))::text
FROM chain_links l
JOIN chain_link_flow f ON f.link_id = l.id
JOIN chain_node s ON s.layer = l.source_layer AND s.id = l.source_id
JOIN chain_node t ON t.layer = l.target_layer AND t.id = l.target_id
WHERE (CAST(:stream AS text) IS NULL OR l.stream = :stream)
  AND (CAST(:town AS bigint) IS NULL OR s.town_id = :town OR t.town_id = :town)
ORDER BY l.id
"""


@router.get("/chain/facilities", summary="Facility inflow, capacity and utilisation")
def chain_facilities(
    request: Request,
    params: Params,
    layer: str | None = Query(None, pattern="^(" + "|".join(flows.FACILITY_LAYERS) + ")$"),
    town: TownCode = None,
) -> dict[str, Any]:
    with computed(engine_of(request), params) as conn:
        town_row = _town_or_404(conn, town)
        loads = flows.facility_loads(conn, layer, town_row["id"] if town_row else None)
        totals = flows.stream_totals(conn, town_row["id"] if town_row else None)
    return {
        "facilities": loads,
        "streams": [{k: (None if v != v else v) for k, v in t.__dict__.items()} for t in totals],
        "parameters": params.model_dump(),
    }


@router.get("/chain/integrity", summary="Integrity report of the chain")
def chain_integrity(
    request: Request,
    params: Params,
    town: TownCode = None,
    stream: Stream | None = None,
    severity: str | None = Query(None, pattern="^(error|warning)$"),
) -> dict[str, Any]:
    with computed(engine_of(request), params) as conn:
        town_row = _town_or_404(conn, town)
        findings = integrity.check(conn, params)
    if town_row:
        findings = [f for f in findings if f.town_code == town_row["code"]]
    if stream:
        findings = [f for f in findings if f.stream in (stream.value, None)]
    if severity:
        findings = [f for f in findings if f.severity == severity]
    return integrity.report(findings)


class AssignmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream: Stream
    respect_capacity: bool = False
    apply: bool = Field(False, description="write the links (needs the admin token); default: dry run")


@router.post(
    "/chain/assignments", summary="Attach unconnected sources to the nearest facility (dry run by default)"
)
def chain_assignments(request: Request, body: AssignmentRequest) -> dict[str, Any]:
    if body.apply:
        require_admin(request)
    engine = engine_of(request)
    with engine.connect() as conn, conn.begin():
        flows.compute(conn)
        proposals, unassigned = assignment.propose(conn, body.stream.value, body.respect_capacity)
        result = assignment.as_dicts(proposals, unassigned)
        result["applied"] = assignment.apply(conn, proposals) if body.apply else 0
    return result


@router.get("/indicators", summary="Every figure of the source document, computed live")
def get_indicators(
    request: Request,
    params: Params,
    town: TownCode = None,
    f: str | None = Query(None, pattern="^(json|html)$", description="json or html; default by Accept"),
) -> Response:
    with computed(engine_of(request), params) as conn:
        town_row = _town_or_404(conn, town)
        data = indicators.compute(conn)
    if town_row:
        data["towns"] = [t for t in data["towns"] if t["code"] == town_row["code"]]
        data["city"] = {
            "code": town_row["code"],
            "name": town_row["name"],
            **{k: v for k, v in data["towns"][0].items() if k not in ("code", "name", "kind")},
        }
    data["parameters"] = params.model_dump()
    if _wants_html(request, f):
        scope = town_row["name"] if town_row else data["city"]["name"] or "city"
        return HTMLResponse(reports.indicators_page(data, scope))
    return JSONResponse(json.loads(json.dumps(data, default=float)))


@router.get("/chain/diagram", summary="SFD-style flow diagram (HTML, SVG or PNG)")
def chain_diagram(
    request: Request,
    params: Params,
    stream: Stream = Stream.domestic_waste,
    town: TownCode = None,
    format: DiagramFormat = DiagramFormat.html,
) -> Response:
    with computed(engine_of(request), params) as conn:
        town_row = _town_or_404(conn, town)
        d = diagram.build(conn, stream.value, town_row)
    if format is DiagramFormat.png:
        return Response(sankey.render(d, "png"), media_type="image/png")
    svg = sankey.render(d, "svg")
    if format is DiagramFormat.svg:
        return Response(svg, media_type="image/svg+xml")
    return HTMLResponse(reports.diagram_page(d.title, svg, stream.value, town))


def _wants_html(request: Request, f: str | None) -> bool:
    if f:
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept
