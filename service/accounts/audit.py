"""The audit log: every write, sign-in and refusal, appended in the caller's transaction.

Entries are only ever inserted: the database refuses UPDATE, DELETE and TRUNCATE (migration 0007).
Nothing secret goes in: callers pass names, ids and changed values, never passwords or tokens, and
`record` drops any member whose key looks like a secret as a second line of defence.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
from collections.abc import Generator, Iterator, Mapping
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from service.accounts.tokens import Principal
from service.cells import inert_text
from service.errors import BadParameter
from service.features.values import RANGE_TEXT, in_range

SECRET_KEYS = ("password", "token", "secret", "authorization", "cookie", "csrf")
MAX_USER_AGENT = 300
MAX_PAGE = 10_000
DEFAULT_PAGE = 100
MAX_FILTER_LENGTH = 200
MAX_ID = 2**63 - 1  # bigint
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


def _text_filter(parameter: str, value: str | None) -> str | None:
    if value is None:
        return None
    if "\x00" in value or len(value) > MAX_FILTER_LENGTH:
        raise BadParameter(parameter, f"at most {MAX_FILTER_LENGTH} characters, no NUL")
    return value


def parse_instant(parameter: str, value: str | None, *, day_end: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time (no offset: UTC). A date is its day's start, or with `day_end`
    the next day's start, so that `until=2026-12-03` (exclusive) still takes in the whole of that day."""
    if value is None:
        return None
    text_value = value.strip()
    try:
        if len(text_value) == 10 and "T" not in text_value.upper():
            day = dt.date.fromisoformat(text_value)
            start = datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return in_range(start + dt.timedelta(days=1) if day_end else start)
        return in_range(datetime.fromisoformat(text_value.replace("z", "Z").replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        raise BadParameter(
            parameter,
            f"not an ISO 8601 date or date-time within {RANGE_TEXT}: {value[:40]!r} "
            "(e.g. 2026-12-03 or 2026-12-03T08:00:00+08:00)",
        ) from None


def parse_filters(
    user: str | None = None,
    layer: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Filters:
    """Filters from request or command-line text; a bad value is a BadParameter naming it."""
    return Filters(
        _text_filter("user", user),
        _text_filter("layer", layer),
        _text_filter("action", action),
        parse_instant("since", since),
        parse_instant("until", until, day_end=True),
    )


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
        after_id = int(value)
        if not 0 <= after_id <= MAX_ID:
            raise ValueError(decoded)
        return after_id
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


def _cell_text(value: Any) -> str:
    """A cell as text: JSON members as compact JSON, times in ISO 8601, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def csv_row(entry: Entry) -> list[str]:
    """One entry as CSV cells, in COLUMNS order. Every text cell is made inert: a user agent or a
    tried user name is whatever the client sent, and must not run as a formula in a spreadsheet."""
    return [str(v) if isinstance(v, int) else inert_text(_cell_text(v)) for v in astuple(entry)]


def csv_text(conn: Connection, filters: Filters, *, bom: bool = False) -> Iterator[str]:
    """The entries matching `filters` as CSV (one header row of COLUMNS), in chunks of text. `bom`
    starts it with a UTF-8 byte order mark, so that Excel reads Chinese names in a downloaded file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if bom:
        buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    for n, entry in enumerate(stream(conn, filters), 1):
        writer.writerow(csv_row(entry))
        if n % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_chunks(engine: Engine, filters: Filters) -> Generator[bytes, None, None]:
    """The CSV download: its connection is opened on the first `next()` and closed with the generator."""
    with engine.connect() as conn:
        for chunk in csv_text(conn, filters, bom=True):
            yield chunk.encode("utf-8")


def tsv_line(entry: Entry) -> str:
    """One entry on one line for a terminal: tab-separated, tabs and line breaks in values escaped."""
    return "\t".join(
        _cell_text(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        or "-"
        for v in astuple(entry)
    )
