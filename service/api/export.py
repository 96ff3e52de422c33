"""GET /export/{layer}.{format}: a whole layer (with the items filters) as a file to download; the pages
listing every layer's files (`/exports`) and their columns (`/exports/columns`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from service.api.deps import engine_of, query_params
from service.api.headers import base_url
from service.api.observability import metrics_of
from service.api.problems import problem_for
from service.api.streaming import CursorStreamingResponse
from service.api.while_connected import while_connected
from service.export.formats import FORMATS, titles, with_crs
from service.export.job import prepare
from service.export.pages import columns_page, exports_page
from service.maps.i18n import words

router = APIRouter(tags=["Export"])


class PageLang(StrEnum):
    zh = "zh"
    en = "en"


LangParam = Annotated[PageLang, Query(description="page language: zh (default) or en")]


@router.get(
    "/exports",
    summary="A page linking every layer's export in every format, and its columns",
    response_class=HTMLResponse,
)
def exports(request: Request, lang: LangParam = PageLang.zh) -> HTMLResponse:
    formats = [(name, fmt.title) for name, fmt in FORMATS.items()]
    return HTMLResponse(exports_page(formats, base_url(request), lang.value, words(lang.value)))


@router.get(
    "/exports/columns",
    summary="Every layer's export columns: name, type and meaning (docs/exports.md as a page)",
    response_class=HTMLResponse,
)
def export_columns(request: Request, lang: LangParam = PageLang.zh) -> HTMLResponse:
    return HTMLResponse(columns_page(base_url(request), lang.value, words(lang.value)))


@router.get(
    "/export/{filename}",
    summary=f"Download a layer (or all.gpkg) as {titles()}",
    response_class=Response,
    responses={200: {"content": {f.media_type: {} for f in FORMATS.values()}}},
)
async def export(
    request: Request,
    filename: str,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs")] = None,
    crs: Annotated[str | None, Query(description=f"CRS of {with_crs()} (files are x/east first)")] = None,
    datetime: Annotated[str | None, Query(description="instant or interval on updated_at")] = None,
    filter: Annotated[str | None, Query(description="CQL2 text")] = None,
    geometry: Annotated[str | None, Query(description="csv/xlsx: xy (lon/lat columns) or wkt")] = None,
) -> Response:
    layer, _, fmt = filename.rpartition(".")
    job = await run_in_threadpool(prepare, engine_of(request), layer, fmt, query_params(request))
    metrics = metrics_of(request)
    if metrics is not None:  # the layer and format are known ones once prepared: bounded labels
        metrics.exports.labels(layer, fmt).inc()
    media_type = job.format.media_type
    if job.format.streamed:
        disposition = {"Content-Disposition": f'attachment; filename="{job.filename}"'}
        return CursorStreamingResponse(job.chunks(), media_type, headers=disposition, on_error=problem_for)
    path = await while_connected(request, job.write_temporary)  # stops (and cleans up) if the client leaves
    return FileResponse(
        path, media_type=media_type, filename=job.filename, background=BackgroundTask(path.unlink)
    )
