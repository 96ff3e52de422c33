"""A report's column: its label and unit in Chinese and English, and how its numbers read.

One definition serves the XLSX (number formats, so a share stays a number Excel can sum), the CSV
headers and the HTML tables (text).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
Kind = Literal["text", "count", "number", "tonnes", "share", "ratio", "metres", "degrees", "flag"]

# Excel number formats: counts with thousands separators, shares as percentages.
NUMBER_FORMATS: dict[Kind, str] = {
    "count": "#,##0",
    "number": "#,##0.0",
    "tonnes": "#,##0.00",
    "share": "0.0%",
    "ratio": "0.00",
    "metres": "#,##0",
    "degrees": "0.000000",
}


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: Kind = "text"
    unit_zh: str = ""
    unit_en: str = ""
    # the row's key holding the English value (a feature's `name_en`), read when English is asked for;
    # a row without one keeps the Chinese
    en_key: str | None = None

    def value(self, row: Mapping[str, Any], lang: Lang) -> Any:
        """The row's value of this column in `lang`: `en_key`'s when English is asked and it is set."""
        if lang == "en" and self.en_key is not None:
            english = row.get(self.en_key)
            if english is not None and str(english).strip():
                return english
        return row.get(self.key)

    def label(self, lang: Lang) -> str:
        return self.en if lang == "en" else self.zh

    def unit(self, lang: Lang) -> str:
        if self.kind == "share":
            return "%"
        return self.unit_en if lang == "en" else self.unit_zh

    def header(self, lang: Lang) -> str:
        """The label with its unit, as a table header: "日产生量（吨/日）" / "generated (t/day)"."""
        unit = self.unit(lang)
        if not unit:
            return self.label(lang)
        return f"{self.label(lang)}（{unit}）" if lang == "zh" else f"{self.label(lang)} ({unit})"

    @property
    def number_format(self) -> str | None:
        return NUMBER_FORMATS.get(self.kind)

    def text(self, value: Any, lang: Lang = "zh") -> str:
        """The value as a person reads it (HTML): 93.7 %, 1,249, 288.00; a dash for nothing."""
        if value is None or value == "":
            return "–"
        if self.kind == "flag":
            return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
        if self.kind == "share":
            return f"{value:.1%}"
        if self.kind in ("count", "metres"):
            return f"{value:,.0f}"
        if self.kind == "number":
            return f"{value:,.1f}"
        if self.kind == "tonnes":
            return f"{value:,.2f}"
        if self.kind == "ratio":
            return f"{value:.2f}"
        if self.kind == "degrees":
            return f"{value:.6f}"
        return str(value)

    def cell(self, value: Any, lang: Lang = "zh") -> Any:
        """The value as a spreadsheet cell: numbers stay numbers, flags become words."""
        if self.kind == "flag" and value is not None:
            return self.text(value, lang)
        return value


# Columns several reports share.
CODE = Column("code", "编码", "code")
NAME = Column("name", "名称", "name", en_key="name_en")
TOWN_CODE = Column("town_code", "乡镇（街道）代码", "town code")
LON = Column("lon", "经度", "longitude", "degrees", "°", "°")
LAT = Column("lat", "纬度", "latitude", "degrees", "°", "°")
