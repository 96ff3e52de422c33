"""The markup of the import page: the form, a progress bar, and the places the script fills with the
dry run's report and the import's result.

Phone-first like the login page (one column, 16 px inputs, buttons a thumb can hit) and bilingual
(Chinese, English under it). Its style and script are the service's own files (`service/maps/static/`,
served under /maps/assets/…), never a CDN. The page is made for one signed-in user and never cached,
so the session's CSRF token is in it.
"""

from __future__ import annotations

import html

from service.accounts.tokens import Principal
from service.maps import assets
from service.maps.i18n import words
from service.navigation import nav_html

# The coordinate systems a clerk meets, as the form offers them; "other" takes an EPSG code.
CRS_CHOICES = (
    ("", "WGS 84（GPS、奥维、两步路）", "WGS 84 (GPS, Ovital, 2bulu)"),
    ("gcj02", "GCJ-02（高德、腾讯地图取点）", "GCJ-02 (Amap, Tencent)"),
    ("bd09", "BD-09（百度地图取点）", "BD-09 (Baidu)"),
    ("EPSG:4528", "CGCS2000 3° 带 40 带（EPSG:4528）", "CGCS2000 3° zone 40 (EPSG:4528)"),
    ("other", "其他 EPSG 代码", "Other EPSG code"),
)
ENCODINGS = (
    ("auto", "自动识别", "Detect"),
    ("utf-8", "UTF-8", "UTF-8"),
    ("gbk", "GBK（旧版 Excel）", "GBK (old Excel)"),
)
ACCEPT = ".csv,.xlsx,.xlsm,.kml,.kmz,.gpkg,.zip,.geojson,.json"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _label(for_id: str, zh: str, en: str) -> str:
    return f'<label for="{for_id}">{esc(zh)} <span lang="en">{esc(en)}</span></label>'


def _options(choices: tuple[tuple[str, str, str], ...]) -> str:
    return "".join(f'<option value="{esc(v)}">{esc(zh)} · {esc(en)}</option>' for v, zh, en in choices)


def _layers(layers: tuple[str, ...]) -> str:
    zh, en = words("zh"), words("en")
    return "".join(
        f'<option value="{esc(name)}">{esc(zh.get(name, name))} · {esc(en.get(name, name))}</option>'
        for name in layers
    )


def _check(name: str, zh: str, en: str) -> str:
    return (
        f'<label class="check"><input type="checkbox" id="{name}" name="{name}">'
        f'<span>{esc(zh)} <span lang="en">{esc(en)}</span></span></label>'
    )


def _form(layers: tuple[str, ...]) -> str:
    return (
        '<form id="sc-import-form" novalidate>'
        + _label("layer", "图层", "Layer")
        + f'<select id="layer" name="layer" required>{_layers(layers)}</select>'
        + _label("file", "文件", "File")
        + f'<input id="file" name="file" type="file" required accept="{ACCEPT}">'
        + '<p class="hint">CSV、Excel（.xlsx）… · <span lang="en">CSV, Excel (.xlsx) …</span></p>'
        + _label("crs", "坐标系", "Coordinates")
        + f'<select id="crs" name="crs">{_options(CRS_CHOICES)}</select>'
        + '<div id="crs-other-box" hidden>'
        + _label("crs-other", "EPSG 代码", "EPSG code")
        + '<input id="crs-other" inputmode="numeric" placeholder="4549" autocomplete="off"></div>'
        + _label("encoding", "文字编码", "Encoding")
        + f'<select id="encoding" name="encoding">{_options(ENCODINGS)}</select>'
        + _label("sheet", "工作表（Excel）", "Sheet (Excel)")
        + '<input id="sheet" name="sheet" placeholder="第一个 · the first" autocomplete="off">'
        + _check("upsert_by", "按编码更新已有设施", "Update existing features by code")
        + _check("valid_rows_only", "只导入有效行", "Import the valid rows only")
        + '<button type="submit" id="sc-import-check">检查文件（试导入） '
        '<span lang="en">Check (dry run)</span></button></form>'
    )


def _progress() -> str:
    return (
        '<section id="sc-import-progress" hidden aria-live="polite">'
        '<progress id="sc-import-bar" max="100" value="0"></progress>'
        '<p id="sc-import-stage"></p></section>'
    )


def _report() -> str:
    return (
        '<section id="sc-import-report" hidden>'
        '<h2>检查结果 <span lang="en">Dry run report</span></h2>'
        '<dl id="sc-import-summary" class="counts"></dl>'
        '<div id="sc-import-rejected-box" hidden>'
        '<h3>被拒绝的行 <span lang="en">Rejected rows</span></h3>'
        '<div class="scroll"><table id="sc-import-rejected"><thead><tr>'
        '<th>行 <span lang="en">Row</span></th><th>列 <span lang="en">Column</span></th>'
        '<th>问题 <span lang="en">Problem</span></th></tr></thead><tbody></tbody></table></div>'
        '<p id="sc-import-rejected-more" class="hint"></p>'
        '<a id="sc-import-rejected-csv" class="link" download>下载被拒绝的行（CSV） '
        '<span lang="en">Download the rejected rows (CSV)</span></a></div>'
        '<div id="sc-import-warnings-box" hidden>'
        '<h3>警告 <span lang="en">Warnings</span></h3><ul id="sc-import-file-warnings"></ul>'
        '<div class="scroll" id="sc-import-warnings-table"><table id="sc-import-warnings"><thead><tr>'
        '<th>行 <span lang="en">Row</span></th><th>列 <span lang="en">Column</span></th>'
        '<th>说明 <span lang="en">Warning</span></th></tr></thead><tbody></tbody></table></div></div>'
        '<div id="sc-import-chain-box" hidden><h3>收运链检查 <span lang="en">Chain check</span></h3>'
        '<ul id="sc-import-chain"></ul></div>'
        '<p id="sc-import-confirm-note" class="hint"></p>'
        '<button type="button" id="sc-import-confirm" disabled>确认导入 <span lang="en">Confirm import</span>'
        "</button></section>"
    )


def _result() -> str:
    return (
        '<section id="sc-import-done" hidden><h2>已导入 <span lang="en">Imported</span></h2>'
        '<dl id="sc-import-final" class="counts"></dl>'
        '<p class="links"><a id="sc-import-items" class="link">查看图层数据 '
        '<span lang="en">Layer items</span></a><a id="sc-import-map" class="link" href="/maps/city">打开地图 '
        '<span lang="en">City map</span></a></p>'
        '<a class="link" href="/imports/new">再导入一个文件 <span lang="en">Import another file</span></a>'
        "</section>"
    )


def import_page(principal: Principal, csrf_token: str, layers: tuple[str, ...]) -> str:
    """The page for `principal`; the script reads the CSRF token from the form's data attribute."""
    css, js = assets.own_url("sanichain-import.css"), assets.own_url("sanichain-import.js")
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin"><link rel="icon" href="data:,">'
        f'<title>导入数据 Import · sanichain</title><link rel="stylesheet" href="{esc(css)}"></head>'
        f'<body><header class="page-nav">{nav_html()}</header>'
        f'<main id="sc-import" data-csrf="{esc(csrf_token)}">'
        '<p class="brand"><a href="/">sanichain · 农村环境卫生</a></p>'
        '<h1>导入数据 <span lang="en">Import data</span></h1>'
        f'<p class="who">{esc(principal.name)} ({esc(principal.role)})</p>'
        + _form(layers)
        + _progress()
        + '<p id="sc-import-message" class="notice" role="alert" hidden></p>'
        + _report()
        + _result()
        + f'</main><script src="{esc(js)}"></script></body></html>\n'
    )
