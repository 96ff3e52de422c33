"""Text cells that spreadsheets and XML readers take as plain data.

Excel, LibreOffice and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` (also after a
tab or carriage return) as a formula: a facility named `=HYPERLINK("http://…")` would become a live
link in an inspector's sheet. Such text gets a leading apostrophe, which the spreadsheet shows as
text. Numbers are never touched (a negative number stays a number), nor is text that is a plain
number written out ("-12.5").
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# Characters XML 1.0 (XLSX, KML) cannot carry at all: C0 controls other than tab, newline, CR.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def inert_text(text: str) -> str:
    """The text, with an apostrophe in front when a spreadsheet would read it as a formula."""
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def inert(value: Any) -> Any:
    """A cell value: text made inert, anything else (numbers, dates, None) as it is."""
    return inert_text(value) if isinstance(value, str) else value


def sheet_value(value: Any) -> Any:
    """A value for an XLSX cell: text inert and without the characters XML cannot carry (openpyxl
    would refuse them), anything else as it is."""
    return xml_text(inert_text(value)) if isinstance(value, str) else value


def xml_text(text: str) -> str:
    """The text without the control characters XML cannot hold (they would make the file unreadable)."""
    return _NOT_XML.sub("", text)
