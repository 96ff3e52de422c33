"""GET /audit: the audit log for admins, a page at a time as JSON, or whole as a CSV download.

Personal data (who did what, from where): an admin of the whole city only, whatever the read policy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from service.accounts import audit
from service.accounts.permissions import Action
from service.api.deps import engine_of
from service.api.headers import public_url
from service.api.problems import problem_for
from service.api.security import requires
from service.api.streaming import CursorStreamingResponse

router = APIRouter(tags=["accounts"])
WHEN = "ISO 8601 date or date-time (no offset: UTC)"


class LinkOut(BaseModel):
    rel: str
    type: str
    href: str
    title: str


class AuditPage(BaseModel):
    entries: list[audit.Entry]  # the domain's dataclass is the schema: one definition of an entry
    links: list[LinkOut]


class AuditFormat(StrEnum):
    json = "json"
    csv = "csv"


def _page(request: Request, filters: audit.Filters, limit: int, cursor: str | None) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        entries, next_cursor = audit.page(conn, filters, limit, cursor)
    links = []
    if next_cursor is not None:
        href = str(public_url(request).include_query_params(cursor=next_cursor))
        links.append({"rel": "next", "type": "application/json", "href": href, "title": "Next page"})
    return {"entries": jsonable_encoder(entries), "links": links}


@router.get(
    "/audit",
    summary="The audit log: writes, sign-ins and refusals, oldest first (JSON pages, or CSV)",
    responses={200: {"model": AuditPage}},
    **requires(Action.read_audit),
)
async def audit_log(
    request: Request,
    user: Annotated[str | None, Query(description="the user name acted as, or tried")] = None,
    layer: Annotated[str | None, Query(description="the layer or table written, e.g. chain_links")] = None,
    action: Annotated[
        str | None, Query(description="e.g. sign_in, scenario.play, chain.assign, users.add")
    ] = None,
    since: Annotated[str | None, Query(description=f"from this instant on; {WHEN}")] = None,
    until: Annotated[
        str | None, Query(description=f"before this instant (a date: to the end of that day); {WHEN}")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=audit.MAX_PAGE, description="entries per page (JSON)")
    ] = audit.DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(description="from the `next` link of the previous page")] = None,
    f: Annotated[AuditFormat, Query(description="json (paged) or csv (every matching entry)")] = (
        AuditFormat.json
    ),
) -> Response:
    filters = audit.parse_filters(user, layer, action, since, until)
    if f is AuditFormat.csv:
        filename = f"audit-{datetime.now(UTC):%Y%m%d}.csv"
        return CursorStreamingResponse(
            audit.csv_chunks(engine_of(request), filters),
            "text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            on_error=problem_for,
        )
    return JSONResponse(await run_in_threadpool(_page, request, filters, limit, cursor))
