"""Engines (one per request class for the service), sessions, and the database health probes."""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from service.config import RuntimeSettings, database_settings, sqlalchemy_url
from service.errors import Unavailable

log = logging.getLogger("sanichain.db")
UNREACHABLE = "database unreachable: the database did not answer; retry later"
POOL_BUSY = (
    "database busy: no connection of this request's pool came free within SANICHAIN_POOL_TIMEOUT_S; "
    "retry later"
)
QUERY_CANCELED = "57014"  # SQLSTATE of a statement ended by statement_timeout


class DatabaseNotConfigured(RuntimeError):
    """No DATABASE_URL: the caller must start the local cluster or give one."""


# Room for a whole-chain computation's temporary tables in the backend's own memory (D121). The server's
# default of 8 MB writes them out page by page as they fill; national flows + integrity took 1-2 s
# longer so. A backend takes this memory only as its temporary tables grow (the demo city's chain
# needs a few MB) and keeps what it took until the connection closes.
TEMP_BUFFERS = "-c temp_buffers=1GB"


def make_engine(url: str, connect_timeout_s: int = 5, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    return create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": connect_timeout_s,
            "application_name": "sanichain",
            "options": TEMP_BUFFERS,
        },
    )


class RequestClass(StrEnum):
    """What a request does with the database; each class has its own pool and statement timeout."""

    interactive = "interactive"  # items, features, maps, tiles, health: short reads
    export = "export"  # whole layers streamed or built into files
    analysis = "analysis"  # coverage, chain flows, indicators, planning


@dataclass(frozen=True)
class Engines:
    """The service's engines, one per request class, over the same database."""

    url: URL
    by_class: dict[RequestClass, Engine]

    def of(self, kind: RequestClass) -> Engine:
        return self.by_class[kind]

    def dispose(self) -> None:
        for engine in self.by_class.values():
            engine.dispose()


def _limits(kind: RequestClass, runtime: RuntimeSettings) -> tuple[int, float]:
    """(pool size, statement timeout in s) of a request class."""
    pool: int = getattr(runtime, f"pool_{kind.value}")
    timeout: float = getattr(runtime, f"statement_timeout_{kind.value}_s")
    return pool, timeout


def class_engines(url: URL | str, runtime: RuntimeSettings, connect_timeout_s: int = 5) -> Engines:
    """An engine per request class: its own pool (a full export pool never blocks an interactive read),
    a short wait for a pooled connection, and the class's statement timeout set on every connection."""
    url = make_url(sqlalchemy_url(url)) if isinstance(url, str) else url
    engines: dict[RequestClass, Engine] = {}
    for kind in RequestClass:
        pool, timeout_s = _limits(kind, runtime)
        options = (
            f"-c statement_timeout={int(timeout_s * 1000)} "
            f"-c idle_in_transaction_session_timeout={int(runtime.idle_in_transaction_timeout_s * 1000)}"
        )
        if kind is RequestClass.analysis:  # the chain, coverage and planning make temporary tables
            options += f" {TEMP_BUFFERS}"
        engine = create_engine(
            url,
            pool_size=pool,
            max_overflow=0,
            pool_timeout=runtime.pool_timeout_s,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": connect_timeout_s,
                "application_name": f"sanichain-{kind.value}",
                "options": options,
            },
        )
        event.listen(engine, "handle_error", _statement_timeout(kind, timeout_s))
        engines[kind] = engine
    return Engines(make_url(url), engines)


def statement_timeout_error(kind: RequestClass, timeout_s: float | None) -> Unavailable:
    """A statement ended by its class's timeout, said with the limit."""
    variable = f"SANICHAIN_STATEMENT_TIMEOUT_{kind.value.upper()}_S"
    took = f"longer than {timeout_s:g} s, the limit" if timeout_s is not None else "longer than the limit"
    extra: dict[str, Any] = {"limit": variable} | ({"limit_s": timeout_s} if timeout_s is not None else {})
    return Unavailable(
        f"statement timeout: the database worked on this {kind.value} request {took} ({variable}); "
        "ask for less (a smaller area, distance or layer) or retry later",
        **extra,
    )


