"""`GET /imports/new`: the import page for signed-in editors and admins (the whole city's).

Anyone else is sent to the login page, which brings them back here once signed in (or, signed in
with another role, shows who they are and lets them sign out). The page talks to `POST /imports`
(a dry run), `GET /imports/{id}` and `POST /imports/{id}/confirm` with the session's cookie and
CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from service.accounts.permissions import Action
from service.api.import_page_html import import_page
from service.api.session_pages import page_principal, private_page, session_csrf, sign_in_first
from service.importing.job import IMPORTABLE

router = APIRouter(tags=["Importing"])

PAGE_PATH = "/imports/new"


@router.get(PAGE_PATH, summary="The import page (browsers)", include_in_schema=False)
async def new_import(request: Request) -> Response:
    principal = await page_principal(request, Action.import_data)
    if principal is None:
        return sign_in_first(PAGE_PATH)
    return private_page(import_page(principal, session_csrf(request), IMPORTABLE))


def install(app: FastAPI) -> None:
    app.include_router(router)
