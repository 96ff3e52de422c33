"""CQL2 text (OGC API Features Part 3, basic CQL2 + basic spatial functions) → an SQL condition.

pygeofilter parses; this module walks its tree and builds SQLAlchemy expressions over the layer's
columns with every literal bound. Attributes must be properties of the layer (or `id`, `geom`);
literals must fit the property's type. Anything else is a ParameterError("filter", …).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import shapely
from pygeofilter import ast
from pygeofilter import values as geo_values
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text
from sqlalchemy import and_, func, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from service.config import FilterSettings, settings
from service.features import crs as crs_
from service.features.catalogue import Field, Layer
from service.features.errors import ParameterError
from service.features.query import id_field
from service.features.values import INT_RANGE, finite_decimal, parse_datetime

GEOMETRY_NAMES = ("geom", "geometry")

_COMPARISONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Equal: lambda a, b: a == b,
    ast.NotEqual: lambda a, b: a != b,
    ast.LessThan: lambda a, b: a < b,
    ast.LessEqual: lambda a, b: a <= b,
    ast.GreaterThan: lambda a, b: a > b,
    ast.GreaterEqual: lambda a, b: a >= b,
}
_SPATIAL = {
    ast.GeometryIntersects: "ST_Intersects",
    ast.GeometryDisjoint: "ST_Disjoint",
    ast.GeometryWithin: "ST_Within",
    ast.GeometryContains: "ST_Contains",
    ast.GeometryTouches: "ST_Touches",
    ast.GeometryCrosses: "ST_Crosses",
    ast.GeometryOverlaps: "ST_Overlaps",
    ast.GeometryEquals: "ST_Equals",
}


def _bad(detail: str) -> ParameterError:
    return ParameterError("filter", detail)


def _over(detail: str, setting: str, measure: str, size: int | None, limit: int) -> ParameterError:
    """A filter past one of the limits: which one, and what would fit."""
    extra = {"measure": measure, "max_size": limit, "setting": setting}
    return ParameterError("filter", detail, **extra, **({"size": size} if size is not None else {}))


def _too_long(size: int, limits: FilterSettings) -> ParameterError:
    name = "SANICHAIN_CQL_MAX_LENGTH"
    detail = f"{size:,} characters; the limit is {limits.max_length:,} ({name})"
    return _over(detail, name, "characters", size, limits.max_length)


def _too_many(size: int, limits: FilterSettings) -> ParameterError:
    name = "SANICHAIN_CQL_MAX_PREDICATES"
    detail = (
        f"{size:,} conditions joined by AND/OR/NOT; the limit is {limits.max_predicates:,} ({name}): "
        "ask for fewer at once, or use IN (…) for a list of values"
    )
    return _over(detail, name, "conditions", size, limits.max_predicates)


def _too_deep(limits: FilterSettings) -> ParameterError:
    name = "SANICHAIN_CQL_MAX_DEPTH"
    detail = (
        f"nested deeper than {limits.max_depth} levels of AND/OR/NOT or parentheses ({name}): "
        "a chain of one operator (a AND b AND c) is one level; drop the extra parentheses"
    )
    return _over(detail, name, "levels", None, limits.max_depth)


_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_LOGICAL = re.compile(r"\b(AND|OR|NOT)\b", re.IGNORECASE)


def check_size(text: str, limits: FilterSettings) -> None:
    """Refuse, from the text alone, expressions far past the limits: the parser and the translator
    both recurse per level, and a few thousand terms exhaust Python's stack."""
    code = _LITERAL.sub("''", text)
    operators = len(_LOGICAL.findall(code))
    if operators > 2 * limits.max_predicates:  # BETWEEN … AND and NOT also match: leave room
        raise _too_many(operators, limits)
    depth = deepest = 0
    for char in code:
        depth += 1 if char == "(" else -1 if char == ")" else 0
        deepest = max(deepest, depth)
    # a geometry literal nests up to 4 parentheses of its own: MULTIPOLYGON(((…))) inside S_WITHIN(…)
    if deepest > limits.max_depth + 4:
        raise _too_deep(limits)


