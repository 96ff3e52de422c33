"""Planning endpoints: what-if scenarios (played, never applied to the inventory), saved and listed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from service.accounts import audit
from service.accounts.permissions import Action
from service.api.deps import engine_of
from service.api.headers import public_url
from service.api.limits import analysis_limits
from service.api.security import SignedIn, actor, requires
from service.coverage.query import MAX_DISTANCE_M
from service.errors import NotFound
from service.models import FacilityLayer
from service.planning import scenarios as sc

router = APIRouter(tags=["planning"])


class NewSiteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    capacity: float | None = Field(None, ge=0, description="t/day")
    code: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    name: str | None = Field(None, min_length=1, max_length=200)


class ScenarioBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("scenario", min_length=1, max_length=200)
    layer: FacilityLayer
    distance_m: float | None = Field(None, gt=0, le=MAX_DISTANCE_M, description="coverage reach before")
    distance_m_after: float | None = Field(
        None, gt=0, le=MAX_DISTANCE_M, description="reach after; default same"
    )
    add: list[NewSiteBody] = Field(default_factory=list, max_length=200)
    remove: list[str] = Field(default_factory=list, max_length=10_000, description="codes to close")
    capacity: dict[str, float] = Field(default_factory=dict, description="code → new capacity (t/day)")
    distance_mode: Literal["geodesic", "road"] = Field(
        "geodesic", description="road: coverage along the loaded road network (pgRouting)"
    )
    save: bool = Field(False, description="keep the request and result in the scenario list")


@router.post(
    "/planning/scenarios",
    summary="Play a what-if scenario: coverage and chain load before/after",
    **requires(Action.plan),
)
def play_scenario(request: Request, body: ScenarioBody, principal: SignedIn) -> dict[str, Any]:
    scenario = sc.Scenario(
        name=body.name,
        layer=body.layer.value,
        distance_m=body.distance_m,
        distance_m_after=body.distance_m_after,
        add=[sc.NewSite(s.lon, s.lat, s.capacity, s.code, s.name) for s in body.add],
        remove=body.remove,
        capacity=body.capacity,
        distance_mode=body.distance_mode,
    )
    engine = engine_of(request)
    limits = analysis_limits(request)
    result = jsonable_encoder(sc.play(engine, scenario, limits.road_max_node_visits))
    result["id"] = (
        sc.save(engine, body.name, body.model_dump(mode="json", exclude={"save"}), result)
        if body.save
        else None
    )
    audit_play(request, principal, body, result["id"])
    return result


def audit_play(request: Request, principal: SignedIn, body: ScenarioBody, saved_id: int | None) -> None:
    with engine_of(request).begin() as conn:
        audit.record(
            conn,
            actor(request, principal),
            "scenario.play",
            layer=body.layer.value,
            target_id=saved_id,
            detail={"name": body.name, "saved": body.save, "request": body.model_dump(mode="json")},
        )


@router.get("/planning/scenarios", summary="Saved scenarios, oldest first, a page at a time")
def list_scenarios(
    request: Request,
    limit: Annotated[
        int | None, Query(description="scenarios per page; default and maximum are settings")
    ] = None,
    cursor: Annotated[str | None, Query(description="from the `next` link of the previous page")] = None,
) -> dict[str, Any]:
    limits = analysis_limits(request)
    page = sc.listing(
        engine_of(request),
        limits.scenarios_page_limit if limit is None else limit,
        limits.scenarios_max_page_limit,
        cursor,
    )
    links = []
    if page.next_cursor is not None:
        href = str(public_url(request).include_query_params(cursor=page.next_cursor))
        links.append({"rel": "next", "type": "application/json", "href": href, "title": "Next page"})
    return {"scenarios": jsonable_encoder(page.scenarios), "links": links}


@router.get("/planning/scenarios/{scenario_id}", summary="One saved scenario: its request and result")
def get_scenario(request: Request, scenario_id: int) -> dict[str, Any]:
    found = sc.fetch(engine_of(request), scenario_id)
    if found is None:
        raise NotFound(f"no saved scenario {scenario_id}")
    return dict(jsonable_encoder(found))
