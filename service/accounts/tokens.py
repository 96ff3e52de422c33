"""API tokens for scripts: a random token shown once; the table keeps only its SHA-256 (hex).

A token is looked up by its hash (an index probe over a digest reveals nothing about the token by its
timing) and the digest found is compared again with `hmac.compare_digest`. A revoked or expired token,
or one of a disabled user, is refused at once: every check runs on every use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from service.accounts import users
from service.errors import BadParameter, Conflict, NotFound

TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 bits
MAX_TOKEN_LENGTH = 256  # longer is not one of ours: refused without a lookup
MAX_EXPIRES_DAYS = 3650


class UnknownToken(NotFound):
    """No API token with that id."""


@dataclass(frozen=True)
class NewToken:
    """A token just created: `token` is the only time the token itself exists outside its holder."""

    id: int
    user: str
    label: str
    expires_at: datetime | None
    token: str


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token, nor its hash."""

    id: int
    user: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    state: str  # active, expired or revoked
    kind: str  # api (scripts), access (OAuth2 password flow) or session (a browser's cookie)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the user behind an accepted token."""

    user_id: int
    name: str
    role: str
    town: str | None
    token_id: int
    kind: str = "api"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _issue(
    conn: Connection, owner: users.UserInfo, label: str, kind: str, lifetime: timedelta | None
) -> NewToken:
    if owner.disabled:
        raise Conflict(f"user: {owner.name!r} is disabled")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = conn.execute(
        text(
            "INSERT INTO api_tokens (user_id, name, token_hash, kind, expires_at) "
            "VALUES (:user_id, :label, :hash, :kind, now() + CAST(:lifetime AS interval)) "
            "RETURNING id, expires_at"
        ),
        {"user_id": owner.id, "label": label, "hash": digest(token), "kind": kind, "lifetime": lifetime},
    ).one()
    return NewToken(row.id, owner.name, label, row.expires_at, token)


def create(conn: Connection, user: str, label: str = "api", expires_days: int | None = None) -> NewToken:
    """A new API token for an enabled user, valid for `expires_days` days (None: until revoked)."""
    if not label.strip():
        raise BadParameter("label", "must not be blank")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise BadParameter("expires_days", f"must be 1–{MAX_EXPIRES_DAYS}, got {expires_days}")
    lifetime = timedelta(days=expires_days) if expires_days is not None else None
    return _issue(conn, users.get(conn, user), label, "api", lifetime)


def issue_sign_in(
    conn: Connection, owner: users.UserInfo, kind: str, lifetime: timedelta, label: str
) -> NewToken:
    """A token for a password sign-in: an OAuth2 access token, or a browser session."""
    if kind not in ("access", "session"):
        raise ValueError(f"not a sign-in kind: {kind}")
    return _issue(conn, owner, label, kind, lifetime)


_STATE = """CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
                 WHEN k.expires_at <= now() THEN 'expired' ELSE 'active' END"""


def list_all(conn: Connection, user: str | None = None) -> list[TokenInfo]:
    """Every token, or one user's (an unknown user is NotFound)."""
    if user is not None:
        users.get(conn, user)
    rows = conn.execute(
        text(
            f"""SELECT k.id, u.name AS user, k.name AS label, k.created_at, k.expires_at, k.last_used_at,
                       k.revoked_at, {_STATE} AS state, k.kind
                FROM api_tokens k JOIN users u ON u.id = k.user_id
                WHERE CAST(:user AS text) IS NULL OR u.name = :user
                ORDER BY k.id"""
        ),
        {"user": user},
    )
    return [TokenInfo(**row._mapping) for row in rows]


def revoke(conn: Connection, token_id: int) -> TokenInfo:
    """Revoked from now on; revoking again keeps the first time."""
    found = conn.execute(
        text("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id RETURNING id"),
        {"id": token_id},
    ).scalar()
    if found is None:
        raise UnknownToken(f"token: no API token with id {token_id}")
    return next(t for t in list_all(conn) if t.id == token_id)


def authenticate_token(
    conn: Connection, token: str, kinds: tuple[str, ...] = ("api", "access")
) -> Principal | None:
    """The user a token of one of `kinds` acts for, and its last use set to now; None when the token
    is unknown, of another kind, revoked or expired, or its user is disabled (the caller says 401
    without telling which)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    wanted = digest(token)
    row: Any = conn.execute(
        text(
            """UPDATE api_tokens k SET last_used_at = now()
               FROM users u LEFT JOIN towns t ON t.id = u.town_id
               WHERE k.token_hash = :hash AND u.id = k.user_id AND k.kind = ANY(:kinds)
                 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
                 AND NOT u.disabled
               RETURNING k.id, k.token_hash, k.kind, u.id AS user_id, u.name, u.role, t.code AS town"""
        ),
        {"hash": wanted, "kinds": list(kinds)},
    ).one_or_none()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    return Principal(row.user_id, row.name, row.role, row.town, row.id, row.kind)


def revoke_presented(conn: Connection, token: str) -> bool:
    """Sign-out: the token presented (a session or access token) revoked; whether it was active."""
    found = conn.execute(
        text(
            "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = :hash AND revoked_at IS NULL "
            "RETURNING id"
        ),
        {"hash": digest(token)},
    ).scalar()
    return found is not None
