"""The coverage question's query parameters, shared by /coverage, /coverage/gaps and /maps/coverage.

One FastAPI dependency reads and checks them, so the three answer the same parameters with the same 400s
(and the same 409 when road distances are asked for without a road network).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Query, Request

from service.api.deps import engine_of
from service.api.limits import analysis_limits
from service.coverage import query as cov
from service.coverage.computation import require_network
from service.errors import BadParameter
from service.models import STATUSES, FacilityLayer
from service.roads.graph import DEFAULT_SNAP_M, MAX_SNAP_M
from service.vocabulary import DISTANCE_MODES, DistanceMode

CoverageLayer = FacilityLayer  # the layers coverage answers for: every facility layer
GEODESIC = DistanceMode(DISTANCE_MODES[0])  # the default distance mode


Distance = Annotated[
    float | None,
    Query(gt=0, le=cov.MAX_DISTANCE_M, description="reach in metres; default from the standard"),
]
Statuses = Annotated[
    list[str] | None,
    Query(description="facility statuses that count (repeatable); default operational"),
]
Subjects = Annotated[
    list[str] | None,
    Query(
        description="what to cover (repeatable): villages, farms; default both. "
        "Asking only for what is needed is faster: each subject is its own pass"
    ),
]
Mode = Annotated[
    DistanceMode,
    Query(description="geodesic (default) or road: along the loaded road network (pgRouting)"),
]
Snap = Annotated[
    float,
    Query(
        ge=0,
        le=MAX_SNAP_M,
        description="road mode: farthest a village, farm or facility may lie from its road node (m)",
    ),
]


LayerParameter = Annotated[
    str,
    Query(
        description="facility layer whose reach counts; several, comma-separated, count as one service "
        "(served by any: `manure_centers,biogas_centers`), on the coverage map too",
    ),
]


def _layers(layer: str) -> str:
    names = [name.strip() for name in layer.split(",")]
    known = [v.value for v in FacilityLayer]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise BadParameter("layer", f"unknown layer(s) {unknown}; one or more of {known}, comma-separated")
    return ",".join(dict.fromkeys(names))


def coverage_query(
    layer: LayerParameter,
    distance_m: Distance = None,
    status: Statuses = None,
    kind: str | None = None,
    subjects: Subjects = None,
    distance_mode: Mode = GEODESIC,
    snap_m: Snap = DEFAULT_SNAP_M,
) -> cov.CoverageQuery:
    statuses = tuple(status or ["operational"])
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise BadParameter("status", f"unknown value(s) {unknown}; one of {list(STATUSES)}")
    chosen = tuple(dict.fromkeys(subjects or cov.SUBJECTS))
    if set(chosen) <= set(cov.SUBJECTS):
        chosen = tuple(s for s in cov.SUBJECTS if s in chosen)
    q = cov.CoverageQuery(
        _layers(layer),
        distance_m,
        statuses,
        kind,
        subjects=chosen,
        distance_mode=distance_mode.value,
        snap_m=snap_m,
    )
    q.resolved_distance()  # CoverageError (a 400) before any work
    return q


def answerable_coverage_query(
    request: Request, q: Annotated[cov.CoverageQuery, Depends(coverage_query)]
) -> cov.CoverageQuery:
    """Road mode without a network is a conflict with the database's state, said before any work;
    the query carries the routing limit this application holds it to."""
    require_network(engine_of(request), q)
    return replace(q, max_road_node_visits=analysis_limits(request).road_max_node_visits)


CoverageQueryParams = Annotated[cov.CoverageQuery, Depends(answerable_coverage_query)]
