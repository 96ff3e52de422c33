"""`GET /search`: features by name, pinyin initials or code (JSON, or a page for a browser),
`GET /search/towns`: the town picker's list, and the navigation's script that uses both."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from service import navigation, search
from service.api.deps import engine_of
from service.api.headers import base_url
from service.api.negotiation import wants_html
from service.api.pages_html import search_page
from service.errors import NotFound
from service.maps.i18n import words

router = APIRouter(tags=["search"])
ASSET_CACHE = "public, max-age=31536000, immutable"  # the digest is in the path


class SearchLang(StrEnum):
    zh = "zh"
    en = "en"


LangParam = Annotated[SearchLang, Query(description="names in Chinese (zh, default) or English (en)")]
Format = Annotated[str | None, Query(pattern="^(json|html)$", description="json or html; default by Accept")]


def hit_json(hit: search.Hit, lang: SearchLang, base: str) -> dict[str, Any]:
    en = lang is SearchLang.en
    town = None
    if hit.town_code:
        town = {"code": hit.town_code, "name": (hit.town_name_en if en else None) or hit.town_name}
    return {
        "layer": hit.layer,
        "layer_name": words(lang.value).get(hit.layer, hit.layer),
        "id": hit.id,
        "code": hit.code,
        "name": (hit.name_en if en else None) or hit.name,
        "town": town,
        "match": hit.match,
        "href": base + hit.map_path() + ("?lang=en" if en else ""),
    }


@router.get("/search", summary="Find towns, villages and facilities by name, pinyin initials or code")
def find(
    request: Request,
    q: Annotated[
        str,
        Query(
            max_length=search.MAX_QUERY_CHARS,
            description="part of a name (诸城), its pinyin initials (zc) or part of a code (TS-3707)",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT, description="most hits, best first")] = 10,
    lang: LangParam = SearchLang.zh,
    f: Format = None,
) -> Response:
    with engine_of(request).connect() as conn:
        hits = search.search(conn, q, limit)
    base = base_url(request)
    body = {"query": q.strip(), "count": len(hits), "hits": [hit_json(h, lang, base) for h in hits]}
    if wants_html(request):
        return HTMLResponse(search_page(body, base, lang.value))
    return JSONResponse(body)


@router.get("/search/towns", summary="Every town with the URL of its map (the town picker's list)")
def towns(request: Request, lang: LangParam = SearchLang.zh) -> dict[str, Any]:
    en = lang is SearchLang.en
    base = base_url(request)
    with engine_of(request).connect() as conn:
        rows = search.towns(conn)
    return {
        "towns": [
            {
                "code": t["code"],
                "name": (t["name_en"] if en else None) or t["name"],
                "href": f"{base}/maps/towns/{t['code']}" + ("?lang=en" if en else ""),
            }
            for t in rows
        ]
    }


@router.get(
    "/navigation/{digest}/sanichain-nav.js",
    summary="The navigation's script (search as you type, town picker, problem count)",
    response_class=FileResponse,
)
def navigation_script(digest: str) -> FileResponse:
    if navigation.script_path() != f"/navigation/{digest}/sanichain-nav.js":
        raise NotFound(f"no navigation script {digest!r}; the current one is {navigation.script_path()}")
    return FileResponse(
        navigation.SCRIPT, media_type="text/javascript", headers={"Cache-Control": ASSET_CACHE}
    )
