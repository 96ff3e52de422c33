"""The one writer of XLSX reports: every report workbook the service produces reads the same way.

Each sheet opens with the report's title, the date it was made and the request's parameters, then
a bold header row (frozen, so it stays in view while scrolling) of labels with their units in the
chosen language. Numbers stay numbers with Excel number formats (a share is 0.937 shown as 93.7 %),
text is made inert (`sheet_value`: a name starting with "=" is never a formula), and columns are as
wide as their contents.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from service.cells import sheet_value
from service.reports.columns import Column, Lang

# openpyxl is imported by the functions that write a workbook: the service starts without it
if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER_ROW = 4  # title, date, parameters, then the header
MIN_WIDTH, MAX_WIDTH = 6, 60
WORDS = {
    "date": ("日期", "Date"),
    "parameters": ("参数", "Parameters"),
    "figure": ("指标", "Figure"),
    "unit": ("单位", "Unit"),
    "none": ("无", "none"),
}


def word(key: str, lang: Lang) -> str:
    zh, en = WORDS[key]
    return en if lang == "en" else zh


@dataclass(frozen=True)
class Formatted:
    """A value with a number format of its own (a published "over 230,000" beside a live count)."""

    value: Any
    number_format: str


@dataclass(frozen=True)
class Table:
    """A sheet of rows, one column per `Column` (rows are mappings by column key)."""

    zh: str
    en: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Figures:
    """A sheet of figures, one a row: its label, one value per `values` header, its unit. Each row
    keeps its own number format (a share beside a count)."""

    zh: str
    en: str
    values: Sequence[tuple[str, str]]  # (zh, en) header of each value column
    rows: Sequence[tuple[Column, Sequence[Any]]]


@dataclass(frozen=True)
class Report:
    zh: str
    en: str
    parameters: Sequence[tuple[str, Any]]  # (name, value) as the request gave them
    sheets: Sequence[Table | Figures]
    made: dt.datetime = field(default_factory=lambda: dt.datetime.now().replace(microsecond=0))

    def title(self, lang: Lang) -> str:
        return self.en if lang == "en" else self.zh


def parameter_text(parameters: Sequence[tuple[str, Any]], lang: Lang) -> str:
    """ "layer = transfer_stations; distance_m = 3000": what was asked, as one line."""
    shown = []
    for name, value in parameters:
        if value is None or value == [] or value == ():
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value))
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        shown.append(f"{name} = {value}")
    return "; ".join(shown) or word("none", lang)


def display_width(value: Any, number_format: str | None = None) -> int:
    """Characters a cell needs; Chinese characters count double."""
    if value is None:
        return 0
    if isinstance(value, bool):
        text = str(value)
    elif isinstance(value, int | float) and number_format:
        text = f"{value:,.2f}" if "%" not in number_format else "100.0%"
    else:
        text = str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _head(sheet: Worksheet, report: Report, lang: Lang) -> None:
    from openpyxl.styles import Alignment, Font

    sheet.append([report.title(lang)])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([word("date", lang), report.made])
    sheet["A2"].font = Font(bold=True)
    sheet["B2"].number_format = "yyyy-mm-dd hh:mm"
    sheet["B2"].alignment = Alignment(horizontal="left")
    sheet.append([word("parameters", lang), sheet_value(parameter_text(report.parameters, lang))])
    sheet["A3"].font = Font(bold=True)


def _header(sheet: Worksheet, headers: Sequence[str]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    sheet.append(list(headers))
    for cell in sheet[HEADER_ROW]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E8EEF4")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"


def _widths(sheet: Worksheet, widths: list[int]) -> None:
    from openpyxl.utils import get_column_letter

    for n, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(n)].width = max(MIN_WIDTH, min(MAX_WIDTH, width + 2))


def _table(sheet: Worksheet, table: Table, lang: Lang) -> None:
    headers = [c.header(lang) for c in table.columns]
    _header(sheet, headers)
    widths = [min(display_width(h), 24) for h in headers]  # long headers wrap
    for row in table.rows:
        values = [sheet_value(c.cell(c.value(row, lang), lang)) for c in table.columns]
        sheet.append(values)
        for n, (column, value) in enumerate(zip(table.columns, values, strict=True)):
            widths[n] = max(widths[n], display_width(value, column.number_format))
    for n, column in enumerate(table.columns, 1):
        if column.number_format:
            for (cell,) in sheet.iter_rows(min_row=HEADER_ROW + 1, min_col=n, max_col=n):
                cell.number_format = column.number_format
    _widths(sheet, widths)


def _figures(sheet: Worksheet, figures: Figures, lang: Lang) -> None:
    headers = [word("figure", lang), *(en if lang == "en" else zh for zh, en in figures.values)]
    _header(sheet, [*headers, word("unit", lang)])
    widths = [display_width(h) for h in headers] + [display_width(word("unit", lang))]
    for column, values in figures.rows:
        cells = [v if isinstance(v, Formatted) else column.cell(v, lang) for v in values]
        plain = [None if isinstance(v, Formatted) else sheet_value(v) for v in cells]
        sheet.append([column.label(lang), *plain, column.unit(lang)])
        row = sheet.max_row
        for n, value in enumerate(cells, 2):
            number_format = column.number_format
            if isinstance(value, Formatted):
                sheet.cell(row, n).value, number_format = value.value, value.number_format
            if number_format:
                sheet.cell(row, n).number_format = number_format
            widths[n - 1] = max(widths[n - 1], display_width(value, number_format) + 1)
        widths[0] = max(widths[0], display_width(column.label(lang)))
        widths[-1] = max(widths[-1], display_width(column.unit(lang)))
    _widths(sheet, widths)


def sheet_title(zh: str, en: str, lang: Lang) -> str:
    """Excel's sheet names: at most 31 characters, none of []:*?/\\."""
    name = en if lang == "en" else zh
    return "".join(ch for ch in name if ch not in "[]:*?/\\")[:31]


def workbook(report: Report, lang: Lang = "zh") -> bytes:
    """The report as .xlsx bytes."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for part in report.sheets:
        sheet = book.create_sheet(sheet_title(part.zh, part.en, lang))
        _head(sheet, report, lang)
        if isinstance(part, Table):
            _table(sheet, part, lang)
        else:
            _figures(sheet, part, lang)
        sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"  # the header on every printed page
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def filename_header(filename: str) -> dict[str, str]:
    return {"content-disposition": f'attachment; filename="{filename}"'}
