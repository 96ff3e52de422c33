"""Opening a chain computation: one transaction with the flows computed, ready for the readers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text

from service.chain import flows
from service.chain.parameters import ChainParameters
from service.errors import NotFound


class UnknownTown(NotFound):
    """No town with that code."""


@contextmanager
def computed(engine: Engine, params: ChainParameters | None = None) -> Iterator[Connection]:
    """A transaction in which `flows.compute()` has run; its temporary tables vanish at the end."""
    with engine.connect() as conn, conn.begin():
        flows.compute(conn, params)
        yield conn


def find_town(conn: Connection, code: str | None) -> dict[str, Any] | None:
    """The town row for a 9-digit code, None when no code is given; UnknownTown when not found."""
    if code is None:
        return None
    row = (
        conn.execute(text("SELECT id, code, name, name_en FROM towns WHERE code = :code"), {"code": code})
        .mappings()
        .first()
    )
    if row is None:
        raise UnknownTown(f"no town with code {code!r}")
    return dict(row)
