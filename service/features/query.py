"""A feature query and the SQL it becomes: filters, keyset position, order, and the GeoJSON select.

All values are bound parameters; identifiers come only from the catalogue. GeoJSON is produced by
PostGIS (`ST_AsGeoJSON` + `row_to_json`), one text per feature.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    FromClause,
    Select,
    Text,
    and_,
    cast,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import ColumnElement

from service.features import crs as crs_
from service.features.catalogue import TOWN_ALIAS, Field, Kind, Layer
from service.models import Town

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
TOWNS = Town.__table__


@dataclass(frozen=True)
class SortKey:
    field: Field
    descending: bool = False

    @property
    def token(self) -> str:
        return ("-" if self.descending else "+") + self.field.name


@dataclass(frozen=True, eq=False)
class FeatureQuery:
    layer: Layer
    crs: crs_.Crs = crs_.DEFAULT
    bbox: tuple[float, float, float, float] | None = None  # in bbox_crs axis order
    bbox_crs: crs_.Crs = crs_.DEFAULT
    interval: tuple[dt.datetime | None, dt.datetime | None] | None = None  # on updated_at, closed
    equals: tuple[tuple[Field, tuple[Any, ...]], ...] = ()  # property = any of the values
    town_codes: tuple[str, ...] = ()
    filter: ColumnElement[bool] | None = None  # compiled CQL2
    properties: tuple[str, ...] | None = None  # None = all
    sortby: tuple[SortKey, ...] = ()
    limit: int = DEFAULT_LIMIT
    after: tuple[Any, ...] | None = None  # keyset position from a cursor
    backward: bool = False  # the page ends before `after` (a prev link) instead of starting after it
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def order_keys(self) -> tuple[SortKey, ...]:
        """sortby, then the id as the tie-breaker that makes the order total."""
        keys = self.sortby
        if not any(k.field.name == "id" for k in keys):
            keys = (*keys, SortKey(id_field(self.layer)))
        return keys

    @property
    def paging_keys(self) -> tuple[SortKey, ...]:
        """The order a page is read in: backward pages read the order reversed (and are turned round)."""
        if not self.backward:
            return self.order_keys
        return tuple(SortKey(k.field, not k.descending) for k in self.order_keys)

    @property
    def order_token(self) -> str:
        return ",".join(k.token for k in self.order_keys)

    @property
    def order_kinds(self) -> list[Kind]:
        return [k.field.kind for k in self.order_keys]


def id_field(layer: Layer) -> Field:
    return Field("id", "integer", layer.id_column)


def sortable_field(layer: Layer, name: str) -> Field | None:
    return id_field(layer) if name == "id" else layer.field(name)


# -- conditions ---------------------------------------------------------------------------------
def bbox_envelope(bbox: tuple[float, float, float, float], crs: crs_.Crs) -> ColumnElement[Any]:
    """The bbox as a polygon in EPSG:4326, clipped to the CRS's valid area first."""
    a, b, c, d = bbox
    lo = crs.domain
    a, b, c, d = max(a, lo[0]), max(b, lo[1]), min(c, lo[2]), min(d, lo[3])
    xmin, ymin, xmax, ymax = (b, a, d, c) if crs.swap_axes else (a, b, c, d)
    envelope = func.ST_MakeEnvelope(xmin, ymin, xmax, ymax, crs.srid)
    if crs.srid == 4326:
        return envelope
    # densify so that the edges follow the projection's curvature after transforming
    step = max(xmax - xmin, ymax - ymin, 1e-9) / 16
    return func.ST_Transform(func.ST_Segmentize(envelope, step), 4326)


