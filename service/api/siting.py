"""Siting endpoint: the best k new sites of a facility layer (maximal covering / capacitated p-median)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from service.accounts import audit
from service.accounts.permissions import Action
from service.api.deps import engine_of
from service.api.limits import solver_slots
from service.api.security import SignedIn, actor, requires
from service.coverage.query import MAX_DISTANCE_M
from service.models import FacilityLayer
from service.planning import siting

router = APIRouter(tags=["planning"])


class SitingModel(StrEnum):
    maximal_covering = "maximal_covering"
    p_median = "p_median"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Point(Strict):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class GivenCandidates(Strict):
    source: Literal["points"]
    points: list[Point] = Field(min_length=1, max_length=100_000)


class GridCandidates(Strict):
    source: Literal["grid"]
    spacing_m: float = Field(ge=siting.MIN_GRID_SPACING_M, le=siting.MAX_GRID_SPACING_M)


class VillageCandidates(Strict):
    source: Literal["villages"]


class SitingRequest(Strict):
    layer: FacilityLayer
    model: SitingModel
    k: int = Field(ge=1, description="number of new sites to choose")
    distance_m: float = Field(
        gt=0, le=MAX_DISTANCE_M, description="reach: covering radius, or longest assignment (geodesic, m)"
    )
    candidates: Annotated[GivenCandidates | GridCandidates | VillageCandidates, Field(discriminator="source")]
    include_existing: bool = Field(
        default=False,
        description="covering: demand near an operational facility counts as covered; "
        "p-median: operational facilities stay open with their capacity",
    )
    capacity_t_per_day: float | None = Field(
        default=None, gt=0, le=100_000, description="capacity of each new site (p_median only)"
    )
    time_limit_s: float | None = Field(default=None, gt=0, le=60, description="CBC time limit")

    def query(self) -> siting.SitingQuery:
        c = self.candidates
        return siting.SitingQuery(
            layer=self.layer.value,
            model=self.model.value,
            k=self.k,
            distance_m=self.distance_m,
            candidates=siting.Candidates(
                source=c.source,
                points=tuple((p.lon, p.lat) for p in c.points) if isinstance(c, GivenCandidates) else (),
                spacing_m=c.spacing_m if isinstance(c, GridCandidates) else None,
            ),
            include_existing=self.include_existing,
            capacity_t_per_day=self.capacity_t_per_day,
            time_limit_s=self.time_limit_s,
        )


def settings(request: Request) -> siting.SitingSettings:
    """Limits: `app.state.siting_settings` when set (tests), else from the environment."""
    configured = getattr(request.app.state, "siting_settings", None)
    return configured if isinstance(configured, siting.SitingSettings) else siting.SitingSettings()


@router.post(
    "/planning/siting",
    summary="Best k new sites for a facility layer (covering or p-median)",
    **requires(Action.plan),
)
def plan_siting(request: Request, body: SitingRequest, principal: SignedIn) -> Any:
    limits = settings(request)
    engine: Engine = engine_of(request)
    query = body.query()
    with engine.begin() as conn:  # audited before the work: a run that times out was still asked for
        audit.record(
            conn,
            actor(request, principal),
            "siting.run",
            layer=body.layer.value,
            detail={"model": body.model.value, "k": body.k, "distance_m": body.distance_m},
        )
    # the slot is taken before any work, so a refused request costs nothing
    with solver_slots(request.app).held((query.time_limit_s or limits.time_limit_s) + siting.KILL_GRACE_S):
        with engine.connect() as conn, conn.begin():
            problem = siting.prepare(conn, query, limits)
        # the connection is back in the pool before CBC runs
        return siting.solve(problem, limits)
