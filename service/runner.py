"""`sanichain run`: the whole local stack in one process — PostGIS (own cluster unless DATABASE_URL),
migrations, demo data when the inventory is empty, and the HTTP service. Ctrl-C or SIGTERM stops the
service and then the cluster. `serve` is the HTTP part, shared with `sanichain serve`: uvicorn with
`SANICHAIN_WORKERS` worker processes, each building its own application (`application`)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn
from sqlalchemy import text

from service.config import (
    DatabaseSettings,
    DemoSettings,
    ImportJobSettings,
    LocalClusterSettings,
    RuntimeSettings,
    ServerSettings,
    settings,
)
from service.db import make_engine
from service.localdb import LocalCluster
from service.workers import MULTIPROCESS_DIR, budget, import_pool_size, over_budget

if TYPE_CHECKING:
    from fastapi import FastAPI

# The application, migrations and demo loader are imported where they are used: uvicorn's supervisor
# (the parent of several workers) runs this module too and needs none of them (half its memory).

# uvicorn imports this in each worker process and calls it there (factory=True)
APP_FACTORY = "service.runner:application"


class TooManyConnections(ValueError):
    """The workers' pools would exceed what the database server allows (a setting to change)."""


def say(message: str) -> None:
    print(f"sanichain: {message}", file=sys.stderr, flush=True)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def local_cluster() -> tuple[LocalCluster, str]:
    """Start (or reuse) the private cluster and return it with the URL of its database."""
    cluster = LocalCluster.configured()
    fresh = not cluster.initialized
    say(
        ("creating" if fresh else "starting")
        + f" local PostGIS cluster in {cluster.data_dir} (port {cluster.port})"
    )
    cluster.start()
    return cluster, cluster.ensure_database(LocalClusterSettings.database)


def prepare_database(url: str) -> None:
    from service import migrate
    from service.demo import loader

    say("migrating the database to the latest schema")
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        if loader.inventory_is_empty(engine):
            data_dir = settings(DemoSettings).data_dir
            say(f"empty inventory: loading the demo dataset from {data_dir}")
            counts = loader.load(engine, data_dir)
            say("loaded " + ", ".join(f"{n} {layer}" for layer, n in counts.items()))
    finally:
        engine.dispose()


def application() -> FastAPI:
    """The service of one worker process: its own engines and pools over DATABASE_URL (set by `serve`
    for its workers). The import threads' engine is held to what they can use at once."""
    from service.api import access_log
    from service.api.app import create_app

    database = DatabaseSettings()  # read here: `run` sets DATABASE_URL after the parent's first reading
    if not database.database_url:
        raise RuntimeError("DATABASE_URL is not set for the service's workers")
    pool = import_pool_size(settings(ImportJobSettings).workers)
    engine = make_engine(database.database_url, database.connect_timeout_s, pool_size=pool, max_overflow=0)
    access_log.install()  # in the worker, after uvicorn configured its loggers
    return create_app(engine)


def server_config(host: str, port: int, workers: int) -> uvicorn.Config:
    """uvicorn for the service: a stop waits a bounded time for open responses (a stream stuck on a
    frozen database would otherwise hold it for good)."""
    runtime = settings(RuntimeSettings)
    return uvicorn.Config(
        APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level="info",
        forwarded_allow_ips=settings(ServerSettings).forwarded_allow_ips,
        timeout_graceful_shutdown=runtime.graceful_shutdown_s,
        access_log=False,  # one JSON line per request instead (api/observability.py)
    )  # fmt: skip


def connections_needed(workers: int) -> int:
    runtime = settings(RuntimeSettings)
    imports = settings(ImportJobSettings).workers
    pools = budget(runtime.pool_interactive, runtime.pool_export, runtime.pool_analysis, imports)
    return pools.total(workers)


def check_connections(url: str, workers: int) -> None:
    """Refuse to start when every worker's pools at once would exceed the server's connections: better
    at start than as 503s at the busiest hour."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            max_connections, reserved = (
                int(conn.execute(text(f"SHOW {name}")).scalar_one())
                for name in ("max_connections", "superuser_reserved_connections")
            )
    finally:
        engine.dispose()
    problem = over_budget(connections_needed(workers), max_connections, reserved)
    if problem:
        raise TooManyConnections(problem)


@contextmanager
def shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, a fresh directory for prometheus_client's multiprocess mode (the workers
    inherit the variable), removed when the service stops."""
    if workers == 1:
        yield
        return
    directory = tempfile.mkdtemp(prefix="sanichain-metrics-")
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROCESS_DIR, None)
        shutil.rmtree(directory, ignore_errors=True)


def serve(url: str, host: str, port: int, workers: int) -> None:
    """Serve until a signal: one process, or a supervisor restarting `workers` worker processes."""
    check_connections(url, workers)
    os.environ["DATABASE_URL"] = url  # what each worker's application() reads
    config = server_config(host, port, workers)
    say(f"serving on http://{host}:{port} with {workers} worker process{'es' if workers > 1 else ''}")
    with shared_metrics(workers):
        if workers == 1:
            uvicorn.Server(config).run()
        else:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[config.bind_socket()]).run()


def run(host: str | None = None, port: int | None = None, workers: int | None = None) -> int:
    server_settings = settings(ServerSettings)
    host = host or server_settings.host
    port = port or server_settings.port
    workers = workers or server_settings.worker_count()
    signal.signal(signal.SIGTERM, _interrupt)
    cluster: LocalCluster | None = None
    try:
        url = settings(DatabaseSettings).database_url
        if url:
            say("using DATABASE_URL")
        else:
            cluster, url = local_cluster()
        prepare_database(url)
        serve(url, host, port, workers)
    except KeyboardInterrupt:
        pass
    finally:
        if cluster is not None:
            say("stopping the local PostGIS cluster")
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the shutdown finish
            cluster.stop()
    return 0
