"""A CSV staged in bulk: its cells copied into a raw table, the plain rows converted in SQL, the rest
checked row by row as any other file's.

Reading a million rows one by one in Python is what made a large import slow. Here the file's data
rows go to `import_raw` (one text column per column of the header) with COPY: straight from the file
when it is a simple one (no quotes, one row per line), otherwise through Python's csv reader. A row is
*plain* when every cell the layer reads is one that the row-by-row reading would take without a word:
decimal degrees inside China, bare numbers within their field's range, words of a vocabulary, dates as
YYYY-MM-DD, every required field given. Plain rows are converted by one INSERT … SELECT into
`import_rows`; every other row is read back and goes through `rows` and `staging.Stager`, so each
problem and warning is said exactly as for a row of any other file. Both lanes give the same staged
rows (tests/test_importing_bulk.py compares them on dirty files).

`_Plain` restates in SQL what the editing validation accepts without a word: a rule added to
`validation` must be added there too, or make the rows it concerns non-plain.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import psycopg2
from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql

from service.editing import fields as editing_fields
from service.editing import validation
from service.features.catalogue import Field
from service.importing import checks, columns, coordinates, staging, units, values
from service.importing.rows import TableFile
from service.importing.staging import ROWS, Stager

RAW = "import_raw"
# Bytes handed to COPY per read, and between two progress reports.
_CHUNK = 1 << 20
_PROGRESS_EVERY = 8 << 20
# Python's encodings of a CSV that PostgreSQL reads itself (all keep ASCII bytes as ASCII).
_SERVER_ENCODINGS = {"utf-8": "UTF8", "utf-8-sig": "UTF8", "gb18030": "GB18030", "gbk": "GBK"}
# What Python's str.strip() takes off a cell's ends: btrim() with these is the row-by-row reading's strip.
SPACES = (
    " \t\n\r\v\f\x1c\x1d\x1e\x1f\x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
# The same as code points, and 0: what ascii() gives for an empty cell (trimmed to nothing, NULL).
SPACE_CODES = [0, *map(ord, SPACES)]
# A bare number the row-by-row lane reads to the same value: digits before and after one point (at most
# 15 significant digits: what a float, which the editing validation is given, carries exactly).
NUMBER_DIGITS = (9, 6)
DEGREE_DIGITS = (3, 12)
DIGITS = "0123456789"
# The facilities' code format (fields.CODE_PATTERNS) as characters allowed and characters not first.
# translate() looks each character of a cell up in the allowed ones from the start: digits and capitals
# first (a code is mostly those) took about a third off the conversion of 200,000 rows (D120).
CODE_CHARACTERS = ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.abcdefghijklmnopqrstuvwxyz", "_.-")


def usable(opened: object) -> bool:
    """Whether a file goes the bulk lane: a CSV (a workbook's typed cells and a GIS file's features are
    read row by row)."""
    return isinstance(opened, TableFile) and opened.format == "csv"


class NotBulk(Exception):
    """The file cannot be staged in bulk; nothing was staged, and the row lane reads it."""


@dataclass
class Loaded:
    rows: int  # data rows (rows with a cell that is not blank)
    plain: int  # of which staged in SQL


def stage(
    conn: Connection, opened: TableFile, layer: str, stager: Stager, crs: str | None,
    area: tuple[float, float, float, float] | None, progress: Callable[[int, int], None],
) -> Loaded:  # fmt: skip
    """The file's data rows into `import_rows` (and their problems into `import_problems`), telling
    `progress(rows staged, bytes read)` as COPY reads the file and as the rows are staged."""
    width = len(opened.header)
    _load_raw(conn, opened, width, lambda at: progress(0, at))
    size = Path(opened.path).stat().st_size
    conn.execute(text(f"DELETE FROM {RAW} WHERE {_blank(width)}"), {"spaces": SPACES})
    plain = _Plain(layer, opened, crs, area)
    plain.utf8 = conn.execute(text("SELECT current_setting('server_encoding') = 'UTF8'")).scalar_one()
    names = staging.staged_fields(layer)
    inserted = conn.execute(
        text(
            f"""INSERT INTO {ROWS} (n, {", ".join(f'"{n}"' for n in names)}, geom, missing)
                {plain.select(names)}"""
        ),
        plain.params,
    ).rowcount
    progress(inserted, size)
    stager.on_batch = lambda rows: progress(inserted + rows, size)
    cells = ", ".join(f"r.c{i}" for i in range(width))
    rest = checks._stream(
        conn,
        f"""SELECT r.n, {cells} FROM {RAW} r
            WHERE NOT EXISTS (SELECT 1 FROM {ROWS} s WHERE s.n = r.n) ORDER BY r.n""",
    )
    for record in rest:
        stager.add(opened.row(record[0], list(record[1:])))
    stager.flush()
    return Loaded(inserted + stager.staged.rows, inserted)


# -- the raw table --------------------------------------------------------------------------------


def _create_raw(conn: Connection, width: int, first: int) -> None:
    cells = ", ".join(f"c{i} text" for i in range(width))
    conn.execute(text(f"DROP TABLE IF EXISTS {RAW}"))
    conn.execute(
        text(
            f"CREATE TEMP TABLE {RAW} (n integer GENERATED BY DEFAULT AS IDENTITY (START WITH {first}), "
            f"{cells}) ON COMMIT DROP"
        )
    )


def _load_raw(conn: Connection, opened: TableFile, width: int, on_bytes: Callable[[int], None]) -> None:
    path, encoding = Path(opened.path), opened.encoding or "utf-8"
    header_end = opened.header_end
    start = _simple_start(path, header_end) if encoding in _SERVER_ENCODINGS else None
    if start is not None:
        savepoint = conn.begin_nested()
        try:
            _create_raw(conn, width, header_end + 1)
            with path.open("rb") as file:
                file.seek(start)
                _copy(conn, f"COPY {RAW} ({_columns(width)}) FROM STDIN WITH (FORMAT csv, "
                      f"ENCODING '{_SERVER_ENCODINGS[encoding]}')", _Reported(file, on_bytes))  # fmt: skip
        except psycopg2.DataError:
            # a row of another width, a stray byte: the Python reader says what it is, or reads it
            savepoint.rollback()
        else:
            savepoint.commit()
            return
    savepoint = conn.begin_nested()
    try:
        _create_raw(conn, width, 1)
        _copy_read(conn, opened, width, on_bytes)
    except psycopg2.DataError as error:
        # text COPY cannot carry (a NUL character): the row lane reads the file and says what it is
        savepoint.rollback()
        raise NotBulk(str(error)) from error
    savepoint.commit()


def _columns(width: int) -> str:
    return ", ".join(f"c{i}" for i in range(width))


def _copy(conn: Connection, sql: str, source: IO[Any] | io.RawIOBase) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(sql, source, size=_CHUNK)
    finally:
        cursor.close()


def _copy_read(conn: Connection, opened: TableFile, width: int, on_bytes: Callable[[int], None]) -> None:
    """The data rows as Python's csv reader numbers and splits them, written again for COPY."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    sql = f"COPY {RAW} (n, {_columns(width)}) FROM STDIN WITH (FORMAT csv)"
    padding = [""] * width
    for number, cells in opened.records():
        if len(cells) != width:
            cells = (cells + padding)[:width]
        writer.writerow([number, *cells])
        if buffer.tell() >= _PROGRESS_EVERY:
            buffer.seek(0)
            _copy(conn, sql, buffer)
            buffer.seek(0)
            buffer.truncate()
            on_bytes(opened.bytes_read() or 0)
    buffer.seek(0)
    _copy(conn, sql, buffer)


