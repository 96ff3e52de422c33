"""Who is asking, and may they: sign-in by bearer token or session cookie, role checks, read policy.

- A bearer token (`Authorization: Bearer …`) is an API token or an OAuth2 access token; a browser's
  session cookie is a session token. All three live in one table, so revoking or disabling takes
  effect on the next request, whichever way the user signed in.
- Every state-changing method (POST, PUT, PATCH, delete) needs a signed-in user (`authorize`, a
  global dependency), except the sign-in routes themselves; each such route also names its action
  (`requires`), whose roles are written into the OpenAPI document as `x-sanichain-roles`.
- A state-changing request signed in by cookie must carry the session's CSRF token (header
  `X-CSRF-Token`, or the `csrf_token` field of the login page's forms): another site can make a
  browser send the cookie, but cannot read the token.
- Reads are open to anonymous users unless `SANICHAIN_READ_POLICY=signed-in`; personal data (the audit
  log, accounts) always needs its role.
- Tokens are never taken from the URL (they would end in logs, history and Referer headers).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from service.accounts import audit, permissions, tokens
from service.accounts.permissions import Action
from service.accounts.tokens import Principal
from service.api import openapi_responses
from service.api.headers import base_url
from service.api.negotiation import wants_html
from service.config import AuthSettings
from service.db import RequestClass
from service.errors import BadParameter, Forbidden, Unauthenticated

SESSION_COOKIE = "sanichain_session"
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})  # browsers keep Secure cookies there over http
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The routes that sign a user in take no sign-in themselves.
SIGN_IN_ROUTES = frozenset({"/auth/token", "/login"})
# Open whatever the read policy: signing in, health, the API's description and the pages' assets.
ALWAYS_OPEN = frozenset(
    {"/login", "/logout", "/auth/token", "/health", "/api", "/openapi.json", "/docs", "/docs/oauth2-redirect",
     "/redoc", "/docs/assets/{version}/{file}", "/maps/assets/{package}/{version}/{file}",
     "/navigation/{digest}/sanichain-nav.js"}
)  # fmt: skip
# Query parameters that would carry a secret in the URL.
SECRET_PARAMETERS = frozenset({"access_token", "token", "api_key", "apikey", "password", "session"})
ROLES_EXTENSION = openapi_responses.ROLES_EXTENSION
SECURITY_SCHEME = "OAuth2PasswordBearer"
NOT_VALID = "the token is not valid (unknown, expired or revoked, or its user is disabled); sign in again"

# Documents the password flow in OpenAPI (and gives /docs its Authorize button); reading the header is
# done below, so that an invalid token is a 401 on every route, not only on the ones that need sign-in.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/token", auto_error=False)


class SignInFirst(Exception):
    """A browser asking for a page the read policy closes: sent to the login page, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def auth_settings(request: Request) -> AuthSettings:
    held = getattr(request.app.state, "auth_settings", None)
    return held if isinstance(held, AuthSettings) else AuthSettings()


def secure_cookies(request: Request) -> bool:
    """Secure per SANICHAIN_COOKIE_SECURE; under `auto`, for https and for loopback hosts."""
    setting = auth_settings(request).cookie_secure
    if setting != "auto":
        return setting == "always"
    site = urlsplit(base_url(request))
    return site.scheme == "https" or (site.hostname or "") in LOOPBACK


def delete_session_cookie(request: Request, response: Response) -> None:
    """The session cookie removed, with the attributes it was set with (browsers match on them)."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=secure_cookies(request), httponly=True, samesite="lax"
    )


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from the session token, which only its browser holds."""
    return hmac.new(session_token.encode(), b"sanichain csrf", hashlib.sha256).hexdigest()


def csrf_matches(request: Request, given: str | None) -> bool:
    session = request.cookies.get(SESSION_COOKIE)
    return bool(session and given) and hmac.compare_digest(csrf_token(session or ""), given or "")


def route_path(request: Request) -> str | None:
    route = request.scope.get("route")
    return route.path if isinstance(route, APIRoute) else None


def actor(request: Request, principal: Principal | None = None) -> audit.Actor:
    """Who acts (when known) and from where, for the audit log."""
    client = request.client
    base = audit.Actor(
        route=f"{request.method} {route_path(request) or request.url.path}",
        address=client.host if client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=getattr(request.state, "request_id", None),
    )
    return base.signed_in_as(principal) if principal is not None else base


def _engine(request: Request) -> Any:
    return request.app.state.engines.of(RequestClass.interactive)


