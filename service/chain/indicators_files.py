"""The indicators as files to download: an XLSX report (figures beside the published ones, towns,
plants) and a CSV (the city, then one row per town)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from service.cells import inert
from service.chain.indicator_figures import FIGURES, PUBLISHED, SHOWN
from service.reports.columns import CODE, Column, Lang
from service.reports.workbook import Figures, Formatted, Report, Table, workbook

PLACE = Column("name", "名称", "name")
PLANT_COLUMNS = (
    CODE,
    PLACE,
    Column("status", "状态", "status"),
    Column("capacity", "处理能力", "capacity", "tonnes", "吨/日", "t/day"),
    Column("inflow_t_per_day", "进厂量", "inflow", "tonnes", "吨/日", "t/day"),
    Column("utilisation", "负荷率", "utilisation", "share"),
)
LIVE = ("本系统（实时）", "live")
PUBLISHED_HEADER = ("公开数据", "published")


def local_name(row: dict[str, Any], lang: Lang) -> str:
    """The English name where one is recorded and English is asked for, else the Chinese."""
    return str(row.get("name_en") or row["name"]) if lang == "en" else str(row["name"])


def title(scope: str, lang: Lang) -> str:
    return f"{scope} rural sanitation indicators" if lang == "en" else f"{scope}农村环卫指标"


def published_cell(key: str) -> Formatted | None:
    published = PUBLISHED.get(key)
    if published is None:
        return None
    column = FIGURES[key]
    base = column.number_format or "General"
    return Formatted(published.value, f'">"{base}' if published.at_least else base)


def indicators_workbook(
    data: dict[str, Any],
    parameters: list[tuple[str, Any]],
    lang: Lang,
    city_scope: bool,
    status: Mapping[str, str],
) -> bytes:
    """The JSON of `/indicators` (same request) as an .xlsx report; `status`: the statuses' names in
    `lang`."""
    city = data["city"]
    scope = local_name(city, lang) if city.get("name") else ""
    if city_scope:
        headers = [LIVE, PUBLISHED_HEADER]
        rows = [(FIGURES[k], [city.get(k), published_cell(k)]) for k in SHOWN]
    else:
        headers, rows = [LIVE], [(FIGURES[k], [city.get(k)]) for k in SHOWN]
    towns = [{**t, "name": local_name(t, lang)} for t in data["towns"]]
    plants = [
        {**p, "name": local_name(p, lang), "status": status.get(p["status"], p["status"])}
        for p in data["plants"]
    ]
    town_place = Column("name", "乡镇（街道）", "town")
    report = Report(
        title(scope, "zh"),
        title(scope, "en"),
        parameters,
        [
            Figures("指标", "figures", headers, rows),
            Table("乡镇", "towns", [CODE, town_place, *(FIGURES[k] for k in SHOWN)], towns),
            Table("处理厂", "treatment plants", PLANT_COLUMNS, plants),
        ],
    )
    return workbook(report, lang)


def csv_value(column: Column, value: Any) -> Any:
    """Shares as percentages (the header says %), numbers rounded to what they mean."""
    if value is None:
        return ""
    if column.kind == "share":
        return round(value * 100, 2)
    if isinstance(value, float):
        return round(value, 3)
    return value


def indicators_csv(data: dict[str, Any], lang: Lang, city_scope: bool) -> bytes:
    """UTF-8 with a BOM (so Excel reads the Chinese): the city first, then each town (a town's
    figures alone when the request names one)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    columns = [FIGURES[k] for k in SHOWN]
    writer.writerow([CODE.header(lang), PLACE.header(lang), *(c.header(lang) for c in columns)])
    for row in (data["city"], *data["towns"]) if city_scope else (data["city"],):
        name = inert(local_name(row, lang)) if row.get("name") else ""
        writer.writerow([row.get("code") or "", name, *(csv_value(c, row.get(c.key)) for c in columns)])
    return out.getvalue().encode("utf-8")