class _Reported(io.RawIOBase):
    """A file read by COPY that reports how far it has got."""

    def __init__(self, file: IO[bytes], on_bytes: Callable[[int], None]) -> None:
        self.file, self.on_bytes, self.reported = file, on_bytes, file.tell()

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        at = self.file.tell()
        if at - self.reported >= _PROGRESS_EVERY:
            self.on_bytes(at)
            self.reported = at
        return data

    def readable(self) -> bool:
        return True


def _simple_start(path: Path, header_end: int) -> int | None:
    """The byte where the data rows begin, when the file is one PostgreSQL's COPY reads as Python's csv
    reader does (no quotes, one row per line, no blank lines, CRLF or LF throughout); else None."""
    start: int | None = None
    lines = 0
    tail = b""
    crlf = cr = 0
    with path.open("rb") as file:
        offset = 0
        while chunk := file.read(8 * _CHUNK):
            if b'"' in chunk or b"\\." in chunk:
                return None
            joined = tail + chunk
            if b"\n\n" in joined or b"\n\r\n" in joined or (offset == 0 and chunk.startswith((b"\n", b"\r"))):
                return None
            crlf += joined.count(b"\r\n") - tail.count(b"\r\n")
            cr += chunk.count(b"\r")
            if start is None:
                at = -1
                while lines < header_end:
                    at = chunk.find(b"\n", at + 1)
                    if at < 0:
                        break
                    lines += 1
                if lines == header_end:
                    start = offset + at + 1
            offset += len(chunk)
            tail = chunk[-1:]
    if cr != crlf or start is None:
        return None
    return start


