"""Coverage endpoints: who is served within a distance of a facility layer, and where the gaps are."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import Engine, text

from service.api.deps import engine_of
from service.coverage import gaps, report
from service.coverage import query as cov
from service.models import STATUSES
from service.roads import network, routing

router = APIRouter(tags=["coverage"])


class CoverageLayer(StrEnum):
    collection_points = "collection_points"
    transfer_stations = "transfer_stations"
    treatment_plants = "treatment_plants"
    manure_centers = "manure_centers"
    biogas_centers = "biogas_centers"


class CoverageFormat(StrEnum):
    json = "json"
    geojson = "geojson"
    xlsx = "xlsx"


Distance = Annotated[
    float | None,
    Query(gt=0, le=cov.MAX_DISTANCE_M, description="reach in metres (geodesic); default from the standard"),
]
Subjects = Annotated[
    list[str] | None,
    Query(
        description="what to cover (repeatable): villages, farms; default both. "
        "Asking only for what is needed is faster: each subject is its own pass"
    ),
]


class DistanceMode(StrEnum):
    geodesic = "geodesic"
    road = "road"


Mode = Annotated[
    DistanceMode,
    Query(description="geodesic (default) or road: along the loaded road network (pgRouting)"),
]
Snap = Annotated[
    float,
    Query(
        ge=0,
        le=routing.MAX_SNAP_M,
        description="road mode: farthest a village, farm or facility may lie from its road node (m)",
    ),
]
Statuses = Annotated[
    list[str] | None,
    Query(description="facility statuses that count (repeatable); default operational"),
]


def _query(
    layer: CoverageLayer,
    distance_m: float | None,
    status: list[str] | None,
    kind: str | None,
    subjects: list[str] | None = None,
    distance_mode: DistanceMode = DistanceMode.geodesic,
    snap_m: float = routing.DEFAULT_SNAP_M,
) -> cov.CoverageQuery:
    statuses = tuple(status or ["operational"])
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise HTTPException(400, f"status: unknown value(s) {unknown}; one of {list(STATUSES)}")
    chosen = tuple(dict.fromkeys(subjects or cov.SUBJECTS))
    if set(chosen) <= set(cov.SUBJECTS):
        chosen = tuple(s for s in cov.SUBJECTS if s in chosen)
    q = cov.CoverageQuery(
        layer.value,
        distance_m,
        statuses,
        kind,
        subjects=chosen,
        distance_mode=distance_mode.value,
        snap_m=snap_m,
    )
    try:
        q.resolved_distance()
    except cov.CoverageError as exc:
        raise HTTPException(400, str(exc)) from exc
    return q


def _require_roads(engine: Engine, q: cov.CoverageQuery) -> None:
    """Road mode without a network is a conflict with the database's state, said before any work."""
    if q.distance_mode == "road":
        with engine.connect() as conn:
            if not network.loaded(conn):
                raise HTTPException(
                    409,
                    "distance_mode: road needs a road network and none is loaded "
                    "(import one with `sanichain roads import FILE`)",
                )


def _meta(q: cov.CoverageQuery, distance: float, distance_m: float | None) -> dict[str, Any]:
    road = q.distance_mode == "road"
    return {
        "layer": q.layer,
        "distance_m": distance,
        "method": "road (pgRouting pgr_drivingDistance)" if road else "geodesic",
        "statuses": list(q.statuses),
        "kind": q.kind,
        **({} if q.subjects == cov.SUBJECTS else {"subjects": list(q.subjects)}),
        "distance_source": cov.DISTANCE_SOURCES.get(q.layer) if distance_m is None else "request",
    }


@router.get("/coverage", summary="Villages, people and farms served by a facility layer within a distance")
def coverage(
    request: Request,
    layer: CoverageLayer,
    distance_m: Distance = None,
    status: Statuses = None,
    kind: str | None = None,
    subjects: Subjects = None,
    distance_mode: Mode = DistanceMode.geodesic,
    snap_m: Snap = routing.DEFAULT_SNAP_M,
    format: CoverageFormat = CoverageFormat.json,
) -> Any:
    q = _query(layer, distance_m, status, kind, subjects, distance_mode, snap_m)
    engine = engine_of(request)
    _require_roads(engine, q)
    if format is CoverageFormat.geojson:
        return StreamingResponse(_geojson(engine, q), media_type="application/geo+json")
    with engine.connect() as conn, conn.begin():
        distance = cov.prepare(conn, q)
        result = cov.summary(conn, q.subjects)
        meta = _meta(q, distance, distance_m)
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
    layer: CoverageLayer,
    distance_m: Distance = None,
    status: Statuses = None,
    kind: str | None = None,
    cluster_radius_m: Annotated[
        float | None,
        Query(gt=0, le=gaps.MAX_CLUSTER_M, description="largest gap-area radius; default distance_m"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    subjects: Subjects = None,
    distance_mode: Mode = DistanceMode.geodesic,
    snap_m: Snap = routing.DEFAULT_SNAP_M,
) -> dict[str, Any]:
    q = _query(layer, distance_m, status, kind, subjects, distance_mode, snap_m)
    engine = engine_of(request)
    _require_roads(engine, q)
    with engine.connect() as conn, conn.begin():
        distance = cov.prepare(conn, q)
        found = gaps.find(conn, cluster_radius_m or distance, limit)
        road = {"method": "road", "road": cov.road_access(conn, q)} if q.distance_mode == "road" else {}
    return {"layer": q.layer, "distance_m": distance, "statuses": list(q.statuses), **road, **found}
