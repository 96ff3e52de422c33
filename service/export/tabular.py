"""CSV (UTF-8 with BOM, so Excel reads Chinese) and XLSX: one row per feature, geometry as lon/lat or WKT."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Generator
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

from service.cells import inert_text, sheet_value
from service.errors import TooLarge
from service.export.layer_reader import LayerExport, Progress, counting, value_text, x_y
from service.features.query import output_geometry

XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header


def geometry_columns(export: LayerExport, mode: str) -> tuple[list[str], list[ColumnElement[Any]]]:
    """("x", "y") for point layers in "xy" mode (lon/lat in CRS84), else one WKT column."""
    crs = export.query.crs
    geom = output_geometry(export.query.layer, crs, crs_axis_order=False)
    if mode == "xy":
        names = ["lon", "lat"] if not crs.metres else ["x", "y"]
        return names, x_y(geom)
    return ["WKT"], [func.ST_AsText(geom, crs.digits)]  # the column name GDAL and QGIS look for


def default_geometry_mode(export: LayerExport) -> str:
    return "xy" if export.query.layer.geometry_type == "Point" else "wkt"


def csv_chunks(
    export: LayerExport, mode: str, progress: Progress | None = None
) -> Generator[bytes, None, None]:
    geometry_names, geometry = geometry_columns(export, mode)
    header = ["id", *(f.name for f in export.fields), *geometry_names]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    text.write("\ufeff")
    writer.writerow(header)
    for n, row in enumerate(counting(export.rows([*export.attribute_columns(), *geometry]), progress), 1):
        writer.writerow([inert_text(v) if isinstance(v, str) else value_text(v) for v in row])
        if n % 2000 == 0:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode()


def _cell(sheet: Any, value: Any) -> Any:
    if isinstance(value, dt.datetime):  # Excel has no time zones: UTC, stated in the header
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(sheet, value.astimezone(dt.UTC).replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, Decimal):
        return float(value)
    return sheet_value(value)  # openpyxl would store "=…" as a formula, and refuses control characters


def write_xlsx(export: LayerExport, mode: str, path: Path, progress: Progress | None = None) -> int:
    """Write the sheet in openpyxl's write-only mode (rows go to disk as they come)."""
    # imported here: openpyxl is loaded by the first workbook, not by the service's start
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    if export.count() > XLSX_MAX_ROWS:
        raise TooLarge(f"more than {XLSX_MAX_ROWS:,} features: too many for one Excel sheet; use CSV")
    geometry_names, geometry = geometry_columns(export, mode)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(export.query.layer.name[:31])
    header = ["id"]
    for f in export.fields:
        header.append(f"{f.name} (UTC)" if f.kind == "datetime" else f.name)
    sheet.freeze_panes = "A2"  # the header stays in view; no title above it: GDAL reads row 1
    for n, name in enumerate([*header, *geometry_names], 1):
        sheet.column_dimensions[get_column_letter(n)].width = max(10, len(name) + 2)
    sheet.append([*header, *geometry_names])
    n = 0
    for n, row in enumerate(counting(export.rows([*export.attribute_columns(), *geometry]), progress), 1):  # noqa: B007
        sheet.append([_cell(sheet, v) for v in row])
    book.save(path)
    return n
