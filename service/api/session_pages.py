"""What the pages that write through the browser's session share (the import page, the inspection
form): who gets the page, the way to the login page for everyone else, and a page never cached."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from service.accounts.permissions import Action, may
from service.accounts.tokens import Principal
from service.api.security import SESSION_COOKIE, csrf_token, current_principal

NO_STORE = {"Cache-Control": "no-store"}  # the page holds a CSRF value and the reader's name


async def page_principal(request: Request, action: Action) -> Principal | None:
    """The signed-in browser session that may take `action`, or None (send them to sign in)."""
    principal = await current_principal(request)
    return principal if may(principal, action, in_browser=True) else None


def sign_in_first(here: str) -> RedirectResponse:
    """To the login page, which brings the reader back to `here` once signed in (or, signed in with
    another role, shows who they are and lets them sign out)."""
    return RedirectResponse(f"/login?next={quote(here, safe='/')}", status_code=303)


def session_csrf(request: Request) -> str:
    return csrf_token(request.cookies.get(SESSION_COOKIE, ""))


def private_page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers=NO_STORE)
