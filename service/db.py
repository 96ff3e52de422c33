"""Engine, sessions and the database health probe."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.config import database_settings, sqlalchemy_url
from service.errors import Unavailable


class DatabaseNotConfigured(RuntimeError):
    """No DATABASE_URL: the caller must start the local cluster or give one."""


def make_engine(url: str, connect_timeout_s: int = 5) -> Engine:
    return create_engine(
        sqlalchemy_url(url),
        pool_pre_ping=True,
        connect_args={"connect_timeout": connect_timeout_s, "application_name": "sanichain"},
    )


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
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise Unavailable(f"database unreachable: {reason}") from exc
    return DatabaseStatus(database=row[0], server_version=row[1], postgis=row[2])
