"""Request parameters as the client wrote them → a FeatureQuery, or a ParameterError naming one."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from service.features import crs as crs_
from service.features import cursor as cursor_
from service.features.catalogue import Layer
from service.features.errors import ParameterError
from service.features.query import DEFAULT_LIMIT, MAX_LIMIT, FeatureQuery, SortKey, sortable_field
from service.features.values import (
    RANGE_TEXT,
    OutOfRange,
    finite_float,
    in_range,
    parse_datetime,
    parse_value,
)

# Parameters with a meaning of their own; every other one must name a property of the layer.
STANDARD = (
    "f",
    "limit",
    "bbox",
    "bbox-crs",
    "crs",
    "datetime",
    "properties",
    "sortby",
    "cursor",
    "filter",
    "filter-lang",
    "filter-crs",
    "town",
)
PAGING = ("limit", "cursor")

Params = Mapping[str, Sequence[str]]


def _one(params: Params, name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ParameterError(name, "given more than once")
    return values[0]


def parse_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise ParameterError("limit", f"not an integer: {value!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ParameterError("limit", f"must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise ParameterError("bbox", "expected 4 numbers (or 6 with heights): minx,miny,maxx,maxy")
    try:
        numbers = [finite_float(p) for p in parts]
    except ValueError:
        raise ParameterError("bbox", f"not a list of finite numbers: {value!r}") from None
    if len(numbers) == 6:  # heights are ignored: the layers are 2D
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    a, b, c, d = numbers
    if b > d:
        raise ParameterError("bbox", "the lower corner lies above the upper corner")
    if a > c:
        raise ParameterError("bbox", "boxes crossing the antimeridian are not supported")
    return a, b, c, d


def parse_crs(name: str, value: str | None) -> crs_.Crs:
    if value is None:
        return crs_.DEFAULT
    try:
        return crs_.parse(value)
    except ValueError as exc:
        raise ParameterError(name, str(exc)) from None


def _instant(text: str) -> tuple[dt.datetime, dt.datetime]:
    """A date-time is one instant; a date is the whole day (UTC)."""
    if "T" not in text.upper() and len(text.strip()) == 10:
        day = dt.date.fromisoformat(text.strip())
        start = in_range(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))
        return start, in_range(start.replace(hour=23, minute=59, second=59, microsecond=999999))
    instant = parse_datetime(text)
    return instant, instant


def parse_interval(value: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    try:
        if "/" not in value:
            return _instant(value)
        start_text, end_text = value.split("/", 1)
        start = None if start_text in ("", "..") else _instant(start_text)[0]
        end = None if end_text in ("", "..") else _instant(end_text)[1]
    except OutOfRange:
        raise ParameterError("datetime", f"{value!r} lies outside the supported range {RANGE_TEXT}") from None
    except ValueError:
        raise ParameterError("datetime", f"not an RFC 3339 date-time or interval: {value!r}") from None
    if start and end and start > end:
        raise ParameterError("datetime", "the interval ends before it starts")
    return start, end


def parse_properties(layer: Layer, value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if layer.field(n) is None]
    if unknown:
        raise ParameterError("properties", f"unknown propert{'ies' if len(unknown) > 1 else 'y'}: {unknown}")
    return names


def parse_sortby(layer: Layer, value: str) -> tuple[SortKey, ...]:
    keys: list[SortKey] = []
    for token in (t.strip() for t in value.split(",")):
        descending = token.startswith("-")
        name = token.lstrip("+-").strip()
        field = sortable_field(layer, name)
        if field is None:
            raise ParameterError("sortby", f"unknown property {name!r}")
        if any(k.field.name == name for k in keys):
            raise ParameterError("sortby", f"{name!r} given twice")
        keys.append(SortKey(field, descending))
    return tuple(keys)


def parse_equals(layer: Layer, name: str, value: str) -> tuple[Any, ...]:
    field = layer.field(name)
    assert field is not None
    try:
        values = tuple(parse_value(field.kind, v) for v in value.split(","))
    except ValueError as exc:
        raise ParameterError(name, f"not a valid {field.kind}: {exc}") from None
    unknown = [v for v in values if field.vocabulary is not None and v not in field.vocabulary]
    if unknown:
        raise ParameterError(name, f"unknown value(s) {unknown}; one of {list(field.vocabulary or ())}")
    return values


def feature_query(layer: Layer, params: Params, extra_allowed: Sequence[str] = ()) -> FeatureQuery:
    """The query the parameters describe; ParameterError for anything malformed or unknown."""
    for name, values in params.items():
        if name not in STANDARD and name not in extra_allowed and layer.field(name) is None:
            raise ParameterError(name, f"unknown parameter or property of {layer.name}")
        if any("\x00" in v for v in values):  # PostgreSQL text cannot hold NUL
            raise ParameterError(name, "contains a NUL character")
    get = lambda name: _one(params, name)  # noqa: E731
    bbox_crs = parse_crs("bbox-crs", get("bbox-crs"))
    bbox = parse_bbox(b) if (b := get("bbox")) is not None else None
    if get("bbox-crs") is not None and bbox is None:
        raise ParameterError("bbox-crs", "given without bbox")
    lang = get("filter-lang")
    if lang not in (None, "cql2-text"):
        raise ParameterError("filter-lang", "only cql2-text is supported")
    filter_crs = parse_crs("filter-crs", get("filter-crs"))
    cql_filter = None
    if (f := get("filter")) is not None:
        # the CQL2 parser (pygeofilter with lark and dateparser, about 11 MiB) loads with the first filter
        from service.features import cql

        cql_filter = cql.to_sql(layer, f, filter_crs)
    equals = tuple(
        (field, parse_equals(layer, name, value))
        for name in params
        if name not in STANDARD
        and (field := layer.field(name)) is not None
        and (value := get(name)) is not None
    )
    town = get("town")
    if town is not None and not layer.has_town:
        raise ParameterError("town", f"{layer.name} has no town")
    properties = parse_properties(layer, p) if (p := get("properties")) is not None else None
    sortby = parse_sortby(layer, s) if (s := get("sortby")) else ()
    q = FeatureQuery(
        layer=layer,
        crs=parse_crs("crs", get("crs")),
        bbox=bbox,
        bbox_crs=bbox_crs,
        interval=parse_interval(d) if (d := get("datetime")) is not None else None,
        equals=equals,
        town_codes=tuple(t.strip() for t in town.split(",")) if town else (),
        filter=cql_filter,
        properties=properties,
        sortby=sortby,
        limit=parse_limit(get("limit")),
    )
    token = get("cursor")
    if token is None:
        return q
    try:
        after, backward = cursor_.decode(token, q.order_token, q.order_kinds)
    except cursor_.BadCursor as exc:
        raise ParameterError("cursor", str(exc)) from None
    return dataclasses.replace(q, after=after, backward=backward)
