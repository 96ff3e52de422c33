"""GET /health: is the service up, and can it reach PostGIS?"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service import __version__
from service.api.deps import engine_of
from service.db import probe

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Service and database health",
    responses={503: {"description": "Database unreachable or without PostGIS (problem+json)"}},
)
def health(request: Request) -> Any:
    status = probe(engine_of(request))  # Unavailable (503) when the database cannot serve
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "database": status.database,
            "server_version": status.server_version,
            "postgis": status.postgis,
        }
    )
