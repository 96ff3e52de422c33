"""The flow diagram's HTML page: plain, self-contained, no external assets (the indicators page is
`indicators_page`)."""

from __future__ import annotations

from html import escape

from service.navigation import nav_html

STYLE = """
body{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;font-size:.9rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}h1{font-size:1.4rem}small{color:#666}
.wrap{overflow-x:auto}svg{max-width:100%;height:auto}
"""


def page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{nav_html()}{body}</body></html>"
    )


def diagram_page(title: str, svg: bytes, stream: str, town_code: str | None) -> str:
    query = f"stream={escape(stream)}" + (f"&amp;town={escape(town_code)}" if town_code else "")
    svg_text = svg.decode("utf-8")
    svg_text = svg_text[svg_text.index("<svg") :]  # drop the XML prolog inside HTML
    body = (
        f"<h1>{escape(title)}</h1>"
        f"<p><small>t/day · <a href='?{query}&amp;format=svg'>SVG</a> · "
        f"<a href='?{query}&amp;format=png'>PNG</a></small></p>"
        f"<div class='wrap'>{svg_text}</div>"
    )
    return page(title, body)
