"""Small request helpers every router shares."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine


def engine_of(request: Request) -> Engine:
    """The application's database engine (set by `create_app`)."""
    engine: Engine = request.app.state.engine
    return engine


def query_params(request: Request) -> dict[str, list[str]]:
    """Every query parameter with all its values, in order (repeatable parameters keep them all)."""
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params
