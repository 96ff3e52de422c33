"""Signing in from a browser: the login page, its session cookie, and sign-out.

- `GET /login`: the sign-in form; a browser already signed in sees who it is and a sign-out button.
- `POST /login`: a right name and password set the session cookie (HttpOnly, SameSite=Lax, for
  `SANICHAIN_SESSION_DAYS`) and send the browser on to `next`, which must be a path of this site (an
  outside address there would make the login page a springboard for phishing).
- `POST /logout`: the session revoked and its cookie deleted.

Login CSRF: before there is a session, the form carries a random value that must equal a short-lived
cookie of its own (double submit). Another site can make a browser post the form, but cannot read the
value; without this it could sign the browser in as the other site's own account.

The routes raise the domain's errors like every route; `install` answers those of these two form
routes with the page again (a person at a form wants a page, not a problem document). Every other
route keeps its problem+json.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from service.accounts import audit, tokens
from service.accounts.permissions import Action
from service.accounts.tokens import Principal
from service.api import login_html
from service.api.auth import WRONG, password_sign_in
from service.api.login_html import Notice
from service.api.problems import problem_for
from service.api.security import (
    SESSION_COOKIE,
    actor,
    auth_settings,
    csrf_matches,
    csrf_token,
    current_principal,
    delete_session_cookie,
    requires,
    route_path,
    secure_cookies,
)
from service.db import RequestClass
from service.errors import Forbidden, SanichainError, TooManyAttempts, Unauthenticated

router = APIRouter(tags=["accounts"])

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
FORM_ROUTES = frozenset({LOGIN_PATH, LOGOUT_PATH})
LOGIN_CSRF_COOKIE = "sanichain_login_csrf"
LOGIN_CSRF_SECONDS = 3600  # long enough to type a password on a phone, short for a pre-session value
LOGIN_CSRF_LENGTH = 43  # secrets.token_urlsafe(32)
MAX_NEXT = 2000
NO_STORE = {"Cache-Control": "no-store"}  # pages with a CSRF value or a name in them are never cached

STALE_FORM = "the sign-in form expired or did not come from this site; sign in again"
STALE_LOGOUT = "the sign-out form expired or did not come from this site; press the button again"
NOT_SIGNED_IN = "not signed in (the session ended or was revoked)"


# -- cookies and the page to return to ------------------------------------------------------------
def local_path(target: str) -> str:
    """`target` when it is a path of this site, else "/". Browsers read `//host` and `/\\host` as
    another host, and drop tabs and newlines before they do."""
    local = (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and len(target) <= MAX_NEXT
        and not urlsplit(target).scheme
    )
    return target if local else "/"


def _form_token(request: Request) -> str:
    """The login form's CSRF value: the browser's current one (other open tabs keep working), or new."""
    held = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    well_formed = len(held) == LOGIN_CSRF_LENGTH and held.replace("-", "").replace("_", "").isalnum()
    return held if well_formed else secrets.token_urlsafe(32)


def _sign_in_response(
    request: Request,
    next_path: str,
    status_code: int = 200,
    user_name: str = "",
    notice: Notice | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    form_token = _form_token(request)
    response = HTMLResponse(
        login_html.sign_in_page(local_path(next_path), form_token, user_name, notice),
        status_code=status_code,
        headers={**NO_STORE, **(headers or {})},
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        form_token,
        max_age=LOGIN_CSRF_SECONDS,
        path=LOGIN_PATH,
        secure=secure_cookies(request),
        httponly=True,
        samesite="strict",
    )
    return response


def _signed_in_response(
    request: Request,
    principal: Principal,
    next_path: str,
    status_code: int = 200,
    notice: Notice | None = None,
) -> HTMLResponse:
    session = request.cookies.get(SESSION_COOKIE, "")
    return HTMLResponse(
        login_html.signed_in_page(principal, csrf_token(session), local_path(next_path), notice),
        status_code=status_code,
        headers=NO_STORE,
    )


# -- routes ---------------------------------------------------------------------------------------
# A browser's form routes: not in the API's description (they answer pages, and take a browser's cookies).
@router.get(
    LOGIN_PATH, summary="The login page: the sign-in form, or who is signed in", include_in_schema=False
)
async def login_page(
    request: Request,
    next_path: Annotated[str, Query(alias="next", description="the local page to return to")] = "/",
) -> Response:
    principal = await current_principal(request)
    if principal is not None and principal.kind == "session":
        return _signed_in_response(request, principal, next_path)
    return _sign_in_response(request, next_path)


@router.post(
    LOGIN_PATH,
    summary="Sign in from the login page: the session cookie, then a 303 to `next`",
    include_in_schema=False,
)
def sign_in_form(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
    form_token: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    # what the page shown on a refusal fills in again (never the password)
    request.state.login_form = (username, next_path)
    held = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (held and form_token and hmac.compare_digest(held, form_token)):
        raise Forbidden(STALE_FORM)
    new = password_sign_in(request, username, password, "session")
    response = RedirectResponse(local_path(next_path), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=auth_settings(request).session_days * 86400,
        path="/",
        secure=secure_cookies(request),
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path=LOGIN_PATH, secure=secure_cookies(request), httponly=True, samesite="strict"
    )
    return response


def _sign_out(request: Request, principal: Principal) -> None:
    with request.app.state.engines.of(RequestClass.interactive).begin() as conn:
        tokens.revoke_presented(conn, request.cookies.get(SESSION_COOKIE, ""))
        audit.record(conn, actor(request, principal), "sign_out", target_id=principal.token_id)


@router.post(
    LOGOUT_PATH,
    summary="Sign out from the login page: the session revoked, its cookie deleted, a 303 to /login",
    include_in_schema=False,
    **requires(Action.sign_out),
)
async def sign_out_form(request: Request, given: Annotated[str, Form(alias="csrf_token")] = "") -> Response:
    principal = await current_principal(request)
    # the session's own CSRF token: a bearer token cannot sign a browser out, nor can another site
    if principal is None or principal.kind != "session" or not csrf_matches(request, given):
        raise Forbidden(STALE_LOGOUT)
    await run_in_threadpool(_sign_out, request, principal)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    delete_session_cookie(request, response)
    return response


# -- refusals of the form routes, as pages --------------------------------------------------------
async def _refused(request: Request, exc: Exception) -> Response:
    path = route_path(request)
    if path not in FORM_ROUTES or not isinstance(exc, SanichainError):
        return problem_for(exc)
    user_name, next_path = getattr(request.state, "login_form", ("", request.query_params.get("next", "/")))
    if isinstance(exc, TooManyAttempts):
        notice = Notice("登录失败次数过多，请稍后再试。", exc.message)
        retry = {"Retry-After": str(exc.extra["retry_after_s"])}
        return _sign_in_response(request, next_path, 429, user_name, notice, retry)
    if isinstance(exc, Forbidden):
        principal = getattr(request.state, "principal", None)
        if path == LOGOUT_PATH and principal is not None and principal.kind == "session":
            notice = Notice("退出请求无效，请再按一次。", exc.message)
            return _signed_in_response(request, principal, "/", 403, notice)
        notice = Notice("登录表单已失效，请重新登录。", exc.message)
        return _sign_in_response(request, next_path, 403, user_name, notice)
    # Unauthenticated: on the form's post, a wrong name or password (never which); else no valid session
    if path == LOGIN_PATH and request.method == "POST":
        notice = Notice("用户名或密码错误。", WRONG)
    else:
        notice = Notice("尚未登录，或登录已失效。", NOT_SIGNED_IN)
    challenge = {"WWW-Authenticate": "Bearer"}
    response = _sign_in_response(request, next_path, 401, user_name, notice, challenge)
    if path == LOGOUT_PATH:
        delete_session_cookie(request, response)
    return response


def install(app: FastAPI) -> None:
    """The routes, and the refusals of the form routes answered as pages (others stay problem+json)."""
    app.include_router(router)
    for refusal in (Unauthenticated, Forbidden, TooManyAttempts):
        app.add_exception_handler(refusal, _refused)
