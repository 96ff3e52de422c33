"""A city's file as rows for a layer: `read(path, layer, options)` yields one `Row` per data row;
`open_rows` opens the file once for more (how it was read, its header, its rows as the file has them).

Each row carries its number as the clerk sees it in the file, the properties read for the layer's
writable fields, its position as a GeoJSON Point in WGS 84 (or None), the problems that keep it from
being imported and warnings that do not. Nothing is written; the editing validation comes after.

CSV and XLSX rows are numbered by their line and row; a GIS file's features (KML/KMZ, GeoPackage,
Shapefile, GeoJSON: `geodata`) by their position in the file, from 1. Their attributes are matched
as a header's columns, and their geometry is fitted to the layer (`geometries`): a Point layer's as a
Point, the towns' as a MultiPolygon.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from service.editing import fields as editing_fields
from service.errors import BadParameter
from service.features import catalogue
from service.importing import columns as columns_
from service.importing import coordinates, geodata, geometries, sources, values

# Rows looked at for the header: title rows above it are common, dozens are not.
HEADER_SEARCH_ROWS = 20


@dataclass(frozen=True)
class Options:
    encoding: str | None = None  # a CSV's or a Shapefile DBF's; detected when None
    sheet: str | None = None  # an XLSX sheet (the first when None), a GIS file's layer or KML folder
    crs: str | None = None  # of the position columns: an EPSG code, "gcj02", "bd09"; WGS 84 when None
    mapping: Path | dict[str, str | None] | None = None  # header → field, over the automatic matching
    area: tuple[float, float, float, float] | None = None  # lon/lat box; a position outside is warned


@dataclass
class Row:
    number: int
    properties: dict[str, Any]
    geometry: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _cell(cells: list[Any], index: int) -> Any:
    value = cells[index] if index < len(cells) else None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _header(
    numbered: Iterator[tuple[int, list[Any]]], layer: str, mapping: dict[str, str | None] | None
) -> tuple[list[Any], int]:
    """The header (one row, or two when the second names what a merged cell above it spans) and the
    number of its last row: the data rows are those below it."""
    seen: list[tuple[int, list[Any]]] = []
    for numbered_row in numbered:
        seen.append(numbered_row)
        if len(seen) >= HEADER_SEARCH_ROWS:
            break
    scores = [columns_.score(cells, layer, mapping) for _, cells in seen]
    if not scores or max(scores) == 0:
        raise BadParameter("file", f"no header row naming fields of {layer} in the first {len(seen)} rows")
    at = scores.index(max(scores))
    header_end, header = seen[at][0], list(seen[at][1])
    rest = seen[at + 1 :]
    if rest and _is_sub_header(header, rest[0][1], layer, mapping):
        # A second header row: "坐标" merged over two columns above "经度 | 纬度". A cell below wins,
        # a cell merged down from above keeps the upper text.
        below = rest[0][1]
        width = max(len(header), len(below))
        upper = header + [None] * (width - len(header))
        header = [_cell(below, i) if _cell(below, i) is not None else upper[i] for i in range(width)]
        header_end = rest[0][0]
    return header, header_end


def _is_sub_header(
    header: list[Any], below: list[Any], layer: str, mapping: dict[str, str | None] | None
) -> bool:
    """Whether the row below the header completes it: only words, naming fields where the header
    has a word of its own (a merged "坐标") or nothing, never where the header already names one."""
    if any(value is not None and (not isinstance(value, str) or _number_like(value)) for value in below):
        return False  # a data row has numbers
    named = [i for i, value in enumerate(below) if columns_.score([value], layer, mapping)]
    return bool(named) and not any(
        i < len(header) and columns_.score([header[i]], layer, mapping) for i in named
    )


def _number_like(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _mapping(option: Path | dict[str, str | None] | None, layer: str) -> dict[str, str | None] | None:
    if option is None:
        return None
    if isinstance(option, Path):
        return columns_.load_mapping(option, layer)
    return columns_.check_mapping(option, layer)


def read(path: Path, layer: str, options: Options | None = None) -> Iterator[Row]:
    """The data rows of the file at `path` for `layer`, streamed. Raises BadParameter (before the first
    row) for a file, sheet, encoding, crs or mapping that cannot be read at all; a GIS file damaged part
    way through raises it when the reading gets there. `options.sheet` also names a GeoPackage's layer,
    a KML folder or a shapefile in a zip."""
    with open_rows(path, layer, options) as opened:
        yield from opened.rows()


def open_rows(path: Path, layer: str, options: Options | None = None) -> RowFile:
    """The file at `path` opened for `layer`: its header found and matched, its crs checked (raises
    BadParameter as `read` does, before any row). Use it in a `with` block: a GIS archive stays
    unpacked in a temporary directory until it closes."""
    options = options or Options()
    coordinates.check_crs(options.crs)
    mapping = _mapping(options.mapping, layer)
    if geodata.is_geodata(path):
        return _GisFile(path, layer, options, mapping)
    return TableFile(path, layer, options, mapping)


class RowFile:
    """A file opened for a layer, as it was read: how (format, encoding, sheet or layer, crs), its
    header, and its rows, which can be read more than once (the import reads the rejected ones again
    for the clerk's CSV)."""

    format: str  # "csv", "xlsx", "kml", "kmz", "gpkg", "shapefile", "geojson"
    encoding: str | None  # a CSV's, or a Shapefile DBF's (given, detected, or its .cpg's)
    sheet: str | None  # an XLSX sheet, or the layer of a GIS file when one was read
    crs: str | None  # of the positions as read: the option, else a GIS file's own; None is WGS 84
    header: list[Any]  # the file's column names as the clerk sees them
    header_of: dict[str, str]  # the header text of each target (a field, `lon`, `lat`, `town`)
    columns: list[Any]  # the header of the rejected-rows CSV: `header`, and a GIS file's geometry
    geometry_column: str | None = None  # that column's name, for problems with a feature's position
    matched: columns_.Columns  # which column holds which field

    def rows(self) -> Iterator[Row]:
        raise NotImplementedError

    def records(self) -> Generator[tuple[int, list[Any]], None, None]:
        """(number, cells under `columns`) of every data row, as the file has them."""
        raise NotImplementedError

    def bytes_read(self) -> int | None:
        """How far the reading has got into the file, where that is cheap to know (a CSV)."""
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _headers_of(header: list[Any], matched: columns_.Columns) -> dict[str, str]:
    return {target: str(header[index]).strip() for index, target in matched.targets.items()}


class TableFile(RowFile):
    """A CSV or an XLSX sheet: the header row found below any title rows."""

    def __init__(
        self, path: Path, layer: str, options: Options, mapping: dict[str, str | None] | None
    ) -> None:
        self.layer, self.options, self.path = layer, options, path
        self.source = sources.open_source(path, encoding=options.encoding, sheet=options.sheet)
        self.format, self.encoding, self.sheet = self.source.kind, self.source.encoding, self.source.sheet
        self.crs = options.crs
        numbered = self.source.rows()
        try:
            self.header, self.header_end = _header(numbered, layer, mapping)
        finally:
            _close(numbered)
        self.columns = self.header
        self.matched = columns_.match(self.header, layer, mapping)
        self.header_of = _headers_of(self.header, self.matched)
        self._lon = self.matched.column_of(columns_.LON)
        self._lat = self.matched.column_of(columns_.LAT)
        if (self._lon is None) != (self._lat is None):
            raise BadParameter("file", "the file has one coordinate column: it needs both (经度 and 纬度)")
        self._position = sources.Position()

    def records(self) -> Generator[tuple[int, list[Any]], None, None]:
        numbered = self.source.rows(self._position)
        try:
            for number, cells in numbered:
                if number > self.header_end:  # title rows and the header itself are no data
                    yield number, cells
        finally:
            _close(numbered)

    def rows(self) -> Iterator[Row]:
        for number, cells in self.records():
            yield self.row(number, cells)

    def row(self, number: int, cells: list[Any]) -> Row:
        """One data row's cells read for the layer (the bulk import reads its non-plain rows here)."""
        row = Row(number, {}, None)
        _properties(row, cells, self.header, self.matched, self.layer)
        if self._lon is not None and self._lat is not None:
            _position(row, _cell(cells, self._lon), _cell(cells, self._lat), self.options)
        return row

    def bytes_read(self) -> int | None:
        return self._position()


def _close(numbered: Iterator[Any]) -> None:
    with contextlib.suppress(AttributeError):
        numbered.close()  # type: ignore[attr-defined]


@cache
def _fields(layer: str) -> tuple[dict[str, catalogue.Field], bool]:
    """The layer's fields by name, and whether it stores a capacity unit (looked up once per layer)."""
    return {f.name: f for f in catalogue.layer(layer).fields}, "capacity_unit" in editing_fields.writable(
        layer
    )


def _properties(row: Row, cells: list[Any], header: list[Any], matched: columns_.Columns, layer: str) -> None:
    """The row's cells converted to the layer's fields; what cannot be is a problem naming the column."""
    layer_fields, unit_field = _fields(layer)
    for index, target in matched.targets.items():
        raw = _cell(cells, index)
        if raw is None or target in (columns_.LON, columns_.LAT, columns_.TOWN):
            continue
        if target in row.properties:  # a description's pair does not override a field
            continue
        try:
            value, unit = values.convert(layer_fields[target], raw, matched.units.get(index))
        except ValueError as error:
            row.problems.append(f"{header[index]}: {error}")
            continue
        row.properties[target] = value
        if unit is not None and unit_field and target == "capacity":
            given = row.properties.get("capacity_unit")
            if given is not None and given != unit:
                row.problems.append(f"{header[index]}: unit {unit} but capacity_unit says {given}")
            row.properties.setdefault("capacity_unit", unit)


# The rejected-rows CSV's column of a GIS feature's geometry: WKT, in the file's own crs.
GEOMETRY_COLUMN = "geometry"


class _GisFile(RowFile):
    """A GIS file's features: attributes matched as a header's columns, the geometry fitted."""

    def __init__(
        self, path: Path, layer: str, options: Options, mapping: dict[str, str | None] | None
    ) -> None:
        self.layer, self.options, self.mapping = layer, options, mapping
        self._stack = contextlib.ExitStack()
        self.geofile = self._stack.enter_context(
            geodata.opened(path, layer=options.sheet, encoding=options.encoding)
        )
        try:
            self._read_as(options)
        except BaseException:
            self._stack.close()  # the archive's temporary directory goes with the refusal
            raise
        self.header = list(self.geofile.fields)
        self.matched = columns_.match(self.header, layer, mapping)
        self.header_of = _headers_of(self.header, self.matched)
        self.geometry_column = GEOMETRY_COLUMN
        self.columns = [*self.header, GEOMETRY_COLUMN]

    def _read_as(self, options: Options) -> None:
        geofile = self.geofile
        self._crs = options.crs or geofile.crs
        if options.crs is None and geofile.crs is not None:
            try:
                coordinates.check_crs(geofile.crs)
            except BadParameter as error:
                raise BadParameter("file", f"{geofile.name}: its crs is not one pyproj knows") from error
        self.format, self.encoding = geofile.kind, geofile.encoding or geofile.cpg
        self.sheet = geofile.layers[0] if len(geofile.layers) == 1 else None  # a KML's folders: all
        self.crs = coordinates.crs_label(self._crs) if self._crs is not None else None

    def rows(self) -> Iterator[Row]:
        layer, header, options = self.layer, self.header, self.options
        layer_type = catalogue.layer(layer).geometry_type
        for feature in self.geofile.features():
            row = Row(feature.number, {}, None)
            _properties(row, [feature.properties.get(h) for h in header], header, self.matched, layer)
            pairs = columns_.description_pairs(feature.properties.get("description"))
            if pairs:
                keys = [key for key, _ in pairs]
                matched = columns_.match(keys, layer, self.mapping)
                _properties(row, [v for _, v in pairs], keys, matched, layer)
            fitted = geometries.fit(feature.geometry, layer, layer_type, self._crs, options.area)
            row.geometry = fitted.geometry
            row.problems.extend(fitted.problems)
            row.warnings.extend(fitted.warnings)
            yield row

    def records(self) -> Generator[tuple[int, list[Any]], None, None]:
        for feature in self.geofile.features():
            cells = [feature.properties.get(h) for h in self.header]
            yield feature.number, [*cells, geometries.wkt(feature.geometry)]

    def close(self) -> None:
        self._stack.close()


def _position(row: Row, x_raw: Any, y_raw: Any, options: Options) -> None:
    if x_raw is None and y_raw is None:
        row.problems.append("no coordinates")
        return
    try:
        x, y = coordinates.degrees(x_raw), coordinates.degrees(y_raw)
    except coordinates.CoordinateError as error:
        row.problems.append(f"coordinates: {error}")
        return
    if any(isinstance(raw, str) and not _number_like(raw) for raw in (x_raw, y_raw)):
        row.warnings.append(f"coordinates read from degrees-minutes-seconds text: ({x:.6f}, {y:.6f})")
    position, problems = coordinates.locate(x, y, options.crs)
    row.problems.extend(problems)
    if position is None:
        return
    row.geometry = {"type": "Point", "coordinates": [position.lon, position.lat]}
    if options.area is not None:
        warning = coordinates.outside(position, options.area)
        if warning is not None:
            row.warnings.append(warning)
