"""The Zhucheng demo in a migrated database of its own, for the benchmarks that run on the demo.

    with demo_database("sanichain_x_bench", args.server_url) as engine:
        ...

A throwaway PostgreSQL cluster (as the postgres user when root), or `server_url` (a role with
CREATEDB) where the database is created and dropped again; either way nothing is left behind, Ctrl-C
included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import harness
from sqlalchemy import Engine

from service.config import REPO_ROOT
from service.db import make_engine
from service.demo import loader


@contextlib.contextmanager
def demo_database(database: str, server_url: str | None = None) -> Iterator[Engine]:
    with (
        harness.workdir(f"{database}-") as work,
        harness.postgres(work, server_url, drop=[database], settings=(), throwaway=True) as server,
    ):
        engine = make_engine(server.recreate(database))
        try:
            harness.say("loading the Zhucheng demo")
            loader.load(engine, REPO_ROOT / "gis_data" / "zhucheng")
            yield engine
        finally:
            engine.dispose()
