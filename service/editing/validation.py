"""Validation of a feature before anything is written: one validator for the API, the command line
and the import, which lists every error by field.

Contract (used by `service.editing.store`, the import and the map's edit form):

    prepared = validate(conn, layer_name, feature, mode="create" | "replace" | "patch",
                        current=<the stored feature's properties or None>, accept_outside=False)

- `feature` is a GeoJSON Feature as a dict (`type`, `geometry`, `properties`; `id` ignored), or for
  "patch" a partial one (only the members to change; `geometry` may be absent).
- Returns `Prepared(values, warnings)`: `values` maps column names to values ready for SQL (the
  geometry as `geom_ewkt`, an EWKT string with SRID=4326), including for "patch" only the columns that
  change; `warnings` are messages the caller shows but that did not refuse the feature (a position
  outside the city outline that the caller accepted).
- Raises `ValidationFailed` (a 422 problem with `errors`: [{"field", "message"}], every error found,
  not only the first) when anything is wrong. Nothing is written here; queries only read.
- Values the database derives (the town, a station's class, a farm's large-scale flag, ids, versions,
  timestamps) are read-only: a feature that sets them is refused by field name.

Details (the rules as a list: docs/editing.md):
- "create" leaves out what the feature does not give, so the database's defaults apply; "replace"
  sets every writable column: one the feature leaves out becomes null, or its default when it has one.
- Values come out as the column's Python type: int, Decimal, bool, date, datetime, str.
- A position's Z value is accepted and dropped (GPS receivers record altitude; the layers are 2D),
  with a warning.
- The spatial checks (city outline, swapped axes, the derived town) are one query per feature.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import BigInteger, Connection, SmallInteger, Table, select, text

from service.editing import fields, rules
from service.errors import Unprocessable
from service.features import catalogue
from service.features.catalogue import Field
from service.models import Base

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

# Shapely (with NumPy) is imported by the functions that build or write a geometry: the service
# starts without it (D115).

Mode = Literal["create", "replace", "patch"]

# Positions a geometry may have: counted while walking the input, so a huge one is refused before
# shapely or the database sees it.
MAX_VERTICES = 10_000
# How far (degrees) from the city outline a position with swapped axes may lie to be recognised.
NEAR_CITY_DEGREES = 0.5
# Coordinate errors listed per geometry (the rest are summed up), so a broken file stays readable.
MAX_LISTED = 5
FEATURE_MEMBERS = ("type", "geometry", "properties", "id", "bbox")
GEOMETRY_MEMBERS = ("type", "coordinates", "bbox")
# Nesting depth of `coordinates` down to a position, per GeoJSON type.
DEPTHS = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}
INTEGER_LIMITS = {SmallInteger: 2**15 - 1, BigInteger: 2**63 - 1}
DATE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INVALID = object()  # a value that failed its check (its error is recorded)


@dataclass(frozen=True)
class FieldError:
    field: str  # "geometry", "properties.capacity", "properties" (the whole object) …
    message: str


class ValidationFailed(Unprocessable):
    """The feature was refused; `errors` lists every problem found, by field."""

    def __init__(self, errors: list[FieldError]) -> None:
        listed = [{"field": e.field, "message": e.message} for e in errors]
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"the feature was refused: {summary}", errors=listed)
        self.errors = errors

    def fields(self) -> list[str]:
        """The fields with an error, in order (a field with two errors is listed once)."""
        return list(dict.fromkeys(e.field for e in self.errors))


@dataclass(frozen=True)
class Prepared:
    values: dict[str, Any]  # column → value; the geometry as "geom_ewkt"
    warnings: list[str] = field(default_factory=list)


class Found:
    """What one validation found: errors by field, and warnings."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.warnings: list[str] = []

    def error(self, field_name: str, message: str) -> None:
        self.errors.append(FieldError(field_name, message))


@dataclass
class Checked:
    """What the checks that need no database found: the errors so far, and what the rest builds on."""

    found: Found
    given: dict[str, Any]
    stored: dict[str, Any]
    merged: dict[str, Any]
    values: dict[str, Any]
    geometry: _Geometry | None


