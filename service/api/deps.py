"""Small request helpers every router shares."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine

from service.api.request_classes import classify
from service.db import Engines


def engine_of(request: Request) -> Engine:
    """The engine of the request's class (its own pool and statement timeout; set by `create_app`)."""
    engines: Engines = request.app.state.engines
    return engines.of(classify(request.url.path))


def query_params(request: Request) -> dict[str, list[str]]:
    """Every query parameter with all its values, in order (repeatable parameters keep them all)."""
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params
