"""Bearer-token guard for writes (until users and roles exist): SANICHAIN_ADMIN_TOKEN."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from service.config import AuthSettings


def admin_token(request: Request) -> str | None:
    """The token `create_app` read once for this application; an app built elsewhere reads it now."""
    held = getattr(request.app.state, "auth_settings", None)
    return (held if isinstance(held, AuthSettings) else AuthSettings()).admin_token


def require_admin(request: Request) -> None:
    token = admin_token(request)
    if not token:
        raise HTTPException(403, "writes are disabled: set SANICHAIN_ADMIN_TOKEN on the server")
    given = request.headers.get("authorization", "")
    if not given.lower().startswith("bearer ") or not hmac.compare_digest(given[7:].strip(), token):
        raise HTTPException(
            401,
            "a valid 'Authorization: Bearer <SANICHAIN_ADMIN_TOKEN>' header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