def conditions(q: FeatureQuery) -> list[ColumnElement[bool]]:
    layer = q.layer
    where: list[ColumnElement[bool]] = []
    if q.bbox is not None:
        a, b, c, d = q.bbox
        if a > c or b > d:
            where.append(false())
        else:
            envelope = bbox_envelope(q.bbox, q.bbox_crs)
            if layer.geometry_type == "Point" and q.bbox_crs.srid == 4326:
                where.append(layer.geom.op("&&")(envelope))  # exact for points in a lon/lat box
            else:
                where.append(func.ST_Intersects(layer.geom, envelope))
    if q.interval is not None:
        start, end = q.interval
        if start is not None:
            where.append(layer.updated_at >= start)
        if end is not None:
            where.append(layer.updated_at <= end)
    for f, values in q.equals:
        where.append(f.column == values[0] if len(values) == 1 else f.column.in_(values))
    if q.town_codes:
        where.append(layer.table.c.town_id.in_(select(TOWNS.c.id).where(TOWNS.c.code.in_(q.town_codes))))
    if q.filter is not None:
        where.append(q.filter)
    return where


def _after(key: SortKey, value: Any) -> ColumnElement[bool]:
    """Rows strictly after `value` in this key's order (NULLs last ascending, first descending)."""
    col = key.field.column
    if key.descending:
        return col.is_not(None) if value is None else col < value
    return false() if value is None else or_(col > value, col.is_(None))


def _same(key: SortKey, value: Any) -> ColumnElement[bool]:
    return key.field.column.is_(None) if value is None else key.field.column == value


def keyset_condition(keys: tuple[SortKey, ...], position: tuple[Any, ...]) -> ColumnElement[bool]:
    if len(keys) == 1:
        return _after(keys[0], position[0])
    branches = []
    for i, key in enumerate(keys):
        prefix = [_same(k, v) for k, v in zip(keys[:i], position[:i], strict=True)]
        branches.append(and_(*prefix, _after(key, position[i])))
    return or_(*branches)


# -- output -------------------------------------------------------------------------------------
def output_geometry(layer: Layer, crs: crs_.Crs, crs_axis_order: bool = True) -> ColumnElement[Any]:
    """The geometry in `crs`; in the CRS's own axis order for the API, x/east first for files."""
    geom: ColumnElement[Any] = layer.geom
    if crs.srid != 4326:
        geom = func.ST_Transform(geom, crs.srid)
    if crs.swap_axes and crs_axis_order:
        geom = func.ST_FlipCoordinates(geom)
    return geom


def selected_fields(q: FeatureQuery) -> list[Field]:
    if q.properties is None:
        return list(q.layer.fields)
    return [f for f in q.layer.fields if f.name in q.properties]


PROPERTIES = "feature_properties"


def feature_source(q: FeatureQuery) -> FromClause:
    """The layer's rows, each joined to its selected properties as one row (a LATERAL select without
    FROM, which the planner flattens), so that `row_to_json` writes the properties object."""
    fields = selected_fields(q)
    if not fields:
        return q.layer.source()
    properties = (
        select(*[f.column.label(f.name) for f in fields])
        .correlate(q.layer.table, TOWN_ALIAS)
        .lateral(PROPERTIES)
    )
    return q.layer.source().join(properties, true())


def feature_json(q: FeatureQuery) -> ColumnElement[str]:
    """One GeoJSON Feature as text, selected from `feature_source(q)`. The frame is concatenated rather
    than built with json_build_object, which would parse ST_AsGeoJSON's text back into JSON for every
    feature; the properties come from `row_to_json` of the LATERAL row, which costs about a third less
    than json_build_object with one key/value pair per column (that looks up each argument's type
    again for every row)."""
    geometry = func.coalesce(
        func.ST_AsGeoJSON(output_geometry(q.layer, q.crs), q.crs.digits), literal_column("'null'")
    )
    properties = (
        cast(func.row_to_json(literal_column(PROPERTIES)), Text)
        if selected_fields(q)
        else literal_column("'{}'")
    )
    return (
        literal_column('\'{"type":"Feature","id":\'')
        .op("||")(cast(q.layer.id_column, Text))
        .op("||")(literal_column("',\"geometry\":'"))
        .op("||")(geometry)
        .op("||")(literal_column("',\"properties\":'"))
        .op("||")(properties)
        .op("||")(literal_column("'}'"))
    )


