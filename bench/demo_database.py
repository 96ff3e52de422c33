"""The Zhucheng demo in a migrated database of its own, for the benchmarks that run on the demo.

    with demo_database("sanichain_x_bench", args.server_url) as engine:
        ...

A throwaway PostgreSQL cluster (as the postgres user when root), or `server_url` (a role with
CREATEDB) where the database is created and dropped again; either way nothing is left behind, Ctrl-C
included.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from service import migrate
from service.config import REPO_ROOT, sqlalchemy_url
from service.db import make_engine
from service.demo import loader
from service.localdb import LocalCluster


def say(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _admin_execute(admin_url: str, statement: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


@contextlib.contextmanager
def demo_database(database: str, server_url: str | None = None) -> Iterator[Engine]:
    work = Path(tempfile.mkdtemp(prefix=f"{database}-"))
    work.chmod(0o755)  # the cluster's postgres user must traverse it
    cluster: LocalCluster | None = None
    admin_url = ""
    try:
        if server_url:
            admin_url = sqlalchemy_url(server_url)
        else:
            say("starting a throwaway cluster")
            cluster = LocalCluster(work / "pg", free_port(), throwaway=True)
            cluster.start()
            admin_url = cluster.url("postgres")
        _admin_execute(admin_url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        _admin_execute(admin_url, f"CREATE DATABASE {database}")
        url = make_url(admin_url).set(database=database).render_as_string(hide_password=False)
        migrate.upgrade(url)
        engine = make_engine(url)
        say("loading the Zhucheng demo")
        loader.load(engine, REPO_ROOT / "gis_data" / "zhucheng")
        try:
            yield engine
        finally:
            engine.dispose()
    finally:
        if cluster is not None:
            cluster.destroy()
        elif admin_url:
            with contextlib.suppress(Exception):
                _admin_execute(admin_url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)
