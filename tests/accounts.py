"""Signed-in test users: one per role (and town), each with an API token, created on first use in the
database under test. `role_headers(engine, "planner")` → the Authorization header of that user."""

from __future__ import annotations

from sqlalchemy import Engine, text

from service.accounts import tokens, users

PASSWORD = "correct horse battery staple"
_issued: dict[tuple[str, str, str | None], str] = {}


def user_name(role: str, town: str | None = None) -> str:
    return f"test-{role}" + (f"-{town}" if town else "")


def role_token(engine: Engine, role: str, town: str | None = None) -> str:
    """An active API token of the test user with this role (and town), made when missing."""
    key = (engine.url.render_as_string(hide_password=False), role, town)
    held = _issued.get(key)
    with engine.begin() as conn:
        if held is not None:
            alive = conn.execute(
                text("SELECT 1 FROM api_tokens WHERE token_hash = :h AND revoked_at IS NULL"),
                {"h": tokens.digest(held)},
            ).scalar()
            if alive:
                return held
        name = user_name(role, town)
        exists = conn.execute(text("SELECT 1 FROM users WHERE name = :n"), {"n": name}).scalar()
        if not exists:
            users.add(conn, name, role, PASSWORD, town)
        new = tokens.create(conn, name, label="tests").token
    _issued[key] = new
    return new


def role_headers(engine: Engine, role: str = "admin", town: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {role_token(engine, role, town)}"}
