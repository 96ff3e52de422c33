"""The rows of a file checked one by one and streamed into temporary tables with COPY.

Each row goes through the checks of the editing validation that need no database
(`validation.check`: types, ranges, required fields, domain rules), exactly as a feature sent to the
API would. A row that passes goes to `import_rows` (one column per writable field, typed as the
layer's, NULL where the file gives nothing); every problem, rejecting or not, goes to
`import_problems`. Both are TEMP tables dropped at the end of the import's transaction; the checks
that need the database then run in SQL over the whole file (`checks`).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql

from service.editing import fields, validation
from service.features import catalogue
from service.importing import columns as columns_
from service.importing.rows import Row

ROWS = "import_rows"
PROBLEMS = "import_problems"
# A point's hex EWKB header: little-endian, Point with SRID, SRID 4326.
_EWKB_POINT = struct.Struct("<BII")
_EWKB_XY = struct.Struct("<dd")
_EWKB_HEAD = _EWKB_POINT.pack(1, 0x20000001, 4326).hex()
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def staged_fields(layer: str) -> list[str]:
    """The writable fields of the layer that are columns of its table, in the table's order."""
    table = catalogue.layer(layer).table
    writable = fields.writable(layer)
    return [c.name for c in table.columns if c.name in writable]


def create(conn: Connection, layer: str) -> None:
    table = catalogue.layer(layer).table
    dialect = postgresql.dialect()
    typed = ", ".join(
        f'"{name}" {table.c[name].type.compile(dialect=dialect)}' for name in staged_fields(layer)
    )
    conn.execute(
        text(
            f"CREATE TEMP TABLE {ROWS} (n integer NOT NULL, {typed}, geom geometry(Point, 4326), "
            "missing text[]) ON COMMIT DROP"
        )
    )
    conn.execute(
        text(
            f"CREATE TEMP TABLE {PROBLEMS} (k bigint GENERATED ALWAYS AS IDENTITY, n integer NOT NULL, "
            "field text, header text, message text NOT NULL, rejects boolean NOT NULL) ON COMMIT DROP"
        )
    )