def and_before_or(text: str) -> str:
    """The text with every operand of OR in parentheses: pygeofilter 0.4 reads AND and OR at one
    precedence, left to right (`a OR b AND c` as `(a OR b) AND c`), where CQL2, like SQL, binds AND
    tighter (`a OR (b AND c)`). Literals are left alone; malformed text stays malformed."""
    code = _LITERAL.sub(lambda m: m.group()[0] + "_" * (len(m.group()) - 2) + m.group()[-1], text)
    group_at: list[int] = []  # the innermost parenthesised group each character lies in (0: none)
    bounds = {0: [0, len(text)]}
    open_groups = [0]
    for i, char in enumerate(code):
        if char == ")" and len(open_groups) > 1:
            bounds[open_groups.pop()][1] = i
        group_at.append(open_groups[-1])
        if char == "(":
            open_groups.append(len(bounds))
            bounds[len(bounds)] = [i + 1, len(text)]
    ors: dict[int, list[int]] = {}
    for match in re.finditer(r"\bOR\b", code, re.IGNORECASE):
        ors.setdefault(group_at[match.start()], []).extend(match.span())
    inserts: list[tuple[int, str]] = []
    for group, edges in ors.items():
        start, end = bounds[group]
        cuts = [start, *edges, end]
        for left, right in zip(cuts[::2], cuts[1::2], strict=True):
            inserts += [(left, "("), (right, ")")]
    for position, paren in sorted(inserts, reverse=True):
        text = text[:position] + paren + text[position:]
    return text


def check_tree(tree: Any, limits: FilterSettings) -> None:
    """The parsed expression's conditions and nesting within the limits (a chain of one operator,
    `a AND b AND c`, is one level)."""
    predicates = 0
    stack: list[tuple[Any, int, type | None]] = [(tree, 0, None)]
    while stack:
        node, depth, parent = stack.pop()
        if isinstance(node, ast.And | ast.Or):
            level = depth if type(node) is parent else depth + 1
            if level > limits.max_depth:
                raise _too_deep(limits)
            stack += [(node.lhs, level, type(node)), (node.rhs, level, type(node))]
        elif isinstance(node, ast.Not):
            if depth + 1 > limits.max_depth:
                raise _too_deep(limits)
            stack.append((node.sub_node, depth + 1, ast.Not))
        else:
            predicates += 1
    if predicates > limits.max_predicates:
        raise _too_many(predicates, limits)


def _chain(node: Any) -> list[Any]:
    """The operands of a chain of one operator (`a AND b AND c` → [a, b, c]), without recursing."""
    operands, stack = [], [node]
    while stack:
        item = stack.pop()
        if type(item) is type(node):
            stack += [item.rhs, item.lhs]
        else:
            operands.append(item)
    return operands


def to_sql(layer: Layer, text: str, filter_crs: crs_.Crs = crs_.DEFAULT) -> ColumnElement[bool]:
    limits = settings(FilterSettings)
    if len(text) > limits.max_length:
        raise _too_long(len(text), limits)
    check_size(text, limits)  # before parsing: the parser recurses once per nested term
    try:
        tree = parse_cql2_text(and_before_or(text))
    except RecursionError:
        raise _too_deep(limits) from None
    except Exception as exc:  # lark raises many kinds; all mean the text is not CQL2
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _bad(f"not valid CQL2 text: {first}") from None
    check_tree(tree, limits)
    return _Translator(layer, filter_crs).condition(tree)


