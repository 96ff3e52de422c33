"""Run a feature query: count (when cheap), then stream GeoJSON features from a server-side cursor.

A page is read inside one REPEATABLE READ, read-only transaction, so `numberMatched` and the features
come from the same snapshot. The connection stays open while the client reads and is released when
the stream ends or is abandoned.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, CursorResult, Engine, Select, select, text

from service.features import collection_stream, cursor, streamed_connections
from service.features.query import (
    FeatureQuery,
    capped_count_statement,
    conditions,
    feature_json,
    feature_source,
    matching_statement,
    page_statement,
)

# numberMatched is exact up to this many features and omitted above (never an estimate). Queries the
# planner expects to match more are not counted at all: counting them costs as much as the page.
COUNT_CAP = 10_000
# Filters the planner expects to match fewer rows than this are applied first and the matches sorted
# (see query.page_statement); broader ones walk the id index and stop after one page.
SORT_AFTER_FILTER = 50_000
ROWS_PER_FETCH = 1000


class Cursors(NamedTuple):
    """The cursors of the pages after and before a page (None: there is none)."""

    next: str | None
    prev: str | None


Links = Callable[[Cursors], list[dict[str, Any]]]
FeatureTexts = Iterator[tuple[str, Cursors | None]]


@dataclass
class Page:
    """An open page: its count and the stream of its features; `close()` when not streamed."""

    query: FeatureQuery
    number_matched: int | None
    _conn: Connection
    _result: CursorResult[Any]
    _closed: bool = False

    def features(self) -> Generator[tuple[str, Cursors | None], None, None]:
        """(feature JSON, None) for each feature, then ("", Cursors) once at the end."""
        try:
            if self.query.backward:
                yield from self._backward()
                return
            first: tuple[Any, ...] | None = None
            last: tuple[Any, ...] = ()
            for returned, row in enumerate(self._result):
                if returned == self.query.limit:
                    yield "", Cursors(self._cursor(last), self._prev(first))
                    return
                last = tuple(row[1:])
                first = last if first is None else first
                yield row[0], None
            yield "", Cursors(None, self._prev(first))
        finally:
            self.close()

    def _backward(self) -> Iterator[tuple[str, Cursors | None]]:
        """A page before a position: read in reverse order (at most limit + 1 rows, the one extra row
        says there is a page before this one), then turned round."""
        rows: list[tuple[str, tuple[Any, ...]]] = [
            (row[0], tuple(row[1:])) for row in itertools.islice(self._result, self.query.limit + 1)
        ]
        more_before = len(rows) > self.query.limit
        rows = rows[: self.query.limit][::-1]
        for feature, _ in rows:
            yield feature, None
        if not rows:
            yield "", Cursors(None, None)
            return
        yield "", Cursors(self._cursor(rows[-1][1]), self._cursor(rows[0][1], True) if more_before else None)

    def _cursor(self, position: tuple[Any, ...], backward: bool = False) -> str:
        return cursor.encode(self.query.order_token, position, backward)

    def _prev(self, first: tuple[Any, ...] | None) -> str | None:
        """A forward page reached through a cursor has a page before its first feature."""
        return None if self.query.after is None or first is None else self._cursor(first, True)

    def close(self) -> None:
        """Close the server-side cursor, then give the connection back (in this order: a cursor
        closed later, e.g. by the garbage collector, would act on a connection serving another request)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._result.close()
        finally:
            streamed_connections.release(self._conn)


def open_page(engine: Engine, q: FeatureQuery, count: bool = True, count_cap: int = COUNT_CAP) -> Page:
    """Start the page's transaction and query; database errors surface here, before any streaming."""
    conn = streamed_connections.hold(engine.connect())
    try:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        matched = None
        expected = planner_estimate(conn, matching_statement(q))
        if count and expected <= count_cap:
            n = conn.execute(capped_count_statement(q, count_cap)).scalar_one()
            matched = n if n <= count_cap else None
        selective = bool(conditions(q)) and expected <= SORT_AFTER_FILTER
        result = conn.execution_options(stream_results=True, yield_per=ROWS_PER_FETCH).execute(
            page_statement(q, walk_id_index=not selective)
        )
        return Page(q, matched, conn, result)
    except BaseException:
        streamed_connections.release(conn)
        raise


def planner_estimate(conn: Connection, stmt: Select[Any]) -> float:
    """How many rows the planner expects the statement to return (EXPLAIN: planning only, no execution)."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"])


def feature_collection(page: Page, links: Links) -> Generator[bytes, None, None]:
    """The page as a GeoJSON FeatureCollection, in chunks; links(cursors) gives its links."""
    head: dict[str, Any] = {}
    if page.number_matched is not None:
        head["numberMatched"] = page.number_matched
    cursors = Cursors(None, None)
    features = page.features()

    def texts() -> Iterator[str]:
        nonlocal cursors
        for feature, after in features:
            if not feature:
                cursors = after or cursors
                break
            yield feature
        features.close()  # the page's connection goes back before the last chunk is written

    def tail(returned: int) -> dict[str, Any]:
        return {
            "numberReturned": returned,
            "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "links": links(cursors),
        }

    try:
        yield from collection_stream.feature_collection(texts(), head, tail, layout=collection_stream.PAGE)
    finally:
        features.close()
        page.close()


def one_feature(engine: Engine, q: FeatureQuery, feature_id: int) -> dict[str, Any] | None:
    stmt = select(feature_json(q)).select_from(feature_source(q)).where(q.layer.id_column == feature_id)
    with engine.connect() as conn:
        found = conn.execute(stmt).scalar_one_or_none()
    return None if found is None else dict(json.loads(found))


def spatial_extent(engine: Engine, table: str) -> list[float] | None:
    """[minx, miny, maxx, maxy] of a layer: the planner's estimate when it has one, else exact."""
    with engine.connect() as conn:
        box = conn.execute(
            text("SELECT ST_EstimatedExtent('public', :t, 'geom')::box2d::text"), {"t": table}
        ).scalar()
        if box is None:
            box = conn.execute(text(f'SELECT ST_Extent(geom)::text FROM "{table}"')).scalar()
    if box is None:
        return None
    lower, upper = box.removeprefix("BOX(").removesuffix(")").split(",")
    return [float(v) for v in (*lower.split(), *upper.split())]


def page_chunks(engine: Engine, q: FeatureQuery, links: Links) -> Generator[bytes, None, None]:
    """The page as FeatureCollection chunks; the page is opened by the first `next()`."""
    yield from feature_collection(open_page(engine, q), links)


Render = Callable[[int | None, FeatureTexts], Iterator[str]]


def rendered_chunks(engine: Engine, q: FeatureQuery, render: Render) -> Generator[bytes, None, None]:
    """The page as `render(number_matched, Page.features())` writes it (e.g. HTML), encoded; the page is
    opened by the first `next()` and closed however the stream ends."""
    page = open_page(engine, q)
    features = page.features()
    try:
        for text in render(page.number_matched, features):
            yield text.encode()
    finally:
        features.close()
        page.close()
