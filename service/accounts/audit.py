"""The audit log: every write, sign-in and refusal, appended in the caller's transaction.

Entries are only ever inserted: the database refuses UPDATE, DELETE and TRUNCATE (migration 0007).
Nothing secret goes in: callers pass names, ids and changed values, never passwords or tokens, and
`record` drops any member whose key looks like a secret as a second line of defence.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from service.accounts.tokens import Principal
from service.errors import BadParameter

SECRET_KEYS = ("password", "token", "secret", "authorization", "cookie", "csrf")
MAX_USER_AGENT = 300
MAX_PAGE = 10_000
COLUMNS = (
    "id", "at", "user_name", "role", "action", "outcome", "route", "layer", "target_id",
    "before", "after", "detail", "address", "user_agent", "request_id",
)  # fmt: skip


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where: a signed-in user through the API, or an operator's command."""

    user_id: int | None = None
    user_name: str | None = None
    role: str | None = None
    route: str | None = None  # "POST /planning/scenarios", or "sanichain users add"
    address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def signed_in_as(self, principal: Principal) -> Actor:
        return Actor(
            principal.user_id, principal.name, principal.role, self.route, self.address, self.user_agent,
            self.request_id,
        )  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One audit row as read back."""

    id: int
    at: datetime
    user_name: str | None
    role: str | None
    action: str
    outcome: str
    route: str | None
    layer: str | None
    target_id: str | None
    before: Any
    after: Any
    detail: Any
    address: str | None
    user_agent: str | None
    request_id: str | None


@dataclass(frozen=True)
class Filters:
    user: str | None = None
    layer: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _scrubbed(value: Any) -> Any:
    """`value` without members named like secrets, at any depth."""
    if isinstance(value, Mapping):
        return {
            k: ("[withheld]" if any(s in str(k).lower() for s in SECRET_KEYS) else _scrubbed(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    return value


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(_scrubbed(value), default=str, ensure_ascii=False)


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    *,
    outcome: str = "ok",
    layer: str | None = None,
    target_id: str | int | None = None,
    before: Any = None,
    after: Any = None,
    detail: Any = None,
    user_name: str | None = None,
) -> None:
    """Append one entry. `user_name` overrides the actor's (a failed sign-in names who was tried)."""
    conn.execute(
        text(
            """INSERT INTO audit_log (user_id, user_name, role, action, outcome, route, layer, target_id,
                                      before, after, detail, address, user_agent, request_id)
               VALUES (:user_id, :user_name, :role, :action, :outcome, :route, :layer, :target_id,
                       CAST(:before AS jsonb), CAST(:after AS jsonb), CAST(:detail AS jsonb),
                       :address, :user_agent, :request_id)"""
        ),
        {
            "user_id": actor.user_id,
            "user_name": user_name if user_name is not None else actor.user_name,
            "role": actor.role,
            "action": action,
            "outcome": outcome,
            "route": actor.route,
            "layer": layer,
            "target_id": None if target_id is None else str(target_id),
            "before": _json(before),
            "after": _json(after),
            "detail": _json(detail),
            "address": actor.address,
            "user_agent": (actor.user_agent or "")[:MAX_USER_AGENT] or None,
            "request_id": actor.request_id,
        },
    )


def failed_sign_ins(
    conn: Connection, user_name: str, address: str | None, window_minutes: int
) -> tuple[int, int]:
    """Failed sign-ins within the window: (for this account name, from this address)."""
    row = conn.execute(
        text(
            """SELECT count(*) FILTER (WHERE user_name = :name) AS by_account,
                      count(*) FILTER (WHERE address = :address) AS by_address
               FROM audit_log
               WHERE action = 'sign_in' AND outcome = 'failed'
                 AND at > now() - make_interval(mins => :window)
                 AND (user_name = :name OR address = :address)"""
        ),
        {"name": user_name, "address": address, "window": window_minutes},
    ).one()
    return int(row.by_account), int(row.by_address)


def _cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{last_id}".encode()).decode().rstrip("=")


def _after_id(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = decoded.partition(":")
        if prefix != "audit":
            raise ValueError(decoded)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadParameter("cursor", "not a cursor of this listing (take it from a `next` link)") from exc


_WHERE = """WHERE (CAST(:user AS text) IS NULL OR user_name = :user)
              AND (CAST(:layer AS text) IS NULL OR layer = :layer)
              AND (CAST(:action AS text) IS NULL OR action = :action)
              AND (CAST(:since AS timestamptz) IS NULL OR at >= :since)
              AND (CAST(:until AS timestamptz) IS NULL OR at < :until)"""


def _params(filters: Filters) -> dict[str, Any]:
    return {
        "user": filters.user,
        "layer": filters.layer,
        "action": filters.action,
        "since": filters.since,
        "until": filters.until,
    }


def page(
    conn: Connection, filters: Filters, limit: int, cursor: str | None = None
) -> tuple[list[Entry], str | None]:
    """Entries matching `filters`, oldest first, `limit` at a time; the cursor of the next page or None."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadParameter("limit", f"must be 1–{MAX_PAGE}, got {limit}")
    rows = conn.execute(
        text(
            f"""SELECT {", ".join(COLUMNS)} FROM audit_log {_WHERE}
                  AND (CAST(:after_id AS bigint) IS NULL OR id > :after_id)
                ORDER BY id LIMIT :limit"""
        ),
        {**_params(filters), "after_id": _after_id(cursor), "limit": limit + 1},
    ).all()
    entries = [Entry(**row._mapping) for row in rows[:limit]]
    return entries, (_cursor(entries[-1].id) if len(rows) > limit else None)


def stream(conn: Connection, filters: Filters) -> Iterator[Entry]:
    """Every entry matching `filters`, oldest first, read in batches (for CSV export)."""
    after_id: int | None = None
    while True:
        rows = conn.execute(
            text(
                f"""SELECT {", ".join(COLUMNS)} FROM audit_log {_WHERE}
                      AND (CAST(:after_id AS bigint) IS NULL OR id > :after_id)
                    ORDER BY id LIMIT 5000"""
            ),
            {**_params(filters), "after_id": after_id},
        ).all()
        if not rows:
            return
        for row in rows:
            yield Entry(**row._mapping)
        after_id = rows[-1].id