def copy_value(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def point_ewkb(lon: float, lat: float) -> str:
    return _EWKB_HEAD + _EWKB_XY.pack(lon, lat).hex()


def copy(conn: Connection, table: str, columns: Iterable[str], lines: list[str]) -> None:
    """COPY text lines (tab-separated, newline-ended) into a table of this transaction."""
    if not lines:
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        names = ", ".join(f'"{c}"' for c in columns)
        cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN", io.StringIO("".join(lines)))
    finally:
        cursor.close()


def problem_line(number: int, field_name: str | None, header: str | None, message: str, rejects: bool) -> str:
    return (
        "\t".join(
            (
                str(number),
                copy_value(field_name),
                copy_value(header),
                copy_value(message),
                "t" if rejects else "f",
            )
        )
        + "\n"
    )


PROBLEM_COLUMNS = ("n", "field", "header", "message", "rejects")
# How the reader's problems with a row's position begin (they name no column of their own).
POSITION_PROBLEMS = ("no coordinates", "coordinates", "longitude", "easting", "no geometry", "geometry is a")


def json_value(value: Any) -> Any:
    """A value read from a file as JSON would carry it to the editor: the validator checks the same."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass
class Headers:
    """The file's header text of each target (a field, `lon`, `lat`, `town`), and the column of a GIS
    file's geometry (where a file has no position columns)."""

    of: dict[str, str] = field(default_factory=dict)
    geometry: str | None = None

    def texts(self) -> set[str]:
        return set(self.of.values())

    def position(self) -> str | None:
        lon, lat = self.of.get(columns_.LON), self.of.get(columns_.LAT)
        return "/".join(h for h in (lon, lat) if h) or self.geometry

    def for_field(self, field_name: str | None) -> str | None:
        """The header of a validation error's field ("properties.capacity", "geometry.coordinates")."""
        if field_name is None:
            return None
        if field_name.startswith("geometry"):
            return self.position()
        if field_name.startswith("properties."):
            name = field_name.split(".", 2)[1]
            return self.of.get(name, name)  # a field the file has no column for: named as the layer names it
        return None


@dataclass
class Staged:
    """What the per-row pass saw."""

    rows: int = 0
    passed: int = 0
    rejected_rows: int = 0


class Stager:
    """Checks rows one by one and streams them (and their problems) into the staging tables."""

    def __init__(
        self, conn: Connection, layer: str, headers: Headers, *, upsert: bool, batch_rows: int,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:  # fmt: skip
        self.conn, self.layer, self.headers, self.upsert = conn, layer, headers, upsert
        self.batch_rows, self.on_batch = batch_rows, on_batch
        self.fields = staged_fields(layer)
        self.required = fields.required(layer)
        self.header_texts = headers.texts()
        self.rows: list[str] = []
        self.problems: list[str] = []
        self.staged = Staged()

    def add(self, row: Row) -> None:
        self.staged.rows += 1
        number = row.number
        rejected = False
        for problem in row.problems:
            header, _, said = problem.partition(": ")
            if said and header in self.header_texts:
                self.problems.append(problem_line(number, None, header, said, True))
            else:
                where = self.headers.position() if problem.startswith(POSITION_PROBLEMS) else None
                self.problems.append(problem_line(number, None, where, problem, True))
            rejected = True
        for warning in row.warnings:
            where = self.headers.position() if "coordinates" in warning or "outside" in warning else None
            self.problems.append(problem_line(number, None, where, warning, False))
        properties = {name: json_value(value) for name, value in row.properties.items()}
        feature = {"type": "Feature", "geometry": row.geometry, "properties": properties}
        checked = validation.check(self.layer, feature, mode="create")
        missing: list[str] = []
        for error in checked.found.errors:
            name = error.field.removeprefix("properties.")
            if (
                self.upsert
                and name in self.required
                and error.field == f"properties.{name}"
                and error.message.startswith("required:")
            ):
                missing.append(name)  # a row that updates a stored feature need not give it
                continue
            if self.upsert and error.field == "geometry" and error.message.startswith("required:"):
                missing.append("geometry")  # nor its position
                continue
            if row.problems and (error.field.startswith("geometry") and row.geometry is None):
                continue  # the reading problem says it already
            if row.problems and error.message.startswith("required:"):
                continue  # a value that could not be read is missing: its reading problem says why
            self.problems.append(
                problem_line(number, error.field, self.headers.for_field(error.field), error.message, True)
            )
            rejected = True
        for warning in checked.found.warnings:
            self.problems.append(problem_line(number, None, None, warning, False))
        geometry = checked.geometry
        if geometry is not None and geometry.warnings:
            for warning in geometry.warnings:
                self.problems.append(
                    problem_line(number, "geometry", self.headers.position(), warning, False)
                )
        if rejected:
            self.staged.rejected_rows += 1
        else:
            self.staged.passed += 1
            self.rows.append(self._line(number, checked.values, row.geometry, missing))
        if len(self.rows) >= self.batch_rows or len(self.problems) >= self.batch_rows:
            self.flush()

    def _line(
        self, number: int, values: dict[str, Any], geometry: dict[str, Any] | None, missing: list[str]
    ) -> str:
        cells = [str(number)]
        cells.extend(copy_value(values.get(name)) for name in self.fields)
        if geometry is None:
            cells.append("\\N")
        else:
            lon, lat = geometry["coordinates"][:2]
            cells.append(point_ewkb(float(lon), float(lat)))
        cells.append("{" + ",".join(missing) + "}" if missing else "\\N")
        return "\t".join(cells) + "\n"

    def flush(self) -> None:
        copy(self.conn, ROWS, ("n", *self.fields, "geom", "missing"), self.rows)
        copy(self.conn, PROBLEMS, PROBLEM_COLUMNS, self.problems)
        self.rows, self.problems = [], []
        if self.on_batch is not None:
            self.on_batch(self.staged.rows)
