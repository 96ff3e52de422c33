"""Signing in and out through the API: the OAuth2 password flow, who am I, sign-out."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from service.accounts import audit, sign_in, tokens
from service.accounts.permissions import Action
from service.api.security import (
    SESSION_COOKIE,
    SignedIn,
    actor,
    auth_settings,
    bearer_token,
    csrf_token,
    delete_session_cookie,
    requires,
)
from service.db import RequestClass
from service.errors import TooManyAttempts, Unauthenticated

router = APIRouter(tags=["accounts"])

WRONG = "wrong user name or password"  # never which of the two


def password_sign_in(request: Request, name: str, password: str, kind: str) -> tokens.NewToken:
    """A new access or session token for a right name and password. Every attempt is audited and
    committed, failures included (they are what the rate limit counts)."""
    settings = auth_settings(request)
    lifetime = (
        timedelta(minutes=settings.access_token_minutes)
        if kind == "access"
        else timedelta(days=settings.session_days)
    )
    limits = sign_in.Limits(
        settings.login_failures_per_account,
        settings.login_failures_per_address,
        settings.login_failure_window_minutes,
    )
    with request.app.state.engines.of(RequestClass.interactive).begin() as conn:
        outcome = sign_in.attempt(conn, actor(request), name, password, kind, lifetime, limits)
    if outcome.retry_after_s is not None:
        raise TooManyAttempts(
            "too many failed sign-ins for this account or from this address; try again later",
            retry_after_s=outcome.retry_after_s,
        )
    if outcome.token is None:
        raise Unauthenticated(WRONG)
    return outcome.token


@router.post(
    "/auth/token",
    summary="Sign in with a user name and password (OAuth2 password flow): a bearer token",
    responses={
        401: {"description": WRONG},
        429: {"description": "too many failed sign-ins for the account or the address; see Retry-After"},
    },
)
def issue_access_token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict[str, Any]:
    new = password_sign_in(request, form.username, form.password, "access")
    return {
        "access_token": new.token,
        "token_type": "bearer",
        "expires_in": auth_settings(request).access_token_minutes * 60,
    }


@router.get("/auth/me", summary="Who is signed in: name, role, town, and how")
def who_am_i(request: Request, principal: SignedIn) -> dict[str, Any]:
    me: dict[str, Any] = {
        "name": principal.name,
        "role": principal.role,
        "town": principal.town,
        "signed_in_with": principal.kind,
    }
    session = request.cookies.get(SESSION_COOKIE)
    if principal.kind == "session" and session:
        me["csrf_token"] = csrf_token(session)  # for the pages' own writes (X-CSRF-Token)
    return me


@router.post(
    "/auth/logout", summary="Sign out: the token or session used is revoked", **requires(Action.sign_out)
)
def sign_out(request: Request, response: Response, principal: SignedIn) -> dict[str, Any]:
    presented = bearer_token(request) if principal.kind != "session" else request.cookies.get(SESSION_COOKIE)
    with request.app.state.engines.of(RequestClass.interactive).begin() as conn:
        revoked = tokens.revoke_presented(conn, presented or "")
        audit.record(conn, actor(request, principal), "sign_out", target_id=principal.token_id)
    if principal.kind == "session":
        delete_session_cookie(request, response)
    return {"signed_out": principal.name, "revoked": revoked}