def check(
    layer_name: str, feature: dict[str, Any], *, mode: Mode, current: dict[str, Any] | None = None
) -> Checked:
    """The checks of one feature that need no database (shape, types, ranges, required fields, domain
    rules): the editor runs them before its queries, the import once per row of a file."""
    catalogue.layer(layer_name)  # UnknownLayer before anything else
    found = Found()
    if not isinstance(feature, dict):
        raise ValidationFailed(
            [FieldError("feature", f"must be a JSON object (a GeoJSON Feature), got {_json_type(feature)}")]
        )
    _check_members(feature, mode, found)
    properties = _properties(feature, mode, found)
    given = _check_properties(layer_name, properties, found)
    stored = _stored(layer_name, current)
    values = _values(layer_name, mode, given, stored, properties, found)
    merged = {**stored, **given} if mode == "patch" else dict(values)
    geometry = _geometry_of(layer_name, feature, mode, found)
    _domain_rules(layer_name, mode, properties, given, stored, merged, found)
    if geometry is not None and geometry.geom is None:
        _out_of_range(geometry, found)
    return Checked(found, given, stored, merged, values, geometry)


def validate(
    conn: Connection,
    layer_name: str,
    feature: dict[str, Any],
    *,
    mode: Mode,
    current: dict[str, Any] | None = None,
    accept_outside: bool = False,
) -> Prepared:
    """See the module's contract."""
    checked = check(layer_name, feature, mode=mode, current=current)
    found, given, stored, merged, values, geometry = (
        checked.found, checked.given, checked.stored, checked.merged, checked.values, checked.geometry,
    )  # fmt: skip
    town_id = stored.get("town_id") if geometry is None else None
    if geometry is not None and geometry.geom is not None:
        town_id = _spatial(conn, layer_name, geometry, accept_outside, found)
    _references(conn, layer_name, given, merged, town_id, geometry is not None, found)
    _duplicates(conn, layer_name, given, stored, merged, found)
    if found.errors:
        raise ValidationFailed(found.errors)
    if geometry is not None and geometry.geom is not None:
        values["geom_ewkt"] = ewkt(geometry.geom)
    found.warnings.extend(geometry.warnings if geometry is not None else [])
    return Prepared(values, found.warnings)


def ewkt(geom: BaseGeometry) -> str:
    """A geometry as the writes take it: EWKT in WGS 84, 2D, coordinates unrounded."""
    import shapely

    return "SRID=4326;" + shapely.to_wkt(geom, rounding_precision=-1, output_dimension=2)


# -- the feature's shape ------------------------------------------------------------------------


def _check_members(feature: dict[str, Any], mode: Mode, found: Found) -> None:
    kind = feature.get("type")
    if kind != "Feature" and (mode != "patch" or "type" in feature):
        found.error("type", f'must be "Feature" (a GeoJSON Feature), got {_shown(kind)}')
    for member in feature:
        if member not in FEATURE_MEMBERS:
            found.error(
                str(member),
                "unknown member of a Feature: expected type, geometry and properties "
                "(id and bbox are ignored)",
            )


def _properties(feature: dict[str, Any], mode: Mode, found: Found) -> dict[str, Any]:
    properties = feature.get("properties")
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        found.error(
            "properties", f"must be a JSON object of property names and values, got {_json_type(properties)}"
        )
        return {}
    return properties


def _check_properties(layer_name: str, properties: dict[str, Any], found: Found) -> dict[str, Any]:
    """The properties the feature gives, checked and converted; names unknown or derived are refused."""
    writable = fields.writable(layer_name)
    derived = _derived(layer_name)
    given: dict[str, Any] = {}
    for name, value in properties.items():
        if name in derived:
            found.error(
                f"properties.{name}",
                "read-only: derived by the database (leave it out; it is computed from the other values)",
            )
        elif name not in writable:
            found.error(
                f"properties.{name}",
                f"unknown property of {layer_name}: expected one of {', '.join(sorted(writable))}",
            )
        else:
            converted = _value(layer_name, writable[name], value, found)
            if converted is not INVALID:
                given[name] = converted
    return given


