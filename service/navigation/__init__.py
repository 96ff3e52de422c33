"""The navigation every HTML page shares: a search box (results as you type), a town picker and the links
to the service's main pages.

The markup works without its script (the search box is a form posting to `/search`, which answers a
page to a browser); `sanichain-nav.js`, served by the service like the maps' own assets, adds the
results as you type, fills the town picker and, on the city map, the count of problems. The script is served
under a path holding its own digest (`script_path()`), so browsers may keep it forever.
"""

from __future__ import annotations

import hashlib
import html
from functools import cache
from pathlib import Path
from typing import Literal

Lang = Literal["zh", "en"]
SCRIPT = Path(__file__).resolve().parent / "static" / "sanichain-nav.js"

# (key, path, Chinese, English); map pages take ?lang=en, the others do not (yet).
LINKS: tuple[tuple[str, str, str, str], ...] = (
    ("city_map", "/maps/city", "城市地图", "City map"),
    ("coverage_map", "/maps/coverage?layer=collection_points", "覆盖范围图", "Coverage map"),
    ("diagrams", "/chain/diagram", "流向图", "Flow diagrams"),
    ("indicators", "/indicators", "指标", "Indicators"),
    ("problems", "/problems", "待处理问题", "Problems"),
    ("integrity", "/chain/integrity", "完整性检查", "Integrity report"),
    ("exports", "/exports", "数据导出", "Exports"),
    ("api_docs", "/docs", "接口文档", "API docs"),
)
WITH_LANG = ("city_map", "coverage_map", "problems")
# The paths the navigation links: a page's own list of links can leave them out.
PATHS = frozenset(path.split("?")[0] for _, path, _, _ in LINKS)

_WORDS = {
    "search": ("搜索名称、拼音首字母或编码", "Search a name, pinyin initials or a code"),
    "search_button": ("搜索", "Search"),
    "towns": ("乡镇地图…", "Town map…"),
    "nav": ("导航", "Navigation"),
}

STYLE = """
.sc-nav{display:flex;flex-wrap:wrap;gap:.3em .8em;align-items:center;margin:.2em 0 .8em;font-size:14px}
.sc-nav a,.sc-nav-item{white-space:nowrap}
.sc-nav form{position:relative;display:flex;gap:.3em;flex:1 1 16em;max-width:26em}
.sc-nav input[type=search]{flex:1;min-width:0;font:inherit;padding:.25em .4em}
.sc-nav select{font:inherit;max-width:12em}
.sc-hits{position:absolute;top:100%;left:0;right:0;z-index:1200;background:#fff;border:1px solid #bbb;
margin:0;padding:0;list-style:none;max-height:18em;overflow-y:auto;box-shadow:0 2px 6px rgba(0,0,0,.2)}
.sc-hits:empty{display:none}.sc-hits li a{display:block;padding:.25em .5em;text-decoration:none;color:#222}
.sc-hits li a:hover,.sc-hits li a:focus{background:#e8f0fe}.sc-hits small{color:#666}
.sc-count{display:inline-block;min-width:1.4em;padding:0 .35em;border-radius:.7em;background:#c62828;
color:#fff;font-size:.85em;text-align:center}.sc-count:empty{display:none}
.sc-map-nav{flex-direction:column;align-items:stretch;margin:.3em 0}
.sc-map-nav form{flex:none;max-width:none}.sc-map-nav select{max-width:none}
.sc-links-row{display:flex;flex-wrap:wrap;gap:.2em .8em}
.sc-nav input,.sc-nav button,.sc-nav select{display:inline-block;width:auto;min-height:0;margin:0;
font:inherit;font-size:14px;font-weight:400;padding:.25em .45em;border:1px solid #8a959c;border-radius:3px;
background:#fff;color:#222}
.sc-nav input[type=search]{flex:1;min-width:0}.sc-nav button{background:#f1f3f5;cursor:pointer}
.sc-nav a{color:#1f5f9e}
"""


@cache
def script_path() -> str:
    """The script's URL path: its digest in it, so a changed script is a new URL."""
    digest = hashlib.sha256(SCRIPT.read_bytes()).hexdigest()[:12]
    return f"/navigation/{digest}/sanichain-nav.js"


def word(key: str, lang: Lang) -> str:
    zh, en = _WORDS[key]
    return en if lang == "en" else zh


