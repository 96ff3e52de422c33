"""GeoJSON (RFC 7946) and GeoJSON Text Sequences (RFC 8142), features built by PostGIS and read with
COPY (see copy_lines)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from sqlalchemy import Select, Text, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from service.export.copy_lines import copy_lines
from service.export.layer_reader import LayerExport, Progress
from service.export.link_flows import FIELD as LINK_FLOW
from service.features import collection_stream
from service.features.fetch import planner_estimate
from service.features.query import (
    feature_blocks_statement,
    feature_json,
    features_statement,
    matching_statement,
)

RS = b"\x1e"
# Big exports of point and line layers in id order are read as blocks of features, one COPY row per
# block (feature_blocks_statement); small, sorted or polygon exports (whose features can be large)
# one row per feature.
BLOCKS_FROM = 50_000  # expected features
IDS_PER_BLOCK = 1000
QUOTE = b"\x01"  # copy_lines' CSV quote: COPY quotes a block because it holds line breaks


def _with_flow(feature: ColumnElement[str], flow: ColumnElement[Any]) -> ColumnElement[str]:
    """The feature's text with `t_per_day` as its last property: its properties object is the text's
    last member, so the closing "}}" is written again after it."""
    value = func.coalesce(cast(flow, Text), literal_column("'null'"))
    return (
        func.left(feature, -2)
        .op("||")(literal_column(f"',\"{LINK_FLOW}\":'"))
        .op("||")(value)
        .op("||")(literal_column("'}}'"))
    )


def _statement(export: LayerExport) -> tuple[Select[Any], bool]:
    """The statement to copy, and whether its rows are blocks. A chain link's t/day (an extra field of
    the export, not a column of the layer) is added to each feature's text."""
    q = export.query
    flow = next((f for f in export.fields if f.name == LINK_FLOW), None)
    feature = _with_flow(feature_json(q), flow.column) if flow is not None else None
    if q.sortby or q.layer.geometry_type == "MultiPolygon":
        return features_statement(q, feature), False
    with export.engine.connect() as conn:
        if planner_estimate(conn, matching_statement(q)) < BLOCKS_FROM:
            return features_statement(q, feature), False
        first, last = conn.execute(select(func.min(q.layer.id_column), func.max(q.layer.id_column))).one()
    if first is None:
        return features_statement(q, feature), False
    return feature_blocks_statement(q, first, last, IDS_PER_BLOCK, feature), True


def _blocks(export: LayerExport, progress: Progress | None) -> Iterator[bytes]:
    """Blocks of whole "feature\\n" lines, counted for `progress`."""
    stmt, quoted = _statement(export)
    done = 0
    for block in copy_lines(export.engine, stmt):
        if quoted:  # JSON text never holds the quote character, so every one of them is quoting
            block = block.translate(None, QUOTE)
        done += block.count(b"\n")
        if progress is not None:
            progress(done)
        yield block
    if progress is not None:
        progress(done)


def feature_collection(export: LayerExport, progress: Progress | None = None) -> Generator[bytes, None, None]:
    """The layer as one FeatureCollection, written by the service's one collection writer."""
    return collection_stream.feature_collection_of_lines(
        _blocks(export, progress), {"name": export.query.layer.name}, collection_stream.FILE
    )


def sequence(export: LayerExport, progress: Progress | None = None) -> Generator[bytes, None, None]:
    """One feature per record: RS, the feature, LF (RFC 8142)."""
    for block in _blocks(export, progress):
        yield RS + block[:-1].replace(b"\n", b"\n" + RS) + b"\n"
