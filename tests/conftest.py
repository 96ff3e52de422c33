"""Test fixtures over a real PostGIS.

With TEST_DATABASE_URL the tests use that server (its role must be allowed to create databases);
otherwise they start a throwaway cluster of their own and delete it at the end.
Every test database is created from a migrated template, so each starts at `alembic upgrade head`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient
from psycopg2 import sql
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from service import migrate
from service.api.app import create_app
from service.config import REPO_ROOT, sqlalchemy_url
from service.db import make_engine
from service.demo import loader
from service.localdb import LocalCluster
from service.models import LAYERS
from tests import browser
from tests.accounts import role_headers

DEMO_DIR = REPO_ROOT / "gis_data" / "zhucheng"
# Starlette's test client sends `Host: testserver`, which the service answers only when trusted.
os.environ.setdefault("SANICHAIN_TRUSTED_HOSTS", "testserver,localhost,127.0.0.1,::1")
# The layers drawn as points (all but the town outlines and the link lines), in the models' order.
POINT_LAYERS = tuple(name for name in LAYERS if name not in ("towns", "chain_links"))
TEMPLATE = "sanichain_test_template"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A PostgreSQL server the tests may create and drop databases on."""

    base_url: str  # SQLAlchemy URL of any database on the server

    def url(self, database: str) -> str:
        return make_url(self.base_url).set(database=database).render_as_string(hide_password=False)

    def admin(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.url("postgres").replace("postgresql+psycopg2://", "postgresql://"))
        conn.autocommit = True
        return conn

    def create(self, database: str, template: str | None = None) -> str:
        with closing(self.admin()) as conn, conn.cursor() as cur:
            query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
            if template:
                query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            cur.execute(query)
        return self.url(database)

    def drop(self, database: str) -> None:
        with closing(self.admin()) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def postgres_reachable_dir() -> Path:
    """A fresh directory the postgres system user can enter (pytest's tmp_path is 0700 as root)."""
    path = Path(tempfile.mkdtemp(prefix="sanichain-test-"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        server = PgServer(sqlalchemy_url(given))
        yield server
        if server.base_url in _DEMO_TEMPLATES:  # a throwaway cluster goes as a whole; a given one does not
            server.drop(_DEMO_TEMPLATES.pop(server.base_url))
        return
    parent = postgres_reachable_dir()
    cluster = LocalCluster(parent / "pg", free_port(), throwaway=True)
    cluster.start()
    try:
        yield PgServer(cluster.url("postgres"))
    finally:
        cluster.destroy()
        parent.rmdir()


@pytest.fixture(scope="session")
def migrated_template(pg_server: PgServer) -> str:
    pg_server.drop(TEMPLATE)
    migrate.upgrade(pg_server.create(TEMPLATE))
    return TEMPLATE


@pytest.fixture
def database_factory(pg_server: PgServer) -> Iterator[object]:
    """Call with template=None for an empty database, else one copied from the migrated template."""
    created: list[str] = []

    def create(template: str | None = None) -> str:
        name = f"sanichain_test_{uuid.uuid4().hex[:10]}"
        created.append(name)
        return pg_server.create(name, template)

    yield create
    for name in created:
        pg_server.drop(name)


@pytest.fixture
def empty_database_url(pg_server: PgServer, migrated_template: str) -> Iterator[str]:
    """A freshly migrated database with nothing in it."""
    name = f"sanichain_test_{uuid.uuid4().hex[:10]}"
    url = pg_server.create(name, migrated_template)
    yield url
    pg_server.drop(name)


@pytest.fixture
def empty_engine(empty_database_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo_database_url(pg_server: PgServer, migrated_template: str) -> Iterator[str]:
    """The Zhucheng demo loaded once; tests must not change it (use empty_engine for writes)."""
    name = "sanichain_test_demo"
    pg_server.drop(name)
    url = pg_server.create(name, _demo_template(pg_server, migrated_template))
    yield url
    pg_server.drop(name)


# The demo loaded once per server into a database nothing connects to, copied for each `demo_copy`
# (CREATE DATABASE … TEMPLATE: about a second, against seven for loading the demo again).
_DEMO_TEMPLATES: dict[str, str] = {}  # server's URL → the template's name


def _demo_template(pg_server: PgServer, migrated_template: str) -> str:
    if pg_server.base_url not in _DEMO_TEMPLATES:
        name = f"sanichain_test_demo_template_{uuid.uuid4().hex[:8]}"
        engine = make_engine(pg_server.create(name, migrated_template))
        loader.load(engine, DEMO_DIR)
        engine.dispose()  # a template may have no open connections
        _DEMO_TEMPLATES[pg_server.base_url] = name
    return _DEMO_TEMPLATES[pg_server.base_url]


@contextmanager
def demo_copy(pg_server: PgServer, migrated_template: str, label: str) -> Iterator[str]:
    """The URL of a database of its own holding the demo, for tests that commit writes; dropped after."""
    name = f"sanichain_test_{label}_{uuid.uuid4().hex[:8]}"
    url = pg_server.create(name, _demo_template(pg_server, migrated_template))
    try:
        yield url
    finally:
        pg_server.drop(name)


@contextmanager
def demo_copy_engine(pg_server: PgServer, migrated_template: str, label: str) -> Iterator[Engine]:
    """`demo_copy` with an engine over it, disposed before the copy is dropped."""
    with demo_copy(pg_server, migrated_template, label) as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def demo_engine(demo_database_url: str) -> Iterator[Engine]:
    engine = make_engine(demo_database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app_engine(demo_engine: Engine) -> Engine:
    """The database `client` serves: the demo, unless a module overrides this with a world of its own."""
    return demo_engine


@pytest.fixture
def client(app_engine: Engine) -> Iterator[TestClient]:
    """The HTTP API over `app_engine`, a fresh application per test (tests may change its settings)."""
    with TestClient(create_app(app_engine)) as c:
        yield c


@pytest.fixture
def planner_client(client: TestClient, app_engine: Engine) -> TestClient:
    """`client` signed in as a planner (bearer API token): scenarios and siting."""
    client.headers.update(role_headers(app_engine, "planner"))
    return client


@dataclass
class OwnCluster:
    """A PostgreSQL cluster of one test module, with the demo loaded, that its tests may stop or freeze."""

    cluster: LocalCluster
    url: str

    def processes(self) -> list[int]:
        """The postmaster and every process it started."""
        postmaster = int((self.cluster.data_dir / "postmaster.pid").read_text().split()[0])
        found = [postmaster]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:  # fields[1] is the parent's pid
                found.append(int(stat.parent.name))
        return found

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the cluster stopped (SIGSTOP) inside the block, resumed after it."""
        stopped = self.processes()
        try:
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            yield
        finally:
            for pid in stopped:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    @contextmanager
    def stopped(self, mode: str = "fast") -> Iterator[None]:
        """The cluster shut down (pg_ctl stop -m fast, or `immediate`: a crash) inside the block,
        started again after it."""
        self.cluster.stop(mode)
        try:
            yield
        finally:
            self.cluster.start()


@contextmanager
def throwaway_cluster() -> Iterator[LocalCluster]:
    """A PostgreSQL cluster of a test module's own (to stop, kill or reconfigure), removed at the end."""
    parent = postgres_reachable_dir()
    cluster = LocalCluster(parent / "pg", free_port(), throwaway=True)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[OwnCluster]:
    with throwaway_cluster() as cluster:
        url = cluster.ensure_database("sanichain")
        migrate.upgrade(url)
        engine = make_engine(url)
        loader.load(engine, DEMO_DIR)
        engine.dispose()
        yield OwnCluster(cluster, url)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium (a Playwright `Browser`) for the browser tests of one module."""
    with browser.launched() as b:
        yield b


@pytest.fixture(params=list(browser.VIEWPORTS))
def screen(request: pytest.FixtureRequest, chromium: Any) -> Iterator[browser.Screen]:
    """A fresh page for each viewport (desktop 1366×900, phone 390×844)."""
    with browser.screen(chromium, request.param) as s:
        yield s
