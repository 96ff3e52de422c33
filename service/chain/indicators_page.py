"""The indicators page for people: labelled figures with units beside the published ones, small
charts by town (inline SVG drawn here), the per-town table and the treatment plants.

Plain HTML and CSS, nothing loaded from elsewhere; it prints on A4 and reads on a phone (tables turn
into one card per row below 640 px, so nothing scrolls sideways).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from starlette.datastructures import URL

from service.chain.indicator_figures import FIGURES, PUBLISHED, PUBLISHED_SOURCE, SHOWN, TOWN_FIGURES
from service.chain.indicators_files import PLANT_COLUMNS, local_name, title
from service.navigation import nav_html
from service.reports.columns import Column, Lang

CHARTS = ("toilet_share", "waste_connected_share", "waste_generated_t_per_day", "transfer_capacity_ratio")
CHART_LABEL_CHARS = 16  # longer (English) town names are cut in charts; the table has them whole

WORDS = {
    "figure": ("指标", "Figure"),
    "live": ("本系统（实时）", "Live"),
    "published": ("公开数据", "Published"),
    "city": ("全市指标", "City figures"),
    "town_figures": ("本乡镇指标", "Town figures"),
    "charts": ("各乡镇对比", "Towns compared"),
    "towns": ("各乡镇指标", "Figures by town"),
    "plants": ("垃圾处理厂", "Treatment plants"),
    "made": ("依据清单数据实时计算，", "Computed live from the inventory, "),
    "download": ("下载", "Download"),
    "switch": ("English", "中文"),
    "met": ("与公开数据一致", "matches the published figure"),
    "differs": ("与公开数据不符", "differs from the published figure"),
    "source": ("公开数据来源：", "Published figures: "),
    "town": ("乡镇（街道）", "Town"),
    "print": ("打印", "Print"),
}

STYLE = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:0 auto;
padding:1rem 1.2rem;max-width:1100px;color:#222}
h1{font-size:1.45rem;margin:.2rem 0}
h2{font-size:1.15rem;margin:1.4rem 0 .4rem;border-bottom:2px solid #2e7d32}
.meta{color:#555;font-size:.9rem}.actions a{white-space:nowrap}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .45rem;text-align:right;vertical-align:top}
th{background:#f2f5f2;font-weight:600}th.l,td.l{text-align:left}
table.figures{max-width:820px}td.name{min-width:5em}
td.ok::after{content:" ✓";color:#2e7d32}td.off{color:#b71c1c;font-weight:600}
td.off::after{content:" ≠"}small{color:#666}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:.8rem 1.4rem}
figure{margin:0}figcaption{font-weight:600;font-size:.95rem;margin-bottom:.2rem}
svg{width:100%;max-width:520px;height:auto;display:block}svg text{font-size:11px;fill:#333}
.bar{fill:#43a047}.bar.low{fill:#e69138}
@media (max-width:640px){
 body{padding:.7rem .8rem;font-size:14px}
 table.cards thead{display:none}
 table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
 table.cards tr{border:1px solid #ddd;border-radius:6px;margin:.5rem 0;padding:.2rem .5rem}
 table.cards td{display:flex;justify-content:space-between;gap:.8rem;border:0;padding:.15rem 0;
  text-align:right}
 table.cards td::before{content:attr(data-label);color:#555;text-align:left}
 table.cards td.name{font-weight:600;justify-content:flex-start}table.cards td.name::before{content:none}
 table.figures thead{display:none}table.figures,table.figures tbody{display:block}
 table.figures tr{display:grid;grid-template-columns:1fr 1fr;gap:0 .6rem;border-bottom:1px solid #ddd;
  padding:.3rem 0}
 table.figures th{grid-column:1/-1;background:none;border:0;padding:0}
 table.figures td{border:0;text-align:left;padding:0}
 table.figures td::before{content:attr(data-label);display:block;color:#666;font-size:.78rem}
 table.figures.single tr{grid-template-columns:1fr auto}table.figures.single th{grid-column:auto}
 table.figures.single td::before{content:none}
}
@media print{
 @page{size:A4;margin:12mm}
 body{font-size:10pt;max-width:none;padding:0}
 .actions{display:none}
 a{color:inherit;text-decoration:none}
 h2{break-after:avoid}tr,figure{break-inside:avoid}
 .charts{grid-template-columns:1fr 1fr}
}
"""


PRINT_WITHOUT_NAVIGATION = "@media print{.sc-nav{display:none}}"


def word(key: str, lang: Lang) -> str:
    zh, en = WORDS[key]
    return en if lang == "en" else zh


def _with_unit(column: Column, value: Any, lang: Lang) -> str:
    text = column.text(value, lang)
    unit = column.unit(lang)
    return text if value is None or not unit or unit == "%" else f"{text} {unit}"


def _href(url: URL, **params: str) -> str:
    """This page's query with `params` changed, as a relative link (no host: it works behind a proxy)."""
    changed = url.remove_query_params(["f", "format", *params]).include_query_params(**params)
    return escape(f"?{changed.query}")


def _actions(url: URL, lang: Lang) -> str:
    other = "zh" if lang == "en" else "en"
    downloads = " · ".join(
        f'<a href="{_href(url, format=fmt)}">{label}</a>'
        for fmt, label in (("xlsx", "Excel (XLSX)"), ("csv", "CSV"), ("json", "JSON"))
    )
    return (
        f'<p class="actions">{word("download", lang)}: {downloads}'
        f' · <a href="{_href(url, lang=other)}" hreflang="{other}">{word("switch", lang)}</a>'
        f' · <a href="javascript:print()">{word("print", lang)}</a></p>'
    )