def _blank(width: int) -> str:
    """A row whose cells are all empty or white space: no data row (the csv reader skips it too)."""
    return " AND ".join(f"COALESCE(btrim(c{i}, :spaces), '') = ''" for i in range(width))


# -- plain rows -----------------------------------------------------------------------------------


class _Plain:
    """The SELECT of the plain rows, converted, for one file's columns and a layer.

    Three levels, each computing once per row what the next uses: the cells the layer reads, trimmed
    (`t3`); the values converted from them (`v_capacity`, `v_geom`); and the rows whose every condition
    holds. Only cheap string functions test a cell (a regular expression per cell made a million rows
    slow); whatever is unusual fails a condition and goes row by row."""

    def __init__(
        self, layer: str, opened: TableFile, crs: str | None, area: tuple[float, float, float, float] | None
    ) -> None:
        self.layer = layer
        self.params: dict[str, Any] = {"spaces": SPACES, "space_codes": SPACE_CODES}
        self.utf8 = False  # whether ascii() gives a cell's first code point (the server's encoding is UTF-8)
        self.cells: set[int] = set()
        self.conditions: list[str] = []
        self.converted: dict[str, str] = {}  # the second level's values, by name (`v_<name>`)
        self.out: dict[str, str] = {}  # what the outer level stores, by field name (and `geom`)
        matched = opened.matched
        writable = editing_fields.writable(layer)
        self.capacity: tuple[str, str] | None = None
        for index, target in matched.targets.items():
            if target in writable:
                self._field(writable[target], index, matched.units.get(index))
        self._position(matched.column_of(columns.LON), matched.column_of(columns.LAT), crs, area)
        self._capacity_unit(writable)
        for name in sorted(editing_fields.required(layer)):
            self.conditions.append(f"{self.value(name)} IS NOT NULL")
        if layer == "villages":
            rebuilt, households = self.value("toilets_rebuilt"), self.value("households")
            self.conditions.append(f"NOT COALESCE({rebuilt} > {households}, false)")

    def select(self, names: list[str]) -> str:
        trimmed = ", ".join(f"{_trimmed(f'c{i}', self.utf8)} AS t{i}" for i in sorted(self.cells))
        converted = ", ".join(f"{sql} AS v_{name}" for name, sql in self.converted.items())
        where = " AND ".join(f"COALESCE({c}, false)" for c in self.conditions) or "true"
        out = ", ".join([*(self.value(name) for name in names), self.value("geom")])
        trimmed = trimmed or "1 AS t_"
        return f"""SELECT n, {out}, NULL
                   FROM (SELECT *, {converted or "1 AS v_"}
                         FROM (SELECT n, {trimmed} FROM {RAW} OFFSET 0) trimmed
                         OFFSET 0) converted
                   WHERE {where}"""

    def value(self, name: str) -> str:
        """What the outer level stores for a field, or NULL when the file gives it no column."""
        return self.out.get(name, "NULL")

    def _convert(self, name: str, sql: str) -> None:
        self.converted[name] = sql
        self.out[name] = f"v_{name}"

    def _param(self, value: Any) -> str:
        key = f"p{len(self.params)}"
        self.params[key] = value
        return f":{key}"

    def _field(self, f: Field, index: int, header_unit: str | None) -> None:
        self.cells.add(index)
        cell = f"t{index}"
        if f.kind == "string":
            self._string(f, cell)
        elif f.kind in ("integer", "number"):
            scaled = units.header_scale(header_unit)
            if scaled is None:  # a unit the reader does not know: every row says so, row by row
                self.conditions.append(f"{cell} IS NULL")
                return
            factor, unit = scaled
            number = f"CAST({cell} AS numeric) * {self._param(factor)}"
            self._convert(f.name, f"CASE WHEN {_bare_number(cell, *NUMBER_DIGITS)} THEN {number} END")
            value = f"v_{f.name}"
            self.conditions.append(f"({cell} IS NULL OR {value} IS NOT NULL)")
            self.conditions.append(f"({value} IS NULL OR ({self._number_ok(f, value)}))")
            if unit is not None and f.name == "capacity":
                self.capacity = (cell, unit)
        elif f.kind == "boolean":
            yes, no = self._param(sorted(values._YES)), self._param(sorted(values._NO))
            folded = f"lower({cell})"
            self._convert(
                f.name, f"CASE WHEN {folded} = ANY({yes}) THEN true WHEN {folded} = ANY({no}) THEN false END"
            )
            self.conditions.append(f"({cell} IS NULL OR v_{f.name} IS NOT NULL)")
        elif f.kind == "date":
            dashes = (
                f"translate({cell}, '{DIGITS}', '') = '--' AND length({cell}) = 10 "
                f"AND substr({cell}, 5, 1) = '-' AND substr({cell}, 8, 1) = '-'"
            )
            self._convert(f.name, f"CASE WHEN {dashes} THEN {_safe_date(cell)} END")
            self.conditions.append(f"({cell} IS NULL OR v_{f.name} IS NOT NULL)")
        else:  # a kind a file's cell is not read as: the row-by-row lane says so
            self.conditions.append(f"{cell} IS NULL")

    def _string(self, f: Field, cell: str) -> None:
        longest = editing_fields.MAX_LENGTH.get(f.name, editing_fields.MAX_TEXT_LENGTH)
        self.conditions.append(f"({cell} IS NULL OR char_length({cell}) <= {longest})")
        pattern = editing_fields.CODE_PATTERNS.get(self.layer)
        if f.name == "code" and pattern:
            self.conditions.append(f"({cell} IS NULL OR {self._code_format(cell, pattern)})")
        if f.vocabulary is None:
            self._convert(f.name, cell)
            return
        words = {word: word for word in f.vocabulary}
        for said, stored in values.WORDS.get(f.name, {}).items():
            if stored in f.vocabulary:
                words.setdefault(said, stored)
        keys, stored_values = self._param(list(words)), self._param(list(words.values()))
        self._convert(
            f.name, f"(CAST({stored_values} AS text[]))[array_position(CAST({keys} AS text[]), {cell})]"
        )
        self.conditions.append(f"({cell} IS NULL OR v_{f.name} IS NOT NULL)")

    def _code_format(self, cell: str, pattern: str) -> str:
        if pattern == editing_fields.CODE_PATTERNS.get("livestock_farms"):
            allowed, not_first = CODE_CHARACTERS
            return (
                f"translate({cell}, {self._param(allowed)}, '') = '' "
                f"AND strpos({self._param(not_first)}, left({cell}, 1)) = 0"
            )
        return f"{cell} ~ {self._param(pattern)}"  # another format: its pattern (rarely a hot path)

    def _number_ok(self, f: Field, number: str) -> str:
        """The editing validation's range, whole-number, size and precision checks of a number."""
        checks_ = []
        if f.name in editing_fields.RANGES:
            low, high = editing_fields.RANGES[f.name]
            checks_.append(f"{number} >= {self._param(Decimal(str(low)))}")
            if high is not None:
                checks_.append(f"{number} <= {self._param(Decimal(str(high)))}")
        elif f.name.endswith("_id"):
            checks_.append(f"{number} >= 1")
        column_type = f.column.type
        if f.kind == "integer":
            checks_.append(f"{number} = trunc({number})")
            limit = next(
                (n for t, n in validation.INTEGER_LIMITS.items() if isinstance(column_type, t)), 2**31 - 1
            )
            checks_.append(f"{number} <= {limit}")
        else:
            precision, scale = getattr(column_type, "precision", None), getattr(column_type, "scale", None)
            if precision is not None and scale is not None:
                checks_.append(f"{number} = round({number}, {int(scale)})")
                checks_.append(f"abs({number}) < {self._param(Decimal(10) ** (precision - scale))}")
        return " AND ".join(checks_) or "true"

    def _position(
        self,
        lon: int | None,
        lat: int | None,
        crs: str | None,
        area: tuple[float, float, float, float] | None,
    ) -> None:
        if lon is None or lat is None or crs is not None:
            # no position columns (the row-by-row lane says what is missing), or a crs to convert from
            self.conditions.append("false")
            return
        self.cells.update((lon, lat))
        x, y = f"t{lon}", f"t{lat}"
        west, east = coordinates.CHINA_LON
        south, north = coordinates.CHINA_LAT
        if area is not None:
            west, south = max(west, area[0]), max(south, area[1])
            east, north = min(east, area[2]), min(north, area[3])
        self._convert("x", f"CASE WHEN {_bare_number(x, *DEGREE_DIGITS)} THEN CAST({x} AS float8) END")
        self._convert("y", f"CASE WHEN {_bare_number(y, *DEGREE_DIGITS)} THEN CAST({y} AS float8) END")
        self.conditions.append(
            f"v_x BETWEEN {self._param(west)} AND {self._param(east)} "
            f"AND v_y BETWEEN {self._param(south)} AND {self._param(north)}"
        )
        self.out["geom"] = "ST_SetSRID(ST_MakePoint(v_x, v_y), 4326)"

    def _capacity_unit(self, writable: dict[str, Field]) -> None:
        """A capacity header's unit ("处理能力(吨/日)") is the capacity_unit of a row that gives a capacity;
        a row whose own capacity_unit says otherwise goes row by row (which says so)."""
        if self.capacity is None or "capacity_unit" not in writable:
            return
        cell, unit = self.capacity
        allowed = writable["capacity_unit"].vocabulary
        if allowed is not None and unit not in allowed:  # "m³/d" where the layer stores t/d: said row by row
            self.conditions.append(f"{cell} IS NULL")
            return
        stored = self._param(unit)
        given = self.value("capacity_unit")
        if given != "NULL":
            self.conditions.append(f"({cell} IS NULL OR {given} IS NULL OR {given} = {stored})")
        self.out["capacity_unit"] = (
            f"CASE WHEN {cell} IS NOT NULL THEN CAST({stored} AS text) ELSE {given} END"
        )