class _Translator:
    def __init__(self, layer: Layer, filter_crs: crs_.Crs) -> None:
        self.layer = layer
        self.crs = filter_crs

    def condition(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, ast.And):
            return and_(*[self.condition(n) for n in _chain(node)])
        if isinstance(node, ast.Or):
            return or_(*[self.condition(n) for n in _chain(node)])
        if isinstance(node, ast.Not):
            return not_(self.condition(node.sub_node))
        if isinstance(node, bool):  # the literals TRUE / FALSE as a whole condition
            return and_(True) if node else or_(False)
        if type(node) in _COMPARISONS:
            return self._comparison(node)
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.In):
            field = self._field(node.lhs)
            values = [self._literal(field, v) for v in node.sub_nodes]
            clause = field.column.in_(values)
            return not_(clause) if node.not_ else clause
        if isinstance(node, ast.Between):
            field = self._field(node.lhs)
            clause = field.column.between(self._literal(field, node.low), self._literal(field, node.high))
            return not_(clause) if node.not_ else clause
        if isinstance(node, ast.IsNull):
            field = self._field(node.lhs)
            return field.column.is_not(None) if node.not_ else field.column.is_(None)
        if type(node) in _SPATIAL:
            return self._spatial(node)
        raise _bad(
            f"{type(node).__name__} is not supported (comparisons, LIKE, IN, BETWEEN, IS NULL, "
            "AND/OR/NOT and S_INTERSECTS-style spatial predicates are)"
        )

    def _field(self, node: Any) -> Field:
        if not isinstance(node, ast.Attribute):
            raise _bad(f"expected a property name, got {node!r}")
        field = id_field(self.layer) if node.name == "id" else self.layer.field(node.name)
        if field is None:
            raise _bad(f"unknown property {node.name!r} of {self.layer.name}")
        return field

    def _comparison(self, node: Any) -> ColumnElement[bool]:
        lhs, rhs = node.lhs, node.rhs
        if not isinstance(lhs, ast.Attribute) and isinstance(rhs, ast.Attribute):
            lhs, rhs = rhs, lhs
            flipped = {
                ast.LessThan: ast.GreaterThan,
                ast.GreaterThan: ast.LessThan,
                ast.LessEqual: ast.GreaterEqual,
                ast.GreaterEqual: ast.LessEqual,
            }
            op = _COMPARISONS[flipped.get(type(node), type(node))]
        else:
            op = _COMPARISONS[type(node)]
        field = self._field(lhs)
        if isinstance(rhs, ast.Attribute):
            other = self._field(rhs)
            if other.kind != field.kind:
                raise _bad(f"cannot compare {field.name} ({field.kind}) with {other.name} ({other.kind})")
            return op(field.column, other.column)
        return op(field.column, self._literal(field, rhs))

    def _like(self, node: Any) -> ColumnElement[bool]:
        field = self._field(node.lhs)
        if field.kind != "string" or not isinstance(node.pattern, str):
            raise _bad(f"LIKE needs a text property and a text pattern ({field.name} is {field.kind})")
        # CQL2's wildcards are SQL's (% and _, backslash escapes); pygeofilter's singlechar is not
        pattern = node.pattern
        clause = field.column.ilike(pattern) if node.nocase else field.column.like(pattern)
        return not_(clause) if node.not_ else clause

    def _literal(self, field: Field, value: Any) -> Any:
        kind = field.kind
        wrong = _bad(f"{field.name} is a {kind}; {value!r} is not")
        if kind == "string":
            if isinstance(value, str):
                return value
            raise wrong
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            raise wrong
        if kind in ("integer", "number"):
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                raise wrong
            if kind == "integer" and isinstance(value, int):
                if not INT_RANGE[0] <= value <= INT_RANGE[1]:
                    raise _bad(f"{value} is out of range for {field.name}")
                return value
            try:
                return finite_decimal(value)
            except ValueError:
                raise wrong from None
        if kind == "date":
            if isinstance(value, dt.datetime):
                return value.date()
            if isinstance(value, dt.date):
                return value
            if isinstance(value, str):
                try:
                    return dt.date.fromisoformat(value)
                except ValueError:
                    raise wrong from None
            raise wrong
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        if isinstance(value, str):
            try:
                return parse_datetime(value)
            except ValueError:
                raise wrong from None
        raise wrong

    def _spatial(self, node: Any) -> ColumnElement[bool]:
        lhs, rhs = node.lhs, node.rhs
        if not isinstance(lhs, ast.Attribute):
            lhs, rhs = rhs, lhs
        if not isinstance(lhs, ast.Attribute) or lhs.name not in GEOMETRY_NAMES:
            raise _bad(
                f"spatial predicates compare the geometry ({' or '.join(GEOMETRY_NAMES)}) with a literal"
            )
        return getattr(func, _SPATIAL[type(node)])(self.layer.geom, self._geometry(rhs))

    def _geometry(self, node: Any) -> ColumnElement[Any]:
        if isinstance(node, geo_values.Envelope):
            shape = shapely.box(node.x1, node.y1, node.x2, node.y2)
        elif isinstance(node, ast.Function) and node.name.lower() == "bbox":
            shape = _bbox_literal(node.arguments)
        elif isinstance(node, geo_values.Geometry):
            try:
                shape = shapely.from_geojson(json.dumps(node.geometry))
            except Exception:
                raise _bad("not a valid geometry literal") from None
        else:
            raise _bad(f"expected a WKT geometry or BBOX(...), got {node!r}")
        if shape.is_empty or not shapely.is_valid(shape):
            raise _bad(f"invalid geometry: {shapely.is_valid_reason(shape)}")
        coords = shapely.get_coordinates(shape)
        # in the filter-crs's axis order, as written; outside its area a projection has no answer
        x0, y0, x1, y1 = self.crs.domain
        inside = (coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1)
        if not inside.all():
            x, y = coords[~inside][0]
            raise _bad(
                f"geometry coordinate ({x:g} {y:g}) lies outside the area of {self.crs.uri} "
                f"(first axis {x0:g} to {x1:g}, second axis {y0:g} to {y1:g})"
            )
        if self.crs.swap_axes:
            shape = shapely.transform(shape, lambda xy: xy[:, ::-1])
        geom = func.ST_GeomFromWKB(shapely.to_wkb(shape), self.crs.srid)
        return geom if self.crs.srid == 4326 else func.ST_Transform(geom, 4326)


def _bbox_literal(arguments: list[Any]) -> Any:
    """CQL2 `BBOX(minx, miny, maxx, maxy)` (6 numbers with heights) as a polygon."""
    numbers = [a for a in arguments if isinstance(a, int | float) and not isinstance(a, bool)]
    if len(numbers) != len(arguments) or len(numbers) not in (4, 6):
        raise _bad("BBOX needs 4 (or 6) numbers")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    return shapely.box(*numbers)
