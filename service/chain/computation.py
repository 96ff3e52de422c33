"""Opening a chain computation: one transaction with the flows ready for the readers.

With the city's own parameters the readers read the stored chain (`stored`, D113), brought up to date
first; other parameters get a computation of their own in temporary tables, which shadow the stored
ones for that transaction only."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text

from service.chain import flows, stored
from service.chain.parameters import ChainParameters
from service.errors import NotFound


class UnknownTown(NotFound):
    """No town with that code."""


def prepare(conn: Connection, params: ChainParameters | None = None) -> None:
    """Make the chain_* tables answer for `params` in the caller's transaction."""
    if stored.serves(params):
        stored.make_current(conn)
    else:
        flows.compute(conn, params)


@contextmanager
def computed(engine: Engine, params: ChainParameters | None = None) -> Iterator[Connection]:
    """A transaction in which the chain_* tables answer for `params` (see `prepare`)."""
    if stored.serves(params):
        stored.refresh(engine)  # a rebuild, when one is due, commits before the (maybe long) read
    with engine.connect() as conn, conn.begin():
        prepare(conn, params)
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


def flow_features(
    engine: Engine, params: ChainParameters, stream: str | None = None, town_code: str | None = None
) -> Generator[str, None, None]:
    """The chain links with their flows as GeoJSON Feature texts. The flows are computed (and the town
    checked: UnknownTown) on the first `next()`, once, so a stream can open it when it starts."""
    with computed(engine, params) as conn:
        town = find_town(conn, town_code)
        yield from flows.link_features(conn, stream, town["id"] if town else None)
