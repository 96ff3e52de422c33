"""`GET /imports/new`: the import page for signed-in editors and admins (the whole city's).

Anyone else is sent to the login page, which brings them back here once signed in (or, signed in
with another role, shows who they are and lets them sign out). The page talks to `POST /imports`
(a dry run), `GET /imports/{id}` and `POST /imports/{id}/confirm` with the session's cookie and
CSRF token.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.accounts.permissions import CITY_WIDE, Action, allowed_roles
from service.accounts.tokens import Principal
from service.api.import_page_html import import_page
from service.api.security import SESSION_COOKIE, csrf_token, current_principal
from service.importing.job import IMPORTABLE

router = APIRouter(tags=["Importing"])

PAGE_PATH = "/imports/new"
NO_STORE = {"Cache-Control": "no-store"}


def may_import(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.kind == "session"  # the page works with the browser's session and its CSRF token
        and principal.role in allowed_roles(Action.import_data)
        and (principal.town is None or Action.import_data not in CITY_WIDE)
    )


@router.get(PAGE_PATH, summary="The import page (browsers)", include_in_schema=False)
async def new_import(request: Request) -> Response:
    principal = await current_principal(request)
    if principal is None or not may_import(principal):
        return RedirectResponse(f"/login?next={quote(PAGE_PATH, safe='/')}", status_code=303)
    token = csrf_token(request.cookies.get(SESSION_COOKIE, ""))
    return HTMLResponse(import_page(principal, token, IMPORTABLE), headers=NO_STORE)


def install(app: FastAPI) -> None:
    app.include_router(router)
