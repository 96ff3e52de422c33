"""`GET /chain/outages/{layer}/{id}`: what depends on a facility that stops, and alternatives for its
sources; `POST …/reroute`: an editor accepts the alternatives (edits of the links, with history)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from starlette.concurrency import run_in_threadpool

from service.accounts.permissions import Action
from service.api.deps import engine_of
from service.api.security import SignedIn, actor, requires
from service.inspections import outages
from service.vocabulary import FacilityLayer

router = APIRouter(tags=["chain"])
EDITOR = requires(Action.edit_inventory)
FeatureId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the facility's id")]
OUTAGE = "/chain/outages/{layer}/{feature_id}"


@router.get(
    OUTAGE,
    summary="What depends on a facility if it stops (or since it stopped), and where its sources could go",
    response_model=None,
)
def outage(request: Request, layer: FacilityLayer, feature_id: FeatureId) -> dict[str, Any]:
    with engine_of(request).connect() as conn, conn.begin():
        return outages.outage(conn, layer.value, feature_id)


@router.post(
    OUTAGE + "/reroute",
    summary="Accept the proposed alternatives: the links that delivered to the facility go to them",
    response_model=None,
    dependencies=EDITOR["dependencies"],
    openapi_extra=EDITOR["openapi_extra"],
    description=EDITOR["description"]
    + " Each link is an edit with its history and audit entry; all or none are written.",
)
async def reroute(
    request: Request,
    layer: FacilityLayer,
    feature_id: FeatureId,
    principal: SignedIn,
    links: Annotated[
        list[Annotated[int, Body(ge=1)]] | None,
        Body(embed=True, max_length=100_000, description="the link ids to re-route; all proposed if absent"),
    ] = None,
) -> dict[str, Any]:
    chosen = None if links is None else set(links)
    return await run_in_threadpool(
        outages.reroute,
        engine_of(request),
        layer.value,
        feature_id,
        actor(request, principal),
        principal,
        chosen,
    )