def link_label(key: str, lang: Lang) -> str:
    _, _, zh, en = next(entry for entry in LINKS if entry[0] == key)
    return en if lang == "en" else zh


def _href(base: str, key: str, path: str, lang: Lang) -> str:
    if lang == "en" and key in WITH_LANG:
        path += ("&" if "?" in path else "?") + "lang=en"
    return base + path


def nav_html(base: str = "", lang: Lang = "zh", *, on_map: bool = False) -> str:
    """The navigation block (search form, town picker, links) with its style and script tags.

    `base` is the service root without a trailing slash (absolute on map pages, which may be saved
    as files); `on_map` lays it out for the map's panel, with the count of problems (filled on the
    city map only)."""
    esc = html.escape
    lang_input = '<input type="hidden" name="lang" value="en">' if lang == "en" else ""
    links = []
    for key, path, zh, en in LINKS:
        label = esc(en if lang == "en" else zh)
        count = ' <span class="sc-count" data-problem-count></span>' if key == "problems" and on_map else ""
        links.append(
            f'<span class="sc-nav-item"><a href="{esc(_href(base, key, path, lang))}" data-nav="{key}">'
            f"{label}</a>{count}</span>"
        )
    script = script_path()
    return (
        f"<style>{STYLE}</style>"
        f'<nav class="sc-nav{" sc-map-nav" if on_map else ""}" aria-label="{esc(word("nav", lang))}" '
        f'data-base="{esc(base)}" data-lang="{lang}">'
        f'<form action="{esc(base)}/search" method="get" role="search">'
        f'<input type="search" name="q" placeholder="{esc(word("search", lang))}" '
        f'aria-label="{esc(word("search", lang))}" autocomplete="off" maxlength="50">{lang_input}'
        f"<button>{esc(word('search_button', lang))}</button>"  # (a form's button submits)
        '<ul class="sc-hits" role="listbox"></ul></form>'
        f'<select class="sc-towns" aria-label="{esc(word("towns", lang))}">'
        f'<option value="">{esc(word("towns", lang))}</option></select>'
        f'<span class="sc-links-row">{"".join(links)}</span></nav>'
        f'<script src="{esc(script)}" defer></script>'
    )


PAGE_STYLE = """
body{font:15px/1.45 system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:1em 1.5em;color:#222}
h1{font-size:1.45em;margin:.2em 0}h2{font-size:1.15em;margin:1.2em 0 .3em}
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;
vertical-align:top}th{background:#f2f2f2}tbody tr:nth-child(even){background:#fafafa}
.scroll{overflow-x:auto;max-width:100%}.num{text-align:right;white-space:nowrap}
.error{color:#b71c1c}.warning{color:#9a5b00}.muted{color:#666}
@media (max-width:600px){body{margin:.6em .6em}td,th{padding:.15em .3em}}
"""


def page_html(title: str, body: str, base: str = "", lang: Lang = "zh") -> str:
    """A whole HTML page of the service: the shared navigation, the title, then `body` (already HTML)."""
    html_lang = "en" if lang == "en" else "zh-Hans"
    return (
        f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head><body>"
        f"{nav_html(base, lang)}<h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )


def covers(href: str, base: str) -> bool:
    """Whether the navigation already links `href` (a page's own link list can leave it out)."""
    path = href[len(base) :] if base and href.startswith(base) else href
    return path.split("?")[0] in PATHS


BAR_STYLE = (
    ".sc-bar{display:flex;flex-wrap:wrap;gap:.2em 1em;padding:.45em 1em;background:#f1f3f5;"
    "border-bottom:1px solid #d0d5d9;font:14px/1.5 system-ui,'Noto Sans CJK SC',sans-serif}"
    ".sc-bar a{color:#1f5f9e;white-space:nowrap}"
)


def bar_html(base: str = "", lang: Lang = "zh") -> str:
    """The navigation's links alone, in one strip and without script: for pages laid out by others
    (Swagger UI, ReDoc), where the search form would fight their style."""
    esc = html.escape
    links = "".join(
        f'<a href="{esc(_href(base, key, path, lang))}" data-nav="{key}">{esc(link_label(key, lang))}</a>'
        for key, path, _, _ in LINKS
    )
    return (
        f'<style>{BAR_STYLE}</style><nav class="sc-bar" aria-label="{esc(word("nav", lang))}">{links}</nav>'
    )
