"""GET /health: is the service up, and can it reach PostGIS?"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from service import __version__
from service.api.deps import engine_of
from service.api.problems import problem
from service.db import probe

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Service and database health",
    responses={503: {"description": "Database unreachable or without PostGIS (problem+json)"}},
)
def health(request: Request) -> Any:
    try:
        status = probe(engine_of(request))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return problem(503, f"database unreachable: {reason}")
    if not status.postgis:
        return problem(
            503, f"database {status.database} has no PostGIS extension: run `sanichain db upgrade`"
        )
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "database": status.database,
            "server_version": status.server_version,
            "postgis": status.postgis,
        }
    )
