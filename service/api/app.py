"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from service import __version__
from service.api import health, openapi_responses, problems
from service.config import AuthSettings, MapSettings, SitingSettings
from service.db import get_engine


def create_app(engine: Engine | None = None) -> FastAPI:
    app = FastAPI(
        title="sanichain",
        version=__version__,
        description="Rural sanitation inventory of a city: household → village → town → city.",
    )
    app.state.engine = engine if engine is not None else get_engine()
    # Settings a request needs, read once per application (a bad value stops the start, not a request).
    app.state.auth_settings = AuthSettings()
    app.state.siting_settings = SitingSettings()
    problems.install(app)
    openapi_responses.install(app)
    app.include_router(health.router)
    # -- layers out: OGC API Features, export, tiles (register routers here) --
    from service.api import export, ogc, tiles

    app.include_router(ogc.router)
    app.include_router(export.router)
    app.include_router(tiles.router)
    # -- chain: flows, integrity, indicators, diagram (register routers here) --
    from service.api import chain

    app.include_router(chain.router)
    from service.api import coverage

    app.include_router(coverage.router)
    from service.api import siting

    app.include_router(siting.router)
    from service.api import planning

    app.include_router(planning.router)
    # -- maps: pages and their assets (the basemap settings are checked here, at start-up) --
    from service.api import maps

    app.state.map_settings = MapSettings()
    app.include_router(maps.router)

    return app
