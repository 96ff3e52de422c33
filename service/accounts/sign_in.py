"""Signing in with a password: the rate limits, the check, the token issued, the audit entries.

Failed sign-ins are counted from the audit log itself (per account name and per address, within a
window), so the limit holds across workers and restarts and needs no table of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection

from service.accounts import audit, tokens, users


@dataclass(frozen=True)
class Limits:
    per_account: int
    per_address: int
    window_minutes: int


@dataclass(frozen=True)
class Outcome:
    """A token on success; else `retry_after_s` when rate-limited, or neither for a wrong name or password."""

    token: tokens.NewToken | None = None
    retry_after_s: int | None = None


def attempt(
    conn: Connection,
    actor: audit.Actor,
    name: str,
    password: str,
    kind: str,
    lifetime: timedelta,
    limits: Limits,
) -> Outcome:
    """One sign-in attempt, audited whatever its outcome; the caller commits even when it fails."""
    # PostgreSQL text holds no NUL, and no user's name has one (users.check_name): such a name is
    # kept, counted and refused as a name nobody has
    name = name.replace("\x00", "\N{REPLACEMENT CHARACTER}")
    by_account, by_address = audit.failed_sign_ins(conn, name, actor.address, limits.window_minutes)
    if by_account >= limits.per_account or by_address >= limits.per_address:
        # refused before the password is even checked: the limit also bounds the hashing work
        audit.record(
            conn, actor, "sign_in", outcome="refused", user_name=name, detail={"reason": "rate limit"}
        )
        return Outcome(retry_after_s=limits.window_minutes * 60)
    user = users.check_password(conn, name, password)
    if user is None:
        audit.record(conn, actor, "sign_in", outcome="failed", user_name=name, detail={"kind": kind})
        return Outcome()
    label = kind if not actor.user_agent else f"{kind}: {actor.user_agent[:80]}"
    new = tokens.issue_sign_in(conn, user, kind, lifetime, label)
    audit.record(
        conn,
        audit.Actor(
            user.id, user.name, user.role, actor.route, actor.address, actor.user_agent, actor.request_id
        ),
        "sign_in",
        target_id=new.id,
        detail={"kind": kind},
    )
    return Outcome(token=new)
