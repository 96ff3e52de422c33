"""`sanichain run`: the whole local stack in one process — PostGIS (own cluster unless DATABASE_URL),
migrations, demo data when the inventory is empty, and the HTTP service. Ctrl-C or SIGTERM stops the
service and then the cluster."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

import uvicorn

from service import migrate
from service.api import access_log
from service.api.app import create_app
from service.config import (
    DatabaseSettings,
    DemoSettings,
    LocalClusterSettings,
    RuntimeSettings,
    ServerSettings,
    settings,
)
from service.db import make_engine
from service.demo import loader
from service.localdb import LocalCluster


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


def server_config(app: Any, host: str, port: int) -> uvicorn.Config:
    """uvicorn for the service: a stop waits a bounded time for open responses (a stream stuck on a
    frozen database would otherwise hold it for good)."""
    runtime = settings(RuntimeSettings)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", timeout_graceful_shutdown=runtime.graceful_shutdown_s,
        access_log=False,  # one JSON line per request instead (api/observability.py)
    )  # fmt: skip
    access_log.install()  # after uvicorn configured its loggers
    return config


def run(host: str | None = None, port: int | None = None) -> int:
    server_settings = settings(ServerSettings)
    host = host or server_settings.host
    port = port or server_settings.port
    signal.signal(signal.SIGTERM, _interrupt)
    cluster: LocalCluster | None = None
    try:
        url = settings(DatabaseSettings).database_url
        if url:
            say("using DATABASE_URL")
        else:
            cluster, url = local_cluster()
        prepare_database(url)
        engine = make_engine(url)
        say(f"serving on http://{host}:{port}")
        uvicorn.Server(server_config(create_app(engine), host, port)).run()
    except KeyboardInterrupt:
        pass
    finally:
        if cluster is not None:
            say("stopping the local PostGIS cluster")
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the shutdown finish
            cluster.stop()
    return 0