def page_statement(q: FeatureQuery, walk_id_index: bool = True) -> Select[Any]:
    """Features of one page: limit + 1 rows (the extra one only says there is a next page).

    walk_id_index=False keeps PostgreSQL from walking the primary key in id order and filtering
    (it then finds the few matches with the spatial index and sorts them): for selective filters on
    a big table the walk visits far more rows than match, e.g. 63,000 for 1,000 features of a bbox.
    """
    keys = q.paging_keys
    where = conditions(q)
    if q.after is not None:
        where.append(keyset_condition(keys, q.after))
    return (
        select(feature_json(q).label("feature"), *[k.field.column for k in q.order_keys])
        .select_from(feature_source(q))
        .where(*where)
        .order_by(*_order(q, walk_id_index, keys))
        .limit(q.limit + 1)
    )


def _order(q: FeatureQuery, walk_id_index: bool = True, keys: tuple[SortKey, ...] | None = None) -> list[Any]:
    order = []
    for k in q.order_keys if keys is None else keys:
        column = k.field.column if walk_id_index or k.field.name != "id" else k.field.column + 0
        order.append(column.desc().nulls_first() if k.descending else column.asc().nulls_last())
    return order


def all_rows_statement(
    q: FeatureQuery, columns: list[ColumnElement[Any]], source: FromClause | None = None
) -> Select[Any]:
    """Every matching row (no paging) with the given columns, in the query's order: for exports."""
    source = q.layer.source() if source is None else source
    return select(*columns).select_from(source).where(*conditions(q)).order_by(*_order(q))


def features_statement(q: FeatureQuery, feature: ColumnElement[str] | None = None) -> Select[Any]:
    """Every matching feature as GeoJSON text (no paging), in the query's order: for exports.
    `feature`: the text of one feature, `feature_json(q)` or an expression over it."""
    return all_rows_statement(q, [feature_json(q) if feature is None else feature], feature_source(q))


def feature_blocks_statement(
    q: FeatureQuery,
    first_id: int,
    last_id: int,
    ids_per_block: int,
    feature: ColumnElement[str] | None = None,
) -> Select[Any]:
    """Every matching feature as GeoJSON text, like `features_statement` in id order, but one row per
    block of `ids_per_block` ids with the features joined by newlines (empty blocks left out).

    Each block is an index range scan on the primary key. A reader then handles a thousand rows per
    million features instead of a million (in Python each row costs a call: seconds per layer). The
    aggregate takes the rows in the order of its ordered subquery, as PostgreSQL's plain aggregates do.
    """
    block = (
        func.generate_series(first_id, last_id, ids_per_block).table_valued("start").render_derived("block")
    )
    id_ = q.layer.id_column
    features = (
        select((feature_json(q) if feature is None else feature).label("feature"))
        .select_from(feature_source(q))
        .where(*conditions(q), id_ >= block.c.start, id_ < block.c.start + ids_per_block)
        .order_by(id_)
        .correlate(block)
        .subquery("block_features")
    )
    newline: ColumnElement[str] = literal_column("E'\\n'")
    # LATERAL, not a scalar subquery in the select list: that one is run twice per block, once more
    # for the IS NOT NULL filter
    text_ = select(func.string_agg(features.c.feature, newline).label("features")).lateral("block_text")
    return (
        select(text_.c.features).select_from(block.join(text_, true())).where(text_.c.features.is_not(None))
    )


def count_statement(q: FeatureQuery) -> Select[Any]:
    return select(func.count()).select_from(q.layer.source()).where(*conditions(q))


def matching_statement(q: FeatureQuery) -> Select[Any]:
    return select(literal(1)).select_from(q.layer.source()).where(*conditions(q))


def capped_count_statement(q: FeatureQuery, cap: int) -> Select[Any]:
    """How many features match, counting at most cap + 1 (more than cap: unknown, not counted)."""
    return select(func.count()).select_from(matching_statement(q).limit(cap + 1).subquery())
