"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy import Engine

from service import __version__
from service.api import (
    headers,
    health,
    malloc,
    observability,
    openapi_responses,
    problems,
    request_ids,
    security,
)
from service.api.deps import reject_unknown_query_parameters
from service.api.guard import DatabaseGuard
from service.api.liveness import Liveness
from service.config import (
    AuthSettings,
    EditSettings,
    MapSettings,
    RuntimeSettings,
    SitingSettings,
    database_settings,
    settings,
)
from service.db import class_engines, get_engine


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.trimmer = asyncio.create_task(malloc.trim_every())
    yield
    app.state.trimmer.cancel()
    from service.api import imports

    imports.shutdown(app)  # queued imports are dropped (their jobs end as failed); running ones finish
    app.state.engines.dispose()


def create_app(engine: Engine | None = None, runtime: RuntimeSettings | None = None) -> FastAPI:
    """The service over `engine`'s database (default: DATABASE_URL); `runtime` limits default to the
    environment's. Requests use an engine of their class, made here from `engine`'s URL."""
    malloc.limit_arenas()  # before the server starts its threads
    app = FastAPI(
        title="sanichain",
        version=__version__,
        description="Rural sanitation inventory of a city: household → village → town → city.",
        # sign-in first: an anonymous write is a 401 whatever its parameters
        dependencies=[Depends(security.authorize), Depends(reject_unknown_query_parameters)],
        lifespan=_lifespan,
        docs_url=None,  # /docs and /redoc are docs_pages.py's: the same pages, assets served here (no CDN)
        redoc_url=None,
    )
    app.state.engine = engine if engine is not None else get_engine()
    # read once per process, like problems.py reads its Retry-After: the two always agree
    runtime = runtime if runtime is not None else settings(RuntimeSettings)
    app.state.runtime_settings = runtime
    app.state.engines = class_engines(app.state.engine.url, runtime, database_settings().connect_timeout_s)
    liveness = Liveness(app.state.engines.url, runtime.liveness_timeout_s, runtime.liveness_ttl_s)
    app.add_middleware(DatabaseGuard, runtime=runtime, liveness=liveness)
    # Settings a request needs, read once per application (a bad value stops the start, not a request).
    app.state.auth_settings = AuthSettings()
    app.state.siting_settings = SitingSettings()
    app.state.edit_settings = EditSettings()
    problems.install(app)
    security.install(app)
    headers.install(app)
    observability.install(app)  # inside the request id's middleware: it logs the id
    request_ids.install(app)
    openapi_responses.install(app)
    app.include_router(health.router)
    from service.api import docs_pages

    docs_pages.install(app)
    # -- accounts: sign-in and sign-out, the audit log --
    from service.api import audit, auth, login_page

    app.include_router(auth.router)
    app.include_router(audit.router)
    login_page.install(app)  # the browser's login page; its refusals answered as pages
    # -- layers out: OGC API Features, export, tiles (register routers here) --
    from service.api import export, ogc, tiles

    app.include_router(ogc.router)
    # -- editing: OGC API Features Part 4 writes, history and restore --
    from service.api import editing

    app.include_router(editing.router)
    # -- importing: uploads, their jobs and the import page --
    from service.api import import_page, imports

    import_page.install(app)  # before /imports/{job_id}: "new" is the page, not a job
    imports.install(app)
    app.include_router(export.router)
    app.include_router(tiles.router)
    # -- inspections: visits recorded from the field, their photos --
    from service.api import inspection_page, inspections

    inspection_page.install(app)  # before /inspections/{inspection_id}: "new" is the page
    app.include_router(inspections.router)
    # -- chain: flows, integrity, indicators, diagram (register routers here) --
    from service.api import chain

    app.include_router(chain.router)
    from service.api import outages

    app.include_router(outages.router)
    from service.api import attention, search

    app.include_router(attention.router)
    app.include_router(search.router)
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
