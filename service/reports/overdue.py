"""The overdue list for people: an HTML page (the service's navigation, tables by town and grid, then the
facilities, each linked to its map and its inspection form) and an XLSX workbook of the same tables."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from service.navigation import page_html
from service.reports.columns import Column, Lang
from service.reports.workbook import Report, Table, workbook

TITLE = ("巡查逾期清单", "Overdue inspections")
OUTCOMES = {
    "ok": ("正常", "OK"),
    "defects": ("有问题", "defects"),
    "out_of_service": ("停运", "out of service"),
}
TOWN_COLUMNS = (
    Column("code", "乡镇代码", "town code"),
    Column("name", "乡镇", "town"),
    Column("facilities", "应巡查设施", "facilities", "count", "处", ""),
    Column("overdue", "逾期", "overdue", "count", "处", ""),
    Column("inspectors", "本镇巡查员", "town inspectors"),
)
GRID_COLUMNS = (
    Column("code", "网格编号", "grid code"),
    Column("name", "网格", "grid"),
    Column("responsible_leader", "包靠领导", "responsible leader"),
    Column("facilities", "应巡查设施", "facilities", "count", "处", ""),
    Column("overdue", "逾期", "overdue", "count", "处", ""),
)
FACILITY_COLUMNS = (
    Column("layer_name", "类型", "kind"),
    Column("code", "编码", "code"),
    Column("name", "名称", "name"),
    Column("town_code", "乡镇代码", "town code"),
    Column("grid_code", "网格", "grid"),
    Column("every_days", "巡查周期", "every", "count", "天", "days"),
    Column("last_inspected_at", "上次巡查", "last inspected"),
    Column("last_outcome_name", "上次结果", "last outcome"),
    Column("days_overdue", "逾期", "overdue", "count", "天", "days"),
)


def _word(pair: tuple[str, str], lang: Lang) -> str:
    return pair[1] if lang == "en" else pair[0]


def _facility_rows(data: Mapping[str, Any], lang: Lang, kinds: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            **f,
            "layer_name": kinds.get(f["layer"], f["layer"]),
            "last_inspected_at": (f["last_inspected_at"] or "")[:16].replace("T", " ")
            or _word(("从未巡查", "never"), lang),
            "last_outcome_name": _word(OUTCOMES[f["last_outcome"]], lang) if f["last_outcome"] else None,
        }
        for f in data["overdue"]
    ]


def _town_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{**t, "inspectors": "、".join(t["inspectors"])} for t in data["towns"]]


def html_table(
    columns: Sequence[Column], rows: Sequence[Mapping[str, Any]], lang: Lang, link: Any = None
) -> str:
    head = "".join(f"<th>{html.escape(c.header(lang))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            text = html.escape(c.text(row.get(c.key), lang))
            if link is not None and c.key == "name":
                text = link(row, text)
            cells.append(f'<td class="{c.kind}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    rows_html = "".join(body)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def page(data: Mapping[str, Any], base: str, lang: Lang, query: str, kinds: Mapping[str, str]) -> str:
    """`kinds`: each layer's name in `lang`."""
    suffix = "?lang=en" if lang == "en" else ""

    def facility_link(row: Mapping[str, Any], text: str) -> str:
        map_href = html.escape(f"{base}/maps/facilities/{row['layer']}/{row['id']}{suffix}")
        form_href = html.escape(f"{base}/inspections/new?layer={row['layer']}&feature_id={row['id']}")
        record = _word(("记录巡查", "record"), lang)
        return f'<a href="{map_href}">{text}</a> · <a href="{form_href}">{html.escape(record)}</a>'

    s = data["summary"]
    as_of = data["as_of"][:16].replace("T", " ")
    intro = (
        f"<p>{html.escape(_word(('截至', 'As of'), lang))} {html.escape(as_of)}: "
        f"{s['overdue']:,} / {s['facilities']:,} "
        f"{html.escape(_word(('处设施逾期，其中从未巡查', 'facilities overdue, never inspected'), lang))} "
        f"{s['never_inspected']:,}.</p>"
        f'<p><a href="{html.escape(base)}/inspections/overdue?{html.escape(query)}&amp;f=xlsx">'
        f"{html.escape(_word(('下载 Excel', 'Download XLSX'), lang))}</a></p>"
    )
    more = ""
    if data["truncated"]:
        more = f"<p>{html.escape(_word(('仅列出前', 'Only the first'), lang))} {len(data['overdue']):,}.</p>"
    body = (
        intro
        + f"<h2>{html.escape(_word(('按乡镇', 'By town'), lang))}</h2>"
        + html_table(TOWN_COLUMNS, _town_rows(data), lang)
        + f"<h2>{html.escape(_word(('按网格', 'By grid'), lang))}</h2>"
        + html_table(GRID_COLUMNS, data["grids"], lang)
        + f"<h2>{html.escape(_word(('逾期设施', 'Overdue facilities'), lang))}</h2>"
        + html_table(FACILITY_COLUMNS, _facility_rows(data, lang, kinds), lang, facility_link)
        + more
    )
    return page_html(_word(TITLE, lang), body, base, lang)


def xlsx(
    data: Mapping[str, Any], parameters: Sequence[tuple[str, Any]], lang: Lang, kinds: Mapping[str, str]
) -> bytes:
    report = Report(
        TITLE[0],
        TITLE[1],
        parameters,
        [
            Table("逾期设施", "overdue", FACILITY_COLUMNS, _facility_rows(data, lang, kinds)),
            Table("乡镇", "towns", TOWN_COLUMNS, _town_rows(data)),
            Table("网格", "grids", GRID_COLUMNS, data["grids"]),
        ],
    )
    return workbook(report, lang)