def _authenticate(request: Request, token: str, kinds: tuple[str, ...]) -> Principal | None:
    with _engine(request).begin() as conn:
        return tokens.authenticate_token(conn, token, kinds)


def bearer_token(request: Request) -> str | None:
    """The bearer token of the Authorization header; Unauthenticated for any other scheme."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("Authorization: expected 'Bearer <token>'")
    return value.strip()


async def current_principal(request: Request) -> Principal | None:
    """The signed-in user of this request, or None (anonymous); read once per request."""
    if hasattr(request.state, "principal"):
        held: Principal | None = request.state.principal
        return held
    principal: Principal | None = None
    bearer = bearer_token(request)
    if bearer is not None:
        principal = await run_in_threadpool(_authenticate, request, bearer, ("api", "access"))
        if principal is None:
            raise Unauthenticated(NOT_VALID)
    elif (session := request.cookies.get(SESSION_COOKIE)) is not None:
        # a stale cookie makes the browser anonymous, it is not an error on an open page
        principal = await run_in_threadpool(_authenticate, request, session, ("session",))
    request.state.principal = principal
    return principal


def _reject_secrets_in_url(request: Request) -> None:
    for name in request.query_params:
        if name.lower() in SECRET_PARAMETERS:
            raise BadParameter(
                name,
                "secrets are not accepted in the URL (they end in logs); "
                "send 'Authorization: Bearer <token>'",
            )


def _asks_for_a_page(request: Request) -> bool:
    """Whether an anonymous reader is a browser to send to the login page. Never an error: an `f` of
    the route's own (GET /audit?f=csv) is the route's to check, once the reader has signed in."""
    f = request.query_params.get("f")
    return f.lower() == "html" if f else wants_html(request)


async def authorize(request: Request) -> None:
    """Global dependency: sign-in where the method or the read policy needs it, CSRF for cookie writes."""
    _reject_secrets_in_url(request)
    path = route_path(request)
    unsafe = request.method in UNSAFE_METHODS
    if unsafe and path in SIGN_IN_ROUTES:
        return
    closed = auth_settings(request).read_policy == "signed-in" and path not in ALWAYS_OPEN
    if not unsafe and not closed and "authorization" not in request.headers:
        return  # an open read: no lookup at all (a session cookie is read when a route asks who)
    principal = await current_principal(request)
    if principal is None and (unsafe or closed):
        if not unsafe and _asks_for_a_page(request):
            raise SignInFirst(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        raise Unauthenticated(
            "sign in first: this needs a signed-in user ('Authorization: Bearer <token>' from "
            "POST /auth/token or `sanichain tokens create`, or the session of /login)"
        )
    cookie_write = unsafe and principal is not None and principal.kind == "session"
    if cookie_write and path != "/logout" and not csrf_matches(request, request.headers.get(CSRF_HEADER)):
        raise Forbidden("CSRF token missing or wrong: send the session's token in X-CSRF-Token")


async def signed_in(request: Request, _: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
    """The signed-in user; Unauthenticated when anonymous."""
    principal = await current_principal(request)
    if principal is None:
        raise Unauthenticated("sign in first")
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]


def _record_refusal(request: Request, principal: Principal, action: Action, reason: str) -> None:
    with _engine(request).begin() as conn:
        audit.record(
            conn, actor(request, principal), action.value, outcome="refused", detail={"reason": reason}
        )


def check_action(request: Request, principal: Principal, action: Action) -> None:
    """Forbidden (and audited as refused) unless the principal may take `action`."""
    try:
        permissions.check(principal, action)
    except Forbidden as refused:
        _record_refusal(request, principal, action, refused.message)
        raise


def role_check(action: Action) -> Any:
    async def check(request: Request, principal: SignedIn) -> Principal:
        await run_in_threadpool(check_action, request, principal, action)
        return principal

    return check


def requires(action: Action) -> dict[str, Any]:
    """Keyword arguments of a route decorator: the role check, and its roles in the OpenAPI document."""
    roles = list(permissions.allowed_roles(action))
    return {
        "dependencies": [Depends(role_check(action))],
        "openapi_extra": {ROLES_EXTENSION: roles},
        "description": f"Needs a signed-in user with the role {' or '.join(roles)}.",
    }


def install(app: FastAPI) -> None:
    async def to_login(_: Request, exc: Exception) -> RedirectResponse:
        assert isinstance(exc, SignInFirst)
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)

    app.add_exception_handler(SignInFirst, to_login)
