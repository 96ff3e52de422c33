"""Bearer-token guard for writes (until users and roles exist): SANICHAIN_ADMIN_TOKEN."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    admin_token: str | None = Field(default=None, validation_alias="SANICHAIN_ADMIN_TOKEN")


def require_admin(request: Request) -> None:
    token = AuthSettings().admin_token
    if not token:
        raise HTTPException(403, "writes are disabled: set SANICHAIN_ADMIN_TOKEN on the server")
    given = request.headers.get("authorization", "")
    if not given.lower().startswith("bearer ") or not hmac.compare_digest(given[7:].strip(), token):
        raise HTTPException(
            401,
            "a valid 'Authorization: Bearer <SANICHAIN_ADMIN_TOKEN>' header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
