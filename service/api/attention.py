"""`GET /problems`: what needs attention now (a page for a browser, JSON for scripts). (The exports'
page is the export router's.)"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from service.api import attention_text
from service.api.deps import engine_of
from service.api.headers import base_url
from service.api.negotiation import wants_html
from service.api.pages_html import problems_page
from service.chain import attention
from service.chain.computation import computed

router = APIRouter(tags=["chain"])


class PageLang(StrEnum):
    zh = "zh"
    en = "en"


LangParam = Annotated[PageLang, Query(description="page language: zh (default) or en")]
Format = Annotated[str | None, Query(pattern="^(json|html)$", description="json or html; default by Accept")]


@router.get(
    "/problems",
    summary="What needs attention now: overloaded and near-capacity facilities, non-operational facilities "
    "still receiving flows, unconnected villages and farms, integrity findings",
)
def problems(request: Request, lang: LangParam = PageLang.zh, f: Format = None) -> Response:
    with computed(engine_of(request)) as conn:
        found = attention.problems(conn)
    base = base_url(request)
    report = attention_text.worded(attention.report(found, base, lang.value), lang.value)
    if wants_html(request):
        return HTMLResponse(problems_page(report, base, lang.value))
    return JSONResponse(report)
