"""Errors of the HTML pages as pages: a browser that asked for a map of an unknown town (or a facility, a
layer, a path that does not exist) reads what went wrong in its language, under the shared navigation,
with the city map and the town maps a click away, and the status stays the error's.

One rule, applied by the exception handlers (`service.api.problems`) to every error: a page when the
route is a page (HTML only) or no route matched, and the client prefers HTML (`negotiation`); the JSON
problem document otherwise, unchanged, for scripts and for the routes that answer both.
"""

from __future__ import annotations

import html
import json
import logging

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from service import navigation, search
from service.api.deps import engine_of
from service.api.headers import base_url
from service.api.negotiation import prefers_html
from service.names import local

log = logging.getLogger(__name__)
# Pages whose routes say nothing of HTML in their declaration (the landing page answers both).
PAGE_PREFIXES = ("/maps/",)
NOT_PAGES = ("/maps/assets/", "/maps/editor")
MAX_TOWNS = 100  # the inline list of town maps; the navigation's picker has them all

_HEADLINES: dict[int, tuple[str, str]] = {
    400: ("请求有误", "The request is not valid"),
    401: ("需要登录", "Sign-in needed"),
    403: ("无权访问", "Not allowed"),
    404: ("找不到您要的页面", "Not found"),
    405: ("不支持此请求方式", "Method not allowed"),
    409: ("与现有数据冲突", "Conflict with the stored data"),
    422: ("无法处理此请求", "The request cannot be answered"),
    429: ("尝试次数过多，请稍后再试", "Too many attempts; try again later"),
    503: ("服务暂时不可用，请稍后再试", "The service is unavailable now; try again later"),
}
_WORDS: dict[str, tuple[str, str]] = {
    "explain_404": (
        "没有这个乡镇编码、设施编号或图层，或者链接已经失效。请从全市地图或乡镇列表重新进入。",
        "There is no town with that code, no facility with that id, or no such layer; the link may be "
        "out of date. Start again from the city map or a town's map.",
    ),
    "explain": ("请检查链接或参数后重试。", "Check the link or its parameters and try again."),
    "detail": ("详细信息", "Details"),
    "city_map": ("全市地图", "City map"),
    "towns": ("乡镇地图", "Town maps"),
    "town_list": ("全部乡镇列表", "Every town"),
}


def _t(key: str, lang: str) -> str:
    zh, en = _WORDS[key]
    return en if lang == "en" else zh


def is_page(request: Request) -> bool:
    """The request is for an HTML page (or for no route at all) and its client prefers HTML."""
    route = request.scope.get("route")
    if route is not None:
        path = str(getattr(route, "path", ""))
        declared_html = getattr(route, "response_class", None) is HTMLResponse
        page = declared_html or (path.startswith(PAGE_PREFIXES) and not path.startswith(NOT_PAGES))
        if not page:
            return False
    return prefers_html(request)


def _towns(request: Request) -> list[dict[str, str]]:
    """The town picker's list, or none when the database cannot say (the error may be that)."""
    try:
        with engine_of(request).connect() as conn:
            return search.towns(conn)[: MAX_TOWNS + 1]
    except Exception:  # the page must still be drawn: its other links need no database
        log.info("error page drawn without its town list", exc_info=True)
        return []


async def page(request: Request, problem: Response) -> HTMLResponse:
    """The HTML page of a problem document (`problem` is the JSON answer it replaces)."""
    lang: navigation.Lang = "en" if request.query_params.get("lang") == "en" else "zh"
    document = json.loads(bytes(problem.body))
    status = int(document.get("status", problem.status_code))
    base = base_url(request)
    zh, en = _HEADLINES.get(status, ("出错了", "Something went wrong"))
    headline = en if lang == "en" else zh
    suffix = "?lang=en" if lang == "en" else ""
    towns = await run_in_threadpool(_towns, request) if status == 404 else []
    items = "".join(
        f'<li><a href="{html.escape(base)}/maps/towns/{html.escape(t["code"])}{suffix}">'
        f"{html.escape(local(t['name'], t['name_en'], lang) or t['code'])}</a></li>"
        for t in towns[:MAX_TOWNS]
    )
    town_list = (
        f'<h2>{_t("towns", lang)}</h2><ul class="sc-town-list">{items}</ul>'
        if items
        else f'<p><a href="{html.escape(base)}/collections/towns/items">{_t("town_list", lang)}</a></p>'
    )
    body = (
        f'<p class="error" id="error-status"><strong>{status}</strong> · {html.escape(headline)}</p>'
        f"<p>{_t('explain_404' if status == 404 else 'explain', lang)}</p>"
        f'<p><a id="error-city-map" href="{html.escape(base)}/maps/city{suffix}">'
        f"{_t('city_map', lang)}</a></p>"
        f"{town_list}"
        f'<details><summary>{_t("detail", lang)}</summary><p class="muted" id="error-detail">'
        f"{html.escape(str(document.get('detail', '')))}</p></details>"
        "<style>.sc-town-list{columns:14em auto;padding-left:1.2em}</style>"
    )
    headers = {k: v for k, v in problem.headers.items() if k.lower() in ("retry-after", "www-authenticate")}
    return HTMLResponse(
        navigation.page_html(headline, body, base, lang),
        status_code=problem.status_code,
        headers={**headers, "Cache-Control": "no-store"},
    )
