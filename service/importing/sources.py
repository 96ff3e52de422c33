"""Opening a city's file as rows of cells: CSV in whatever encoding old Excel saved, or an XLSX sheet.

Rows come out as the clerk numbers them (the spreadsheet's row, the CSV's line), title rows included:
finding the header is the caller's (`rows`), which knows the layer's column names.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from service.errors import BadParameter
from service.importing import archives, geodata

# Encodings tried when none is given, in this order: strict UTF-8 first (GB18030 decodes almost any
# bytes, so it can only be the fallback), then GB18030, a superset of GBK and GB2312.
UTF8 = "utf-8"
GB18030 = "gb18030"
_CHUNK = 1 << 16
_XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Source:
    """An opened file: its rows, and how it was read (for the report)."""

    path: Path
    kind: str  # "csv" or "xlsx"
    encoding: str | None  # CSV only
    sheet: str | None  # XLSX only

    def rows(self, position: Position | None = None) -> Iterator[tuple[int, list[Any]]]:
        """(number, cells) of every row that has a cell, numbered as the file's reader sees them;
        `position` follows a CSV's reading."""
        if self.kind == "csv":
            return _csv_rows(self.path, self.encoding or UTF8, position)
        return _xlsx_rows(self.path, self.sheet)


class Position:
    """How many bytes of a CSV its reading has taken in, asked when wanted (nothing per row)."""

    def __init__(self) -> None:
        self.file: IO[bytes] | None = None
        self.end: int | None = None  # where the reading stopped, once the file is closed

    def __call__(self) -> int | None:
        file = self.file
        return self.end if file is None or file.closed else file.tell()


def detect_encoding(path: Path) -> str:
    """`utf-8-sig` with a BOM, `utf-8` if the whole file decodes as UTF-8, otherwise `gb18030`.

    Reads the file in chunks: memory does not grow with its size.
    """
    with path.open("rb") as file:
        head = file.read(_CHUNK)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        decoder = codecs.getincrementaldecoder(UTF8)(errors="strict")
        chunk = head
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = file.read(_CHUNK)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return GB18030
    return UTF8


def _encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError as error:
        raise BadParameter("encoding", f"{name!r} is not an encoding (try utf-8, gbk, gb18030)") from error


def open_source(path: Path, *, encoding: str | None = None, sheet: str | None = None) -> Source:
    """The file at `path` by its content (an XLSX is a zip whatever its name), checked to be readable."""
    if not path.is_file():
        raise BadParameter("file", f"{path.name} is not a file")
    with path.open("rb") as file:
        head = file.read(_CHUNK)
    magic = head[:4]
    if magic == _XLSX_MAGIC:
        if path.suffix.lower() not in (".xlsx", ".xlsm"):
            raise BadParameter("file", f"{path.name} is a zip archive, not a CSV file")
        archives.members(path)  # a workbook is a zip: a bomb is refused before openpyxl unpacks it
        return Source(path, "xlsx", None, _sheet_name(path, sheet))
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        raise BadParameter("file", f"{path.name} is not an XLSX workbook (save it as .xlsx or CSV)")
    if not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and (
        b"\x00" in head or geodata.looks_like(head) != "text"
    ):
        raise BadParameter("file", f"{path.name} is not a text file: it holds {geodata.looks_like(head)}")
    if sheet is not None:
        raise BadParameter("sheet", "a CSV file has no sheets")
    if encoding is not None:
        chosen = "utf-8-sig" if _encoding(encoding) == "utf-8" else _encoding(encoding)
    else:
        chosen = detect_encoding(path)
    return Source(path, "csv", chosen, None)


def _csv_rows(path: Path, encoding: str, position: Position | None) -> Iterator[tuple[int, list[Any]]]:
    raw = path.open("rb")
    with raw, io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="") as file:
        if position is not None:
            position.file = raw  # the bytes decoded so far, to within a buffer's size
            position.end = None
        reader = csv.reader(file)
        try:
            start = 1
            for cells in reader:
                # A quoted cell may span lines: the row's number is the line it starts on.
                number, start = start, reader.line_num + 1
                if any(cell.strip() for cell in cells):
                    yield number, cells
        except UnicodeDecodeError as error:
            raise BadParameter(
                "encoding", f"{path.name} is not {encoding} near byte {error.start}: name its encoding"
            ) from error
        except csv.Error as error:
            raise BadParameter("file", f"{path.name} line {reader.line_num}: {error}") from error
        finally:
            if position is not None:
                position.end = raw.tell()


def _workbook(path: Path) -> Any:
    from openpyxl import load_workbook  # imported when a workbook is read: the service starts without it

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file; all mean "cannot read"
        raise BadParameter("file", f"{path.name} is not a readable XLSX workbook: {error}") from error


def _sheet_name(path: Path, sheet: str | None) -> str:
    workbook = _workbook(path)
    try:
        names = list(workbook.sheetnames)
        if sheet is None:
            return str(names[0])
        if sheet not in names:
            raise BadParameter("sheet", f"no sheet {sheet!r} in {path.name} (it has {', '.join(names)})")
        return sheet
    finally:
        workbook.close()


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[tuple[int, list[Any]]]:
    workbook = _workbook(path)
    try:
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        # Read-only sheets stream their rows; a merged cell's value is in its first cell only, which is
        # what the header finder expects (it fills a merged title across the row below).
        # Some writers store a wrong sheet size: read every row there is, not the size it claims.
        worksheet.reset_dimensions()
        for number, cells in enumerate(worksheet.iter_rows(min_row=1, values_only=True), start=1):
            values = list(cells)
            if any(value is not None and str(value).strip() for value in values):
                yield number, values
    finally:
        workbook.close()