def _figures_table(figures: dict[str, Any], lang: Lang, with_published: bool) -> str:
    head = f'<th class="l">{word("figure", lang)}</th><th>{word("live", lang)}</th>'
    if with_published:
        head += f"<th>{word('published', lang)}</th>"
    rows = []
    for key in SHOWN:
        column, value = FIGURES[key], figures.get(key)
        cells = f'<td data-label="{word("live", lang)}">{escape(_with_unit(column, value, lang))}</td>'
        if with_published:
            published = PUBLISHED.get(key)
            if published is None:
                cells += f'<td data-label="{word("published", lang)}">–</td>'
            else:
                met = published.met_by(value)
                shown = ("> " if published.at_least else "") + _with_unit(column, published.value, lang)
                cells += (
                    f'<td class="{"ok" if met else "off"}" data-label="{word("published", lang)}" '
                    f'title="{word("met" if met else "differs", lang)}">{escape(shown)}</td>'
                )
        rows.append(f'<tr id="{key}"><th class="l">{escape(column.label(lang))}</th>{cells}</tr>')
    return (
        f'<table class="figures{"" if with_published else " single"}" id="figures">'
        f"<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _chart_label(name: str) -> str:
    return name if len(name) <= CHART_LABEL_CHARS else name[: CHART_LABEL_CHARS - 1] + "…"


def bar_chart(key: str, towns: Sequence[dict[str, Any]], lang: Lang) -> str:
    """One horizontal bar per town, its value at the bar's end; shares on a 0–100 % scale."""
    column = FIGURES[key]
    label_w, value_w, width, row_h = 112, 62, 360, 17
    values = [t.get(key) for t in towns]
    top = 1.0 if column.kind == "share" else max((v for v in values if v is not None), default=0) or 1
    bar_w = width - label_w - value_w
    parts = []
    for n, (town, value) in enumerate(zip(towns, values, strict=True)):
        y = n * row_h
        name = local_name(town, lang)
        length = 0 if value is None else max(0.0, min(1.0, value / top)) * bar_w
        low = column.kind == "share" and value is not None and value < 0.9
        parts.append(
            f"<g><title>{escape(name)}: {escape(_with_unit(column, value, lang))}</title>"
            f'<text x="{label_w - 4}" y="{y + 12}" text-anchor="end">{escape(_chart_label(name))}</text>'
            f'<rect class="bar{" low" if low else ""}" x="{label_w}" y="{y + 3}" width="{length:.1f}" '
            f'height="{row_h - 5}"/>'
            f'<text x="{label_w + length + 3:.1f}" y="{y + 12}">{escape(column.text(value, lang))}</text></g>'
        )
    height = row_h * len(towns) + 2
    caption = column.header(lang)
    return (
        f'<figure id="chart-{key}"><figcaption>{escape(caption)}</figcaption>'
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(caption)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg></figure>'
    )


def _cards_table(table_id: str, columns: Sequence[Column], rows: Sequence[dict[str, Any]], lang: Lang) -> str:
    """A table that becomes one card per row on a phone (each cell labelled by its header)."""
    head = "".join(
        f'<th class="{"l" if c.kind == "text" else ""}">{escape(c.header(lang))}</th>' for c in columns
    )
    body = []
    for row in rows:
        cells = []
        for n, c in enumerate(columns):
            cls = "l name" if n == 0 else "l" if c.kind == "text" else ""
            text = escape(c.text(row.get(c.key), lang))
            cells.append(f'<td class="{cls}" data-label="{escape(c.header(lang))}">{text}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="cards" id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def page(data: dict[str, Any], lang: Lang, url: URL, city_scope: bool, status: Mapping[str, str]) -> str:
    """The whole page for `/indicators` (the JSON of the same request in `data`; `status`: the
    statuses' names in `lang`)."""
    city = data["city"]
    scope = local_name(city, lang) if city.get("name") else ""
    heading = title(scope, lang)
    made = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    town_name = Column("name", *WORDS["town"])
    towns = [{**t, "name": local_name(t, lang)} for t in data["towns"]]
    plants = [
        {**p, "name": local_name(p, lang), "status": status.get(p["status"], p["status"])}
        for p in data["plants"]
    ]
    parts = [
        f"<h1>{escape(heading)}</h1>",
        f'<p class="meta">{word("made", lang)}{made}</p>',
        _actions(url, lang),
        f"<h2>{word('city' if city_scope else 'town_figures', lang)}</h2>",
        _figures_table(city, lang, with_published=city_scope),
    ]
    if city_scope:
        source_zh, source_en = PUBLISHED_SOURCE
        parts.append(
            f'<p class="meta">{word("source", lang)}{escape(source_en if lang == "en" else source_zh)}</p>'
        )
        charts = "".join(bar_chart(key, towns, lang) for key in CHARTS)
        parts += [f"<h2>{word('charts', lang)}</h2>", f'<div class="charts">{charts}</div>']
    town_columns = [town_name, *(FIGURES[k] for k in TOWN_FIGURES)]
    parts += [
        f"<h2>{word('towns', lang)}</h2>",
        _cards_table("towns", town_columns, towns, lang),
        f"<h2>{word('plants', lang)}</h2>",
        _cards_table("plants", [PLANT_COLUMNS[1], PLANT_COLUMNS[0], *PLANT_COLUMNS[2:]], plants, lang),
    ]
    html_lang = "en" if lang == "en" else "zh-Hans"
    return (
        f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{escape(heading)}</title><style>{STYLE}{PRINT_WITHOUT_NAVIGATION}</style></head><body>"
        + nav_html(lang=lang)
        + "".join(parts)
        + "</body></html>\n"
    )
