"""The two pages of the exports: every layer's files in every format (`/exports`), and every layer's
columns (`/exports/columns`, the same text as docs/exports.md, from the layer catalogue).

Both go under the service's shared navigation; every value is escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from service.export.columns_doc import export_columns
from service.features import catalogue
from service.navigation import Lang, page_html

COLUMNS_PATH = "/exports/columns"
# On a phone a layer's row becomes a line of links (the format's name is the link's text), and the
# column tables fit the width, long column names broken anywhere.
STYLE = """<style>
table.exports td:first-child{white-space:nowrap}
table.columns{width:100%;table-layout:fixed}table.columns td{overflow-wrap:anywhere}
table.columns th:nth-child(1){width:34%}table.columns th:nth-child(2){width:18%}
@media (max-width:600px){
table.exports,table.exports tbody,table.exports tr,table.exports td{display:block;border:0;padding:0}
table.exports tr:first-child{display:none}
table.exports tr{border-top:1px solid #ccc;padding:.35em 0}
table.exports td{display:inline-block;margin-right:.7em}
table.exports td:first-child{display:block;white-space:normal;font-weight:600}
table.columns td:nth-child(2){font-size:.85em}
}
</style>"""
# layers the maps' words do not name (they are not drawn as a layer of their own)
LAYER_NAMES = {"chain_links": ("收运链接", "Chain links")}


def _t(lang: Lang, zh: str, en: str) -> str:
    return en if lang == "en" else zh


def _a(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _label(layer: str, layer_words: Mapping[str, str], lang: Lang) -> str:
    """The layer's name in the page's language, then its API name."""
    zh, en = LAYER_NAMES.get(layer, (layer, layer))
    name = layer_words.get(layer) or _t(lang, zh, en)
    return f"{html.escape(name)} <code>{html.escape(layer)}</code>"


def _meaning(text: str) -> str:
    """A meaning's text, its `quoted` names as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def columns_href(base: str, layer: str, lang: Lang) -> str:
    """The address of a layer's column list (an anchor of the columns page)."""
    return f"{base}{COLUMNS_PATH}{'?lang=en' if lang == 'en' else ''}#{layer}"


def exports_page(
    formats: Sequence[tuple[str, str]], base: str, lang: Lang, layer_words: Mapping[str, str]
) -> str:
    """Each layer (a row) with a link to its file in each format (`formats`: extension, title) and to
    its columns."""
    columns = _t(lang, "字段说明", "columns")
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in formats)
    rows = "".join(
        f'<tr data-layer="{html.escape(layer.name)}"><td>{_label(layer.name, layer_words, lang)}</td>'
        + "".join(f"<td>{_a(f'{base}/export/{layer.name}.{ext}', ext)}</td>" for ext, _ in formats)
        + f"<td>{_a(columns_href(base, layer.name, lang), columns)}</td></tr>"
        for layer in catalogue.layers()
    )
    all_gpkg = _a(base + "/export/all.gpkg", "all.gpkg")
    every_column = _a(f"{base}{COLUMNS_PATH}{'?lang=en' if lang == 'en' else ''}", columns)
    intro = _t(
        lang,
        f"每个图层的完整文件（全部图层一个文件：{all_gpkg}），各图层的列见{every_column}。"
        "筛选参数见 API 文档。",
        f"Each layer as a whole file (every layer in one file: {all_gpkg}); what each column holds: "
        f"{every_column}. Filters: see the API docs.",
    )
    table = f"<table class=exports><tr><th></th>{head}<th>{html.escape(columns)}</th></tr>{rows}</table>"
    return page_html(
        _t(lang, "数据导出", "Exports"), f"{STYLE}<p>{intro}</p><div class=scroll>{table}</div>", base, lang
    )


def columns_page(base: str, lang: Lang, layer_words: Mapping[str, str]) -> str:
    """Every layer's export columns: name, type, meaning (in English), one section per layer."""
    head = _t(
        lang, "<th>列</th><th>类型</th><th>说明（英文）</th>", "<th>column</th><th>type</th><th>meaning</th>"
    )
    intro = _t(
        lang,
        "每种格式（GeoJSON、CSV、XLSX、KML、GeoPackage）都有这些列；"
        "GeoPackage、GeoJSON 和 KML 以几何保存位置，CSV 和 XLSX 以 lon/lat 列（点图层）或 WKT 列保存。",
        "Every format (GeoJSON, CSV, XLSX, KML, GeoPackage) has these columns; GeoPackage, GeoJSON and KML "
        "hold the position as geometry, CSV and XLSX as lon/lat columns (point layers) or a WKT column.",
    )
    sections = []
    for layer in catalogue.layers():
        rows = "".join(
            f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(kind)}</td>"
            f"<td>{_meaning(meaning)}</td></tr>"
            for name, kind, meaning in export_columns(layer.name)
        )
        files = (
            _a(f"{base}/export/{layer.name}.csv", "CSV")
            + " · "
            + _a(f"{base}/export/{layer.name}.gpkg", "GPKG")
        )
        sections.append(
            f'<section id="{html.escape(layer.name)}"><h2>{_label(layer.name, layer_words, lang)}</h2>'
            f"<p class=muted>{html.escape(layer.title)}; "
            f"{html.escape(layer.geometry_type)} · {files}</p>"
            f"<div class=scroll><table class=columns><tr>{head}</tr>{rows}</table></div></section>"
        )
    back = _a(f"{base}/exports{'?lang=en' if lang == 'en' else ''}", _t(lang, "数据导出", "Exports"))
    return page_html(
        _t(lang, "导出文件的列", "Columns of the exports"),
        f"{STYLE}<p>{intro} {back}</p>{''.join(sections)}",
        base,
        lang,
    )
