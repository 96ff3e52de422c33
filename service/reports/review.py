"""The review rhythm for people: the week's or month's figures per town and grid as an HTML page (the
service's navigation, links to the previous and next period) and as an XLSX workbook."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any

from service.navigation import page_html
from service.reports.columns import Column, Lang
from service.reports.overdue import html_table
from service.reports.workbook import Report, Table, workbook

TITLES = {
    "week": ("巡查周报", "Weekly inspection review"),
    "month": ("巡查月报", "Monthly inspection review"),
}
FIGURES = (
    Column("facilities", "应巡查设施", "facilities", "count", "处", ""),
    Column("due", "到期", "due", "count", "处", ""),
    Column("done", "已巡查", "inspections", "count", "次", ""),
    Column("overdue", "逾期", "overdue", "count", "处", ""),
    Column("defects_open", "问题未整改", "defects open", "count", "处", ""),
    Column("defects_closed", "问题已整改", "defects closed", "count", "处", ""),
    Column("outages", "停运", "outages", "count", "次", ""),
    Column("outage_hours", "停运时长", "outage time", "number", "小时", "h"),
)
TOWN_COLUMNS = (Column("code", "乡镇代码", "town code"), Column("name", "乡镇", "town"), *FIGURES)
GRID_COLUMNS = (
    Column("code", "网格编号", "grid code"),
    Column("name", "网格", "grid"),
    Column("responsible_leader", "包靠领导", "responsible leader"),
    *FIGURES,
)
CITY_COLUMNS = FIGURES


def _word(pair: tuple[str, str], lang: Lang) -> str:
    return pair[1] if lang == "en" else pair[0]


def _title(data: Mapping[str, Any], lang: Lang) -> str:
    return f"{_word(TITLES[data['period']], lang)} {data['label']}"


def page(data: Mapping[str, Any], base: str, lang: Lang, query: Mapping[str, str]) -> str:
    start = dt.date.fromisoformat(data["start"][:10])
    step = dt.timedelta(days=7) if data["period"] == "week" else dt.timedelta(days=1)
    previous = start - step
    following = dt.date.fromisoformat(data["end"][:10])

    def href(day: dt.date | None = None, f: str | None = None) -> str:
        params = {**query, **({"date": day.isoformat()} if day else {}), **({"f": f} if f else {})}
        return html.escape(f"{base}/inspections/review?" + "&".join(f"{k}={v}" for k, v in params.items()))

    other = "month" if data["period"] == "week" else "week"
    switch = {**query, "period": other}
    links = (
        f'<p><a href="{href(previous)}">← {html.escape(_word(("上一期", "previous"), lang))}</a> · '
        f'<a href="{href(following)}">{html.escape(_word(("下一期", "next"), lang))} →</a> · '
        f'<a href="{html.escape(base)}/inspections/review?'
        + html.escape("&".join(f"{k}={v}" for k, v in switch.items()))
        + f'">{html.escape(_word(TITLES[other], lang))}</a> · '
        f'<a href="{href(f="xlsx")}">{html.escape(_word(("下载 Excel", "Download XLSX"), lang))}</a></p>'
    )
    note = ""
    if data["current"]:
        unfinished = ("本期尚未结束：逾期按当前时间计。", "This period is not over: overdue as of now.")
        note = f"<p>{html.escape(_word(unfinished, lang))}</p>"
    body = (
        links
        + note
        + f"<h2>{html.escape(_word(('全市', 'City'), lang))}</h2>"
        + html_table(CITY_COLUMNS, [data["city"]], lang)
        + f"<h2>{html.escape(_word(('按乡镇', 'By town'), lang))}</h2>"
        + html_table(TOWN_COLUMNS, data["towns"], lang)
        + f"<h2>{html.escape(_word(('按网格', 'By grid'), lang))}</h2>"
        + html_table(GRID_COLUMNS, data["grids"], lang)
    )
    return page_html(_title(data, lang), body, base, lang)


def xlsx(data: Mapping[str, Any], parameters: Sequence[tuple[str, Any]], lang: Lang) -> bytes:
    zh, en = TITLES[data["period"]]
    report = Report(
        f"{zh} {data['label']}",
        f"{en} {data['label']}",
        parameters,
        [
            Table("乡镇", "towns", TOWN_COLUMNS, data["towns"]),
            Table("网格", "grids", GRID_COLUMNS, data["grids"]),
            Table("全市", "city", CITY_COLUMNS, [data["city"]]),
        ],
    )
    return workbook(report, lang)
