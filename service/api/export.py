"""GET /export/{layer}.{format}: a whole layer (with the items filters) as a file to download."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.exc import DataError
from starlette.background import BackgroundTask

from service.api.deps import engine_of, query_params
from service.api.problems import problem
from service.api.streaming import CursorStreamingResponse
from service.export.formats import MEDIA_TYPES, STREAMED, prepare
from service.features.errors import ParameterError, UnknownLayer

router = APIRouter(tags=["Export"])


@router.get(
    "/export/{filename}",
    summary="Download a layer (or all.gpkg) as GeoJSON, GeoJSON Sequence, CSV, XLSX, KML or GeoPackage",
    response_class=Response,
    responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}}},
)
def export(
    request: Request,
    filename: str,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs")] = None,
    crs: Annotated[str | None, Query(description="CRS of csv/xlsx/gpkg (files are x/east first)")] = None,
    datetime: Annotated[str | None, Query(description="instant or interval on updated_at")] = None,
    filter: Annotated[str | None, Query(description="CQL2 text")] = None,
    geometry: Annotated[str | None, Query(description="csv/xlsx: xy (lon/lat columns) or wkt")] = None,
) -> Response:
    layer, _, fmt = filename.rpartition(".")
    try:
        job = prepare(engine_of(request), layer, fmt, query_params(request))
        disposition = {"Content-Disposition": f'attachment; filename="{job.filename}"'}
        if fmt in STREAMED:
            return CursorStreamingResponse(
                job.chunks(), media_type=MEDIA_TYPES[fmt], headers=disposition, on_error=_database_problem
            )
        handle, name = tempfile.mkstemp(suffix="." + fmt, prefix="sanichain-export-")
        os.close(handle)
        path = Path(name)
        try:
            job.write(path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return FileResponse(
            path, media_type=MEDIA_TYPES[fmt], filename=job.filename, background=BackgroundTask(path.unlink)
        )
    except ParameterError as exc:
        return problem(400, str(exc), parameter=exc.parameter)
    except UnknownLayer as exc:
        return problem(404, str(exc))
    except DataError as exc:
        return _database_problem(exc)
    except ValueError as exc:  # e.g. too many rows for one Excel sheet
        return problem(400, str(exc))


def _database_problem(exc: Exception) -> Response:
    if isinstance(exc, DataError):  # a value PostgreSQL refuses (e.g. out of a type's range)
        return problem(400, f"a parameter value cannot be used: {str(exc.orig).strip().splitlines()[0]}")
    raise exc