def _statement_timeout(kind: RequestClass, timeout_s: float) -> Any:
    """A statement ended by the class's timeout becomes Unavailable naming the limit."""

    def handle(context: ExceptionContext) -> None:
        if getattr(context.original_exception, "pgcode", None) == QUERY_CANCELED:
            raise statement_timeout_error(kind, timeout_s) from context.original_exception

    return handle


def driver_error(exc: psycopg2.Error) -> Exception:
    """A psycopg2 error raised outside SQLAlchemy (code driving COPY itself), as SQLAlchemy and the
    engines' handlers would have raised it."""
    if exc.pgcode == QUERY_CANCELED:
        conn = getattr(getattr(exc, "cursor", None), "connection", None)
        dsn = str(getattr(conn, "dsn", ""))  # kept after the connection is closed
        for kind in RequestClass:
            if f"application_name=sanichain-{kind.value}" in dsn:
                return statement_timeout_error(kind, None)
    return DBAPIError.instance(None, None, exc, psycopg2.Error)


def unavailable_detail(exc: BaseException) -> str:
    """What a client is told when the database cannot serve: no host, port or server message (those
    go to the log)."""
    reason = str(getattr(exc, "orig", None) or exc).strip().replace("\n", " ")
    log.warning("database unavailable: %s: %s", type(exc).__name__, reason)
    if isinstance(exc, PoolTimeout):
        return POOL_BUSY
    return UNREACHABLE


def answers(url: URL, timeout_s: float) -> bool:
    """Whether the server behind `url` answers a fresh connection and `SELECT 1` within `timeout_s`.

    Asynchronous libpq with a deadline: a frozen server accepts the TCP connection but never answers,
    and libpq's own connect_timeout is at least 2 s and does not cover queries.
    """
    deadline = time.monotonic() + timeout_s
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = psycopg2.connect(dsn, async_=True, application_name="sanichain-liveness")
    except psycopg2.Error:
        return False
    try:
        _wait(conn, deadline)
        cur = conn.cursor()
        cur.execute("SELECT 1")
        _wait(conn, deadline)
        return bool(cur.fetchone() == (1,))
    except psycopg2.OperationalError as exc:
        # a server that refuses for want of connection slots is answering (our pools keep theirs)
        return any(words in str(exc) for words in ("too many clients", "connection slots"))
    except (psycopg2.Error, OSError, TimeoutError):
        return False
    finally:
        conn.close()


def _wait(conn: psycopg2.extensions.connection, deadline: float) -> None:
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer in time")
        if state == psycopg2.extensions.POLL_READ:
            select.select([conn.fileno()], [], [], remaining)
        else:
            select.select([], [conn.fileno()], [], remaining)


@lru_cache
def get_engine() -> Engine:
    settings = database_settings()
    if not settings.database_url:
        raise DatabaseNotConfigured("DATABASE_URL is not set")
    return make_engine(settings.database_url, settings.connect_timeout_s)


@lru_cache
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = _session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@dataclass(frozen=True)
class DatabaseStatus:
    database: str
    server_version: str
    postgis: str


def probe(engine: Engine) -> DatabaseStatus:
    """Ask the database who it is; Unavailable when it cannot be reached or has no PostGIS."""
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT current_database(), current_setting('server_version'), "
                    "extversion FROM pg_extension WHERE extname = 'postgis'"
                )
            ).one_or_none()
            if row is None:
                name = conn.execute(text("SELECT current_database()")).scalar_one()
                raise Unavailable(f"database {name} has no PostGIS extension: run `sanichain db upgrade`")
    except SQLAlchemyError as exc:
        raise Unavailable(unavailable_detail(exc)) from exc
    return DatabaseStatus(database=row[0], server_version=row[1], postgis=row[2])
