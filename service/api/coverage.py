"""Coverage endpoints: who is served within a distance of a facility layer, and where the gaps are."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import Engine, text

from service.api.coverage_params import CoverageQueryParams
from service.api.deps import engine_of
from service.coverage import gaps, report
from service.coverage import query as cov

router = APIRouter(tags=["coverage"])


class CoverageFormat(StrEnum):
    json = "json"
    geojson = "geojson"
    xlsx = "xlsx"


def _meta(q: cov.CoverageQuery, distance: float) -> dict[str, Any]:
    road = q.distance_mode == "road"
    return {
        "layer": q.layer,
        "distance_m": distance,
        "method": "road (pgRouting pgr_drivingDistance)" if road else "geodesic",
        "statuses": list(q.statuses),
        "kind": q.kind,
        **({} if q.subjects == cov.SUBJECTS else {"subjects": list(q.subjects)}),
        "distance_source": cov.DISTANCE_SOURCES.get(q.layer) if q.distance_m is None else "request",
    }


@router.get("/coverage", summary="Villages, people and farms served by a facility layer within a distance")
def coverage(
    request: Request,
    q: CoverageQueryParams,
    format: CoverageFormat = CoverageFormat.json,
) -> Any:
    engine = engine_of(request)
    if format is CoverageFormat.geojson:
        return StreamingResponse(_geojson(engine, q), media_type="application/geo+json")
    with engine.connect() as conn, conn.begin():
        distance = cov.prepare(conn, q)
        result = cov.summary(conn, q.subjects)
        meta = _meta(q, distance)
        if q.distance_mode == "road":
            meta["road"] = cov.road_access(conn, q)
        if format is CoverageFormat.xlsx:
            body = report.workbook(conn, meta, result)
            return Response(
                body,
                media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                headers={
                    "content-disposition": f'attachment; filename="coverage-{q.layer}-{distance:.0f}m.xlsx"'
                },
            )
    return JSONResponse({**meta, **result})


def _geojson(engine: Engine, q: cov.CoverageQuery) -> Iterator[str]:
    with engine.connect() as conn, conn.begin():
        distance = cov.prepare(conn, q)
        rows = conn.execution_options(stream_results=True, max_row_buffer=500).execute(
            text(cov.features_sql(distance, road=q.distance_mode == "road"))
        )
        yield '{"type":"FeatureCollection","features":['
        first = True
        for (feature,) in rows:
            yield ("" if first else ",\n") + feature
            first = False
        yield "]}\n"


@router.get("/coverage/gaps", summary="Unserved villages and farms, ranked and clustered into gap areas")
def coverage_gaps(
    request: Request,
    q: CoverageQueryParams,
    cluster_radius_m: Annotated[
        float | None,
        Query(gt=0, le=gaps.MAX_CLUSTER_M, description="largest gap-area radius; default distance_m"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, Any]:
    engine = engine_of(request)
    with engine.connect() as conn, conn.begin():
        distance = cov.prepare(conn, q)
        found = gaps.find(conn, cluster_radius_m or distance, limit)
        road = {"method": "road", "road": cov.road_access(conn, q)} if q.distance_mode == "road" else {}
    return {"layer": q.layer, "distance_m": distance, "statuses": list(q.statuses), **road, **found}
