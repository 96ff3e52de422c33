"""Reading the database the way tests check an answer against it: one value, or all rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Row, text


def scalar(engine: Engine, query: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(query), params).scalar()


def column(engine: Engine, query: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(query), params).scalars())


def rows(engine: Engine, query: str, **params: Any) -> list[Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(text(query), params).all())
