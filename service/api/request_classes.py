"""Which request class (pool, statement timeout, concurrency cap) a path belongs to."""

from __future__ import annotations

from service.db import RequestClass

# Paths that never touch the database: served even while it is down.
NO_DATABASE = (
    "/api",
    "/openapi.json",
    "/docs",
    "/docs/",
    "/redoc",
    "/conformance",
    "/maps/assets/",
    "/metrics",
)
# The heavy classes by path prefix; everything else is an interactive read.
PREFIXES: tuple[tuple[str, RequestClass], ...] = (
    ("/export/", RequestClass.export),
    ("/coverage", RequestClass.analysis),
    ("/maps/coverage", RequestClass.analysis),
    ("/chain/", RequestClass.analysis),
    ("/indicators", RequestClass.analysis),
    ("/planning/", RequestClass.analysis),
)


def uses_database(path: str) -> bool:
    return not any(path == p or (p.endswith("/") and path.startswith(p)) for p in NO_DATABASE)


def classify(path: str) -> RequestClass:
    for prefix, kind in PREFIXES:
        if path.startswith(prefix):
            return kind
    return RequestClass.interactive