def _trimmed(cell: str, utf8: bool) -> str:
    """A cell stripped as Python strips it, NULL when nothing is left; trimmed only when an end is white
    space (most cells are clean, and btrim() with a set of characters is slow on Chinese text). In a
    UTF-8 database an end is tested by its code point (`ascii`; 0 for an empty cell), a third of the
    time of looking the character up in `SPACES`."""
    if utf8:
        clean = f"ascii({cell}) <> ALL(:space_codes) AND ascii(right({cell}, 1)) <> ALL(:space_codes)"
    else:
        clean = f"strpos(:spaces, left({cell}, 1)) = 0 AND strpos(:spaces, right({cell}, 1)) = 0"
    return f"CASE WHEN {clean} THEN {cell} ELSE NULLIF(btrim({cell}, :spaces), '') END"


def _bare_number(cell: str, whole: int, decimals: int) -> str:
    """Whether a trimmed cell is digits with at most one point inside them (no sign, no exponent)."""
    return (
        f"translate({cell}, '{DIGITS}', '') IN ('', '.') "
        f"AND left({cell}, 1) <> '.' AND right({cell}, 1) <> '.' "
        f"AND CASE WHEN strpos({cell}, '.') = 0 THEN length({cell}) <= {whole} "
        f"ELSE strpos({cell}, '.') <= {whole + 1} AND length({cell}) - strpos({cell}, '.') <= {decimals} END"
    )


def _safe_date(cell: str) -> str:
    """A YYYY-MM-DD text as a date between 1900 and 2100, or NULL (never an error) when it is none."""
    year, month, day = (f"CAST(substr({cell}, {a}, {b}) AS integer)" for a, b in ((1, 4), (6, 2), (9, 2)))
    return (
        f"CASE WHEN {year} BETWEEN 1900 AND 2100 AND {month} BETWEEN 1 AND 12 AND {day} >= 1 AND "
        f"{day} <= extract(day FROM make_date({year}, {month}, 1) + interval '1 month - 1 day') "
        f"THEN make_date({year}, {month}, {day}) END"
    )


_DIALECT = postgresql.dialect()
