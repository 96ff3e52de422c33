"""What an export reads: the rows of one layer's query, streamed from a server-side cursor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.sql.elements import ColumnElement

from service.export import link_flows
from service.features import streamed_connections
from service.features.catalogue import Field
from service.features.query import FeatureQuery, all_rows_statement, count_statement, selected_fields

ROWS_PER_FETCH = 5000
Progress = Callable[[int], None]  # called with the number of rows written so far


@dataclass(frozen=True)
class LayerExport:
    """One layer's part of an export: the query and where it reads from."""

    engine: Engine
    query: FeatureQuery

    @cached_property
    def fields(self) -> list[Field]:
        """The layer's properties; a chain link's also the t/day it carries (computed once)."""
        fields = selected_fields(self.query)
        if self.query.layer.name == "chain_links" and self.query.properties is None:
            fields.append(link_flows.flow_field(self.query.layer, link_flows.link_flows(self.engine)))
        return fields

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(count_statement(self.query)).scalar_one())

    def rows(self, columns: Sequence[ColumnElement[Any]]) -> Iterator[Any]:
        """(id, *columns) of every matching feature, in the query's order."""
        stmt = all_rows_statement(self.query, [self.query.layer.id_column, *columns])
        conn = streamed_connections.hold(self.engine.connect())  # see streamed_connections
        try:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            result = conn.execution_options(stream_results=True, yield_per=ROWS_PER_FETCH).execute(stmt)
            try:
                yield from result
            finally:  # the server-side cursor before the connection
                result.close()
        finally:
            streamed_connections.release(conn)

    def attribute_columns(self) -> list[ColumnElement[Any]]:
        return [f.column for f in self.fields]


def counting(rows: Iterator[Any], progress: Progress | None, every: int = 10_000) -> Iterator[Any]:
    """Pass rows through, telling `progress` how many went by (every `every` rows and at the end)."""
    n = 0
    for n, row in enumerate(rows, 1):
        if progress is not None and n % every == 0:
            progress(n)
        yield row
    if progress is not None:
        progress(n)


def value_text(value: Any) -> str:
    """A property as the text formats (CSV, KML) write it: empty for NULL, true/false, UTC timestamps."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return utc_text(value)
    return str(value)


def utc_text(value: dt.datetime) -> str:
    """A timestamp as ISO 8601 in UTC with Z (what GDAL writes and Excel users expect)."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def x_y(geom: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    return [func.ST_X(geom), func.ST_Y(geom)]