@cache
def _derived(layer_name: str) -> frozenset[str]:
    """Property names a feature may not set: what the database derives, under any of its names."""
    return fields.read_only(layer_name) | fields.DERIVED | frozenset(fields.DERIVED_ALIASES)


def _stored(layer_name: str, current: dict[str, Any] | None) -> dict[str, Any]:
    """The stored feature's writable values (and its town), as the columns' Python types."""
    if not current:
        return {}
    writable = fields.writable(layer_name)
    stored = {name: _lenient(writable[name], value) for name, value in current.items() if name in writable}
    if current.get("town_id") is not None:
        stored["town_id"] = current["town_id"]
    return stored


def _values(
    layer_name: str,
    mode: Mode,
    given: dict[str, Any],
    stored: dict[str, Any],
    properties: dict[str, Any],
    found: Found,
) -> dict[str, Any]:
    writable = fields.writable(layer_name)
    if mode == "patch":
        return {name: value for name, value in given.items() if name not in stored or stored[name] != value}
    for name in sorted(fields.required(layer_name) - set(properties)):
        found.error(*required_error(layer_name, name))
    values = dict(given)
    if mode == "replace":
        for name, f in writable.items():
            if name not in properties:
                values[name] = server_default(f)
    return values


def required_error(layer_name: str, name: str) -> tuple[str, str]:
    """The error of a required property a new feature leaves out."""
    return f"properties.{name}", f"required: {_expected(layer_name, fields.writable(layer_name)[name])}"


# -- values -------------------------------------------------------------------------------------


def _value(layer_name: str, f: Field, value: Any, found: Found) -> Any:
    """The value converted to the column's Python type, or INVALID (with its error recorded)."""
    where = f"properties.{f.name}"
    if value is None:
        if fields.nullable(f):
            return None
        found.error(where, f"may not be null: {_expected(layer_name, f)}")
        return INVALID
    converted = _typed(f, value)
    if converted is INVALID:
        found.error(where, f"must be {_expected(layer_name, f)}, got {_shown(value)}")
        return INVALID
    problem = _checked(layer_name, f, converted)
    if problem:
        found.error(where, problem)
        return INVALID
    return converted


def _typed(f: Field, value: Any) -> Any:
    if f.kind == "boolean":
        return value if isinstance(value, bool) else INVALID
    if isinstance(value, bool):
        return INVALID
    if f.kind == "integer":
        return value if isinstance(value, int) else INVALID
    if f.kind == "number":
        if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
            return Decimal(str(value))
        return INVALID
    if not isinstance(value, str):
        return INVALID
    if f.kind == "date":
        if not DATE_FORMAT.match(value):
            return INVALID
        try:
            return date.fromisoformat(value)
        except ValueError:
            return INVALID
    if f.kind == "datetime":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return INVALID
        return moment if moment.tzinfo is not None else INVALID
    return value


def _checked(layer_name: str, f: Field, value: Any) -> str | None:
    """What is wrong with a value of the right type: range, precision, length, format, vocabulary."""
    if f.kind in ("integer", "number"):
        return _number_problem(f, value)
    if f.kind == "date" and not 1900 <= value.year <= 2100:
        return f"must be a date between 1900 and 2100 (YYYY-MM-DD), got {value.isoformat()}"
    if f.kind != "string":
        return None
    if "\x00" in value:
        return "must not contain the NUL character"
    longest = fields.MAX_LENGTH.get(f.name, fields.MAX_TEXT_LENGTH)
    if len(value) > longest:
        return f"too long: at most {longest} characters, got {len(value)}"
    if f.name in ("name", "code") and not value.strip():
        return "must not be blank"
    if f.vocabulary is not None and value not in f.vocabulary:
        return f"unknown value {value!r}: expected one of {', '.join(f.vocabulary)}"
    pattern = fields.CODE_PATTERNS.get(layer_name)
    if f.name == "code" and pattern and not re.match(pattern, value):
        return f"{value!r} does not match the code format {pattern}" + (
            " (the 9-digit statistical code)"
            if layer_name == "towns"
            else " (letters, digits, _ . -, not first)"
        )
    return None


