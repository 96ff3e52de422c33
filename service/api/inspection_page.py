"""`GET /inspections/new?layer=…&feature_id=…`: the inspection form for signed-in inspectors and admins.

Anyone else is sent to the login page, which brings them back here. The page's script sends records to
`POST /inspections` with the session's cookie and CSRF token, keeping them on the phone until they are
stored (service/maps/static/sanichain-inspect.js).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from service.accounts import permissions
from service.accounts.permissions import Action, allowed_roles
from service.accounts.tokens import Principal
from service.api.deps import engine_of
from service.api.inspection_page_html import inspection_page
from service.api.security import SESSION_COOKIE, csrf_token, current_principal
from service.errors import BadParameter, NotFound
from service.inspections import records
from service.vocabulary import INSPECTED_LAYERS

router = APIRouter(tags=["inspections"])
PAGE_PATH = "/inspections/new"
NO_STORE = {"Cache-Control": "no-store"}


def may_inspect(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.kind == "session"  # the page works with the browser's session and its CSRF token
        and principal.role in allowed_roles(Action.record_inspection)
    )


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
    principal = await current_principal(request)
    if principal is None or not may_inspect(principal):
        here = f"{PAGE_PATH}?layer={layer}&feature_id={feature_id}"
        return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
    facility = await run_in_threadpool(_facility, request, principal, layer, feature_id)
    token = csrf_token(request.cookies.get(SESSION_COOKIE, ""))
    return HTMLResponse(inspection_page(principal, token, layer, facility), headers=NO_STORE)


def install(app: FastAPI) -> None:
    app.include_router(router)
