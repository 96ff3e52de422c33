"""`GET /inspections/new?layer=…&feature_id=…`: the inspection form for signed-in inspectors and admins.

Anyone else is sent to the login page, which brings them back here. The page's script sends records to
`POST /inspections` with the session's cookie and CSRF token, keeping them on the phone until they are
stored (service/maps/static/sanichain-inspect.js).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.accounts import permissions
from service.accounts.permissions import Action
from service.accounts.tokens import Principal
from service.api.deps import engine_of
from service.api.inspection_page_html import inspection_page
from service.api.session_pages import page_principal, private_page, session_csrf, sign_in_first
from service.errors import BadParameter, NotFound
from service.inspections import records
from service.vocabulary import INSPECTED_LAYERS

router = APIRouter(tags=["inspections"])
PAGE_PATH = "/inspections/new"


def _facility(request: Request, principal: Principal, layer: str, feature_id: int) -> object:
    if layer not in INSPECTED_LAYERS:
        raise BadParameter("layer", f"{layer!r} is not inspected; one of {', '.join(INSPECTED_LAYERS)}")
    with engine_of(request).connect() as conn:
        found = records.facility_of(conn, layer, feature_id, None)
    if found is None:
        raise NotFound(f"no {layer} feature {feature_id}")
    permissions.check_town(principal, found.town_code)
    return found


@router.get(PAGE_PATH, summary="The inspection form (browsers)", include_in_schema=False)
async def new_inspection(
    request: Request,
    layer: Annotated[str, Query(description="the facility's layer")],
    feature_id: Annotated[int, Query(ge=1, le=2**63 - 1, description="the facility's id")],
) -> Response:
    principal = await page_principal(request, Action.record_inspection)
    if principal is None:
        return sign_in_first(f"{PAGE_PATH}?layer={layer}&feature_id={feature_id}")
    facility = await run_in_threadpool(_facility, request, principal, layer, feature_id)
    return private_page(inspection_page(principal, session_csrf(request), layer, facility))


def install(app: FastAPI) -> None:
    app.include_router(router)
