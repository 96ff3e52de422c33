"""Map pages (city, town, facility, coverage) and the JavaScript/CSS they load, served by the service."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from service.accounts.tokens import Principal
from service.api.coverage_params import CoverageQueryParams
from service.api.deps import declared_query_parameters, engine_of
from service.api.headers import base_url
from service.api.negotiation import accepts_gzip
from service.api.security import current_principal
from service.config import MapSettings
from service.coverage import gaps
from service.errors import BadParameter, NotFound
from service.inspections import due, records
from service.maps import assets, editing
from service.maps.cache import PageCache
from service.maps.city import INDICATORS, MapRequest, city_page, town_page
from service.maps.coverage import coverage_page
from service.maps.facility import facility_page
from service.maps.map_rows import inventory_version

if TYPE_CHECKING:
    from service.maps.page import MapPage

router = APIRouter(tags=["maps"])

PAGES = PageCache()
# The version is in the path, so a cached copy can never be stale.
ASSET_CACHE = "public, max-age=31536000, immutable"


class MapLang(StrEnum):
    zh = "zh"
    en = "en"


Lang = Annotated[MapLang, Query(description="popup and legend language: zh (default) or en")]
Indicator = Annotated[str, Query(description=f"what shades the towns: one of {', '.join(INDICATORS)}")]


def map_settings(request: Request) -> MapSettings:
    settings = getattr(request.app.state, "map_settings", None)
    return settings if isinstance(settings, MapSettings) else MapSettings()


def _request(request: Request, lang: MapLang, indicator: str = "waste_connected_share") -> MapRequest:
    return MapRequest(
        lang="en" if lang is MapLang.en else "zh",
        settings=map_settings(request),
        base_url=base_url(request),  # absolute, like the OGC API's own links (see api.headers)
        indicator=indicator,
        visits=due.visits,
        inspections=records.facility_summary,
    )


def _page(
    request: Request, lang: MapLang, build: Callable[[], MapPage], also_known: Iterable[str] = ()
) -> Response:
    """The page as HTML (reused while the inventory is unchanged)."""
    switched = request.url.remove_query_params("lang").include_query_params(
        lang="zh" if lang is MapLang.en else "en"
    )
    language_href = f"{switched.path}?{switched.query}"
    unknown = sorted(set(request.query_params) - declared_query_parameters(request, also_known))
    if unknown:  # also keeps junk parameters from crowding real pages out of the page cache
        raise BadParameter(unknown[0], "unknown query parameter")
    # the base is in the page (links, the popups' fetches): pages for different trusted names differ
    parameters = tuple(sorted(request.query_params.multi_items()))
    key = (base_url(request), request.url.path, parameters, repr(map_settings(request)))
    with engine_of(request).connect() as conn:
        version = inventory_version(conn)
    page = PAGES.get_or_build(key, version, lambda: build().render(language_href=language_href))
    body = page.encode("utf-8")
    if accepts_gzip(request.headers.get("accept-encoding", "")):  # a city map shrinks about fivefold
        return Response(
            gzip.compress(body, 6),
            media_type="text/html; charset=utf-8",
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
    return Response(body, media_type="text/html; charset=utf-8", headers={"Vary": "Accept-Encoding"})


def city_map(
    request: Request,
    lang: MapLang = MapLang.zh,
    indicator: str = "waste_connected_share",
    also_known: Iterable[str] = (),
) -> Response:
    """The city map; also the browser's view of the landing page `/`."""
    req = _request(request, lang, indicator)
    return _page(request, lang, lambda: city_page(engine_of(request), req), also_known)


def landing_map(request: Request) -> Response:
    """The browser's view of `/`: the city map, with `lang` and `indicator` read from the query."""
    lang = request.query_params.get("lang", "zh")
    if lang not in MapLang.__members__:
        raise BadParameter("lang", f"must be zh or en, got {lang!r}")
    indicator = request.query_params.get("indicator", "waste_connected_share")
    return city_map(request, MapLang(lang), indicator, also_known=("lang", "indicator"))


@router.get(
    "/maps/city", summary="City map: every layer of the chain, flows, legend", response_class=HTMLResponse
)
def city(
    request: Request, lang: Lang = MapLang.zh, indicator: Indicator = "waste_connected_share"
) -> Response:
    return city_map(request, lang, indicator)


@router.get(
    "/maps/towns/{code}",
    summary="A town's map: its villages, facilities and flows",
    response_class=HTMLResponse,
)
def town(
    request: Request,
    code: Annotated[str, Path(pattern=r"^[0-9]{9}$", description="9-digit town code")],
    lang: Lang = MapLang.zh,
    indicator: Indicator = "waste_connected_share",
) -> Response:
    req = _request(request, lang, indicator)
    return _page(request, lang, lambda: town_page(engine_of(request), code, req))


@router.get(
    "/maps/facilities/{layer}/{feature_id}",
    summary="A facility's map: the area it serves, what feeds it and what it feeds",
    response_class=HTMLResponse,
)
def facility(
    request: Request,
    layer: str,
    feature_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="the feature id of the layer")],
    lang: Lang = MapLang.zh,
) -> Response:
    req = _request(request, lang)
    return _page(request, lang, lambda: facility_page(engine_of(request), layer, feature_id, req))


@router.get(
    "/maps/coverage",
    summary="Coverage map: served and unserved villages and farms, reach, gap areas",
    response_class=HTMLResponse,
)
def coverage(
    request: Request,
    q: CoverageQueryParams,  # the same parameters, checks and 400s as /coverage
    cluster_radius_m: Annotated[
        float | None,
        Query(gt=0, le=gaps.MAX_CLUSTER_M, description="largest gap-area radius; default distance_m"),
    ] = None,
    lang: Lang = MapLang.zh,
) -> Response:
    req = _request(request, lang)
    return _page(request, lang, lambda: coverage_page(engine_of(request), q, cluster_radius_m, req))


@router.get(
    "/maps/editor",
    summary="Whether this browser may edit from the map pages (the pages' own script asks; never cached)",
)
def editor(
    response: Response, principal: Annotated[Principal | None, Depends(current_principal)]
) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"  # it depends on who asks
    return editing.may_edit(principal)


@router.get(
    "/maps/assets/{package}/{version}/{file:path}", summary="JavaScript, CSS and images of the map pages"
)
def asset(package: str, version: str, file: str) -> Response:
    path = assets.resolve(package, version, file)
    if path is None:
        raise NotFound(f"no asset {package}/{version}/{file}")
    return FileResponse(path, media_type=assets.media_type(path), headers={"Cache-Control": ASSET_CACHE})