def _number_problem(f: Field, value: int | Decimal) -> str | None:
    if f.name in fields.RANGES:
        low, high = fields.RANGES[f.name]
        if value < low or (high is not None and value > high):
            return (
                f"must be between {low} and {high}, got {value}"
                if high is not None
                else (f"must be at least {low}, got {value}")
            )
    elif f.name.endswith("_id"):
        if value < 1:
            return f"must be the id of a feature (a positive integer), got {value}"
    elif value < 0:
        return f"must not be negative, got {value}"
    column_type = getattr(f.column, "type", None)
    if f.kind == "integer":
        limit = next((n for t, n in INTEGER_LIMITS.items() if isinstance(column_type, t)), 2**31 - 1)
        if value > limit:
            return f"too large: at most {limit}, got {value}"
        return None
    precision, scale = getattr(column_type, "precision", None), getattr(column_type, "scale", None)
    if precision is None or scale is None:
        return None
    assert isinstance(value, Decimal)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > scale and value != value.quantize(Decimal(1).scaleb(-scale)):
        return f"at most {scale} decimal places, got {value}"
    if abs(value) >= Decimal(10) ** (precision - scale):
        digits = precision - scale
        return (
            f"too large: less than {Decimal(10) ** digits:,} "
            f"(at most {digits} digits before the decimal point), got {value}"
        )
    return None


def _lenient(f: Field, value: Any) -> Any:
    """A stored value as the column's Python type (it passed validation once; may come from JSON)."""
    if value is None:
        return None
    if f.kind == "number" and not isinstance(value, Decimal):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return value
    if f.kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return value
    return value


def server_default(f: Field) -> Any:
    """The value a column takes when a replacement leaves it out: its database default, else null."""
    default = getattr(f.column, "server_default", None)
    literal = getattr(default, "arg", None)
    if not isinstance(literal, str):
        return None
    if f.kind == "boolean":
        return literal.lower() == "true"
    if f.kind == "integer":
        return int(literal)
    if f.kind == "number":
        return Decimal(literal)
    return literal


def _expected(layer_name: str, f: Field) -> str:
    words = {
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "date": "a date YYYY-MM-DD",
        "datetime": "a date and time with its offset (ISO 8601)",
        "string": "a string",
    }
    said = words[f.kind]
    if f.vocabulary is not None:
        said += f", one of {', '.join(f.vocabulary)}"
    if f.name in fields.REFERENCES.get(layer_name, {}):
        said = f"the id of one of the {fields.REFERENCES[layer_name][f.name]} ({said})"
    return said


# -- geometry -----------------------------------------------------------------------------------


@dataclass
class _Geometry:
    geom: BaseGeometry | None = None  # 2D, of the layer's type (None when it could not be built)
    errors: bool = False
    out_of_range: list[tuple[float, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _geometry_of(layer_name: str, feature: dict[str, Any], mode: Mode, found: Found) -> _Geometry | None:
    raw = feature.get("geometry")
    if layer_name in fields.DERIVED_GEOMETRY:
        if raw is not None:
            found.error(
                "geometry",
                "read-only: derived by the database (a link runs from its source to its target); send null",
            )
        return None
    if raw is None:
        if mode != "patch" or "geometry" in feature:
            found.error(*geometry_required_error(layer_name))
        return None
    return _parse_geometry(layer_name, raw, found)


def geometry_required_error(layer_name: str) -> tuple[str, str]:
    expected = catalogue.layer(layer_name).geometry_type
    return "geometry", f"required: a GeoJSON {expected} in longitude, latitude (WGS 84)"


def _parse_geometry(layer_name: str, raw: Any, found: Found) -> _Geometry:
    result = _Geometry()
    expected = catalogue.layer(layer_name).geometry_type
    before = len(found.errors)
    if not isinstance(raw, dict):
        found.error("geometry", f"must be a GeoJSON {expected} object, got {_json_type(raw)}")
        result.errors = True
        return result
    for member in raw:
        if member not in GEOMETRY_MEMBERS:
            found.error(
                f"geometry.{member}", "unknown member of a GeoJSON geometry: expected type and coordinates"
            )
    kind: Any = raw.get("type")
    accepted = (expected, "Polygon") if expected == "MultiPolygon" else (expected,)
    if kind not in accepted:
        also = " (or a Polygon, made a MultiPolygon)" if expected == "MultiPolygon" else ""
        found.error("geometry.type", f"must be a {expected}{also} for {layer_name}, got {_shown(kind)}")
        result.errors = True
        return result
    simple = _simple_point(kind, raw.get("coordinates"))
    if simple is not None:  # the common case of an import's rows, without the general walk
        result.geom = simple
        result.errors = len(found.errors) > before
        return result
    coordinates = _walk(kind, raw.get("coordinates"), result, found)
    if coordinates is not None:
        _build(kind, coordinates, result, found)
    result.errors = result.errors or len(found.errors) > before
    return result


def _simple_point(kind: Any, coordinates: Any) -> BaseGeometry | None:
    """A Point of two finite numbers within range, which the general path would accept as it is;
    None for anything else (which the general path then checks and words)."""
    if kind != "Point" or not isinstance(coordinates, list) or len(coordinates) != 2:
        return None
    lon, lat = coordinates
    if type(lon) not in (int, float) or type(lat) not in (int, float):
        return None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):  # also false for NaN
        return None
    if math.isinf(lon) or math.isinf(lat):
        return None
    import shapely

    return shapely.Point(float(lon), float(lat))


def _walk(kind: str, coordinates: Any, result: _Geometry, found: Found) -> Any:
    """The coordinates checked position by position and made 2D; None when they are not usable.
    Walks at most MAX_VERTICES positions (a huge geometry is refused without reading all of it)."""
    problems: list[str] = []
    counted = 0
    dropped_z = False
    too_many = False

    def position(value: Any, path: str) -> list[float] | None:
        nonlocal dropped_z
        if not isinstance(value, list) or not 2 <= len(value) <= 3:
            problems.append(f"{_at(path)}a position must be [longitude, latitude], got {_shown(value)}")
            return None
        numbers = []
        for number in value:
            if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
                problems.append(f"{_at(path)}coordinates must be finite numbers, got {_shown(number)}")
                return None
            numbers.append(float(number))
        if len(numbers) == 3:
            dropped_z = True
        lon, lat = numbers[0], numbers[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            result.out_of_range.append((lon, lat))
        return [lon, lat]

    def nested(value: Any, depth: int, path: str) -> Any:
        nonlocal counted, too_many
        counted += 1
        if counted > MAX_VERTICES:
            too_many = True
            return None
        if depth == 0:
            return position(value, path)
        if not isinstance(value, list):
            problems.append(f"{_at(path)}expected an array, got {_json_type(value)}")
            return None
        parts = []
        for i, item in enumerate(value):
            part = nested(item, depth - 1, f"{path}[{i}]")
            if too_many:
                return None
            parts.append(part)
        return parts

    walked = nested(coordinates, DEPTHS[kind], "")
    if too_many:
        found.error(
            "geometry.coordinates", f"too many positions: at most {MAX_VERTICES} (simplify the geometry)"
        )
        result.errors = True
        return None
    for problem in problems[:MAX_LISTED]:
        found.error("geometry.coordinates", problem)
    if len(problems) > MAX_LISTED:
        found.error("geometry.coordinates", f"and {len(problems) - MAX_LISTED} more positions like these")
    if problems:
        result.errors = True
        return None
    if dropped_z:
        result.warnings.append("the positions' third value (height) was dropped: the layers are 2D")
    return walked


def _at(path: str) -> str:
    return f"at coordinates{path}: " if path else ""


def _build(kind: str, coordinates: Any, result: _Geometry, found: Found) -> None:
    if _empty(coordinates):
        found.error(
            "geometry.coordinates", f"empty: a {kind} needs at least one position [longitude, latitude]"
        )
        result.errors = True
        return
    if kind in ("Polygon", "MultiPolygon"):
        polygons = coordinates if kind == "MultiPolygon" else [coordinates]
        for ring in (ring for polygon in polygons for ring in polygon):
            if len(ring) < 4 or ring[0] != ring[-1]:
                found.error(
                    "geometry.coordinates",
                    "a polygon ring needs at least 4 positions and must end where it starts",
                )
                result.errors = True
                return
    import shapely
    from shapely.validation import explain_validity

    try:
        geom = shapely.geometry.shape({"type": kind, "coordinates": coordinates})
    except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
        found.error("geometry.coordinates", f"not a valid {kind}: {exc}")
        result.errors = True
        return
    if geom.is_empty:
        found.error(
            "geometry.coordinates", f"empty: a {kind} needs at least one position [longitude, latitude]"
        )
        result.errors = True
        return
    if isinstance(geom, shapely.Polygon):
        geom = shapely.MultiPolygon([geom])
    result.geom = geom
    if not result.out_of_range and not geom.is_valid:
        found.error("geometry", f"invalid geometry: {_where(explain_validity(geom))}")
        result.errors = True


def _empty(coordinates: Any) -> bool:
    if not isinstance(coordinates, list):
        return False
    if not coordinates:
        return True
    if all(isinstance(c, int | float) for c in coordinates):
        return False
    return any(_empty(c) for c in coordinates)


def _where(reason: str) -> str:
    """GEOS's reason with its position as [lon, lat]: 'Self-intersection[119.4 36]' → '… at [119.4, 36]'."""
    match = re.match(r"^(.*)\[([-0-9.eE+]+) ([-0-9.eE+]+)\]$", reason)
    if not match:
        return reason
    what, x, y = match.groups()
    return f"{what.lower()} at [{x}, {y}]: rings must not cross themselves or each other"


SPATIAL_SQL = text(
    """
    WITH g AS (SELECT ST_GeomFromText(:wkt, 4326) AS geom)
    SELECT NOT EXISTS (SELECT 1 FROM cities) AS no_outline,
           (SELECT string_agg(COALESCE(name_en, name), ', ' ORDER BY id) FROM cities) AS city,
           CASE WHEN :usable THEN EXISTS (
               SELECT 1 FROM cities c WHERE ST_CoveredBy(g.geom, c.geom)) END AS inside,
           EXISTS (SELECT 1 FROM cities c WHERE ST_DWithin(g.geom, c.geom, :near)) AS near,
           EXISTS (SELECT 1 FROM cities c WHERE ST_DWithin(ST_FlipCoordinates(g.geom), c.geom, :near))
               AS flipped_near,
           CASE WHEN :usable THEN (
               SELECT ARRAY[ST_X(d.geom), ST_Y(d.geom)] FROM ST_DumpPoints(g.geom) d
               WHERE NOT EXISTS (SELECT 1 FROM cities c WHERE ST_CoveredBy(d.geom, c.geom))
               ORDER BY d.path LIMIT 1) END AS first_outside,
           CASE WHEN :usable AND :town THEN (
               SELECT t.id FROM towns t WHERE ST_Covers(t.geom, g.geom) ORDER BY t.id LIMIT 1) END AS town_id
    FROM g
    """
)


def _spatial(
    conn: Connection, layer_name: str, geometry: _Geometry, accept_outside: bool, found: Found
) -> Any:
    """Positions against the city outline and the towns (one query); the town the position lies in."""
    import shapely

    assert geometry.geom is not None
    has_town = "town_id" in catalogue.layer(layer_name).table.c
    row = conn.execute(
        SPATIAL_SQL,
        {
            "wkt": shapely.to_wkt(geometry.geom, rounding_precision=-1, output_dimension=2),
            "usable": not geometry.errors and not geometry.out_of_range,
            "near": NEAR_CITY_DEGREES,
            "town": has_town,
        },
    ).one()
    return spatial_findings(layer_name, geometry, row, accept_outside, found)


def spatial_findings(
    layer_name: str, geometry: _Geometry, row: Any, accept_outside: bool, found: Found
) -> Any:
    """What SPATIAL_SQL's answer (`row`: no_outline, city, inside, near, flipped_near, first_outside,
    town_id) means for the feature, as errors and warnings; the town. The import computes the same
    answer for a whole file in one statement and words it here, so both say the same."""
    assert geometry.geom is not None
    first = _first_position(geometry.geom)
    if not row.no_outline and not row.near and row.flipped_near:
        found.error(
            "geometry.coordinates",
            f"longitude and latitude swapped: did you mean [{first[1]:g}, {first[0]:g}]? "
            "(GeoJSON positions are [longitude, latitude])",
        )
        return None
    _out_of_range(geometry, found)
    if geometry.out_of_range or geometry.errors:
        return None
    if not row.no_outline and not row.inside:
        where = (
            f" ([{row.first_outside[0]:g}, {row.first_outside[1]:g}] lies outside)"
            if row.first_outside
            else ""
        )
        message = f"outside the city outline of {row.city}{where}"
        if accept_outside:
            found.warnings.append(f"geometry: {message}; accepted as asked")
        else:
            found.error(
                "geometry", f"{message}: positions must lie within the city (or accept it explicitly)"
            )
    town_column = catalogue.layer(layer_name).table.c.get("town_id")
    if town_column is not None and not town_column.nullable and row.town_id is None and not row.no_outline:
        found.error(
            "geometry", f"lies in no town of the city: {layer_name} take their town from their position"
        )
    return row.town_id


def _out_of_range(geometry: _Geometry, found: Found) -> None:
    for lon, lat in geometry.out_of_range[:MAX_LISTED]:
        found.error(
            "geometry.coordinates",
            f"[{lon:g}, {lat:g}] is out of range: "
            "longitude must be within -180..180 and latitude within -90..90",
        )


def _first_position(geom: BaseGeometry) -> tuple[float, float]:
    import shapely

    coords = shapely.get_coordinates(geom)
    return float(coords[0][0]), float(coords[0][1])


# -- rules, references, duplicates ----------------------------------------------------------------


def _domain_rules(
    layer_name: str,
    mode: Mode,
    properties: dict[str, Any],
    given: dict[str, Any],
    stored: dict[str, Any],
    merged: dict[str, Any],
    found: Found,
) -> None:
    if fields.has_status(layer_name) and mode != "create" and stored.get("status"):
        problem = rules.status_transition(stored["status"], merged.get("status"))
        if problem:
            found.error(*problem)
    if layer_name == "livestock_farms" and mode != "create" and stored:
        problem = rules.species_change(
            stored.get("species"), merged.get("species"), "head_count" in properties
        )
        if problem:
            found.error(*problem)
    if layer_name == "villages":
        rebuilt, households = merged.get("toilets_rebuilt"), merged.get("households")
        if isinstance(rebuilt, int) and isinstance(households, int) and rebuilt > households:
            found.error(
                "properties.toilets_rebuilt",
                f"at most the village's households ({households}), got {rebuilt}",
            )
    if layer_name == "chain_links" and (mode != "patch" or stored):
        problems, warnings = rules.chain_link(merged)
        for problem in problems:
            found.error(*problem)
        found.warnings.extend(warnings)


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _references(
    conn: Connection,
    layer_name: str,
    given: dict[str, Any],
    merged: dict[str, Any],
    town_id: Any,
    moved: bool,
    found: Found,
) -> None:
    """Referenced rows exist, are not closed, lie in the feature's own town where the schema says so."""
    for column, target in fields.REFERENCES.get(layer_name, {}).items():
        ident = merged.get(column)
        if ident is None or (column not in given and not moved):
            continue
        table = _table(target)
        wanted = [c for c in REFERENCED_COLUMNS if c in table.c]
        row = (
            conn.execute(select(*(table.c[c] for c in wanted)).where(table.c.id == ident)).mappings().first()
        )
        reference_findings(layer_name, column, ident, row, column in given, town_id, merged, found)


# What the reference checks read of a referenced row (those of its table that it has).
REFERENCED_COLUMNS = ("id", "code", "status", "town_id", "accepts_fecal_sludge", "accepts_manure")


def reference_findings(
    layer_name: str,
    column: str,
    ident: Any,
    row: Any,
    given: bool,
    town_id: Any,
    merged: dict[str, Any],
    found: Found,
) -> None:
    """The errors of one reference, from the referenced row as read (None: there is none)."""
    target = fields.REFERENCES[layer_name][column]
    where = f"properties.{column}"
    if row is None:
        if given:
            found.error(where, f"no feature of {target} has id {ident}: give the id of an existing one")
        return
    label = row.get("code") or ident
    if row.get("status") == "closed":
        found.error(
            where, f"{target} {label} is closed: refer to one that is not closed (or reopen it first)"
        )
    same_town = (layer_name, column) in SAME_TOWN_REFERENCES
    if same_town and town_id is not None and row.get("town_id") != town_id:
        found.error(
            where,
            f"{target} {label} lies in another town than this feature's position: choose one of its own town",
        )
    stream = merged.get("stream")
    if target == "manure_centers" and column.startswith("target_"):
        if stream == "fecal_sludge" and row.get("accepts_fecal_sludge") is False:
            found.error(
                where, f"manure centre {label} does not accept fecal sludge (accepts_fecal_sludge is false)"
            )
        if stream == "manure" and row.get("accepts_manure") is False:
            found.error(where, f"manure centre {label} does not accept manure (accepts_manure is false)")


# References whose row must lie in the referring feature's own town.
SAME_TOWN_REFERENCES = (("collection_points", "village_id"), ("villages", "community_id"))


def _duplicates(
    conn: Connection,
    layer_name: str,
    given: dict[str, Any],
    stored: dict[str, Any],
    merged: dict[str, Any],
    found: Found,
) -> None:
    table = catalogue.layer(layer_name).table
    code = given.get("code")
    if code is not None and code != stored.get("code") and "code" in table.c:
        holder = conn.execute(select(table.c.id).where(table.c.code == code).limit(1)).first()
        if holder is not None:
            found.error(*code_taken(layer_name, code))
    if layer_name == "chain_links":
        sources, targets = rules.link_endpoints(merged)
        if len(sources) != 1 or len(targets) != 1 or merged.get("stream") is None:
            return
        key = (merged["stream"], sources[0], merged[sources[0]], targets[0], merged[targets[0]])
        old_sources, old_targets = rules.link_endpoints(stored)
        if stored and old_sources and old_targets:
            old = (
                stored.get("stream"),
                old_sources[0],
                stored[old_sources[0]],
                old_targets[0],
                stored[old_targets[0]],
            )
            if old == key:
                return
        twin = conn.execute(
            select(table.c.id)
            .where(table.c.stream == key[0], table.c[key[1]] == key[2], table.c[key[3]] == key[4])
            .limit(1)
        ).first()
        if twin is not None:
            found.error(
                "properties",
                f"link {twin.id} already joins this source and target in the {key[0]} stream: "
                "a pair is linked once per stream",
            )


def code_taken(layer_name: str, code: str) -> tuple[str, str]:
    """The error of a code another feature of the layer holds."""
    return (
        "properties.code",
        f"another feature of {layer_name} holds code {code!r}: codes are unique per layer",
    )


# -- wording ------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _shown(value: Any) -> str:
    """A value as a message quotes it: short, and with its JSON type when that is the point."""
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"the string {shown!r}"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return repr(value)
    return _json_type(value)
