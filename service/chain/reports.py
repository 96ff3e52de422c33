"""HTML pages for the indicators and the flow diagram: plain, self-contained, no external assets."""

from __future__ import annotations

from html import escape
from typing import Any

from service.chain.indicators import DEFINITIONS
from service.navigation import nav_html

STYLE = """
body{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;font-size:.9rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}h1{font-size:1.4rem}small{color:#666}
.wrap{overflow-x:auto}svg{max-width:100%;height:auto}
"""

CITY_ROWS = (
    "population",
    "villages",
    "rural_communities",
    "urban_communities",
    "households",
    "toilets_rebuilt",
    "toilet_share",
    "villages_waste_connected",
    "population_waste_connected",
    "waste_connected_share",
    "villages_sludge_connected",
    "waste_generated_t_per_day",
    "sludge_generated_t_per_day",
    "manure_generated_t_per_day",
    "manure_pig_equivalents",
    "transfer_stations",
    "transfer_stations_campaign",
    "transfer_capacity_t_per_day",
    "transfer_capacity_ratio",
    "incineration_capacity_t_per_day",
    "manure_centers",
    "biogas_centers",
    "large_farms",
    "large_farms_with_manure_facility",
    "large_farms_facility_share",
    "large_farms_connected",
    "public_toilets_new",
    "public_toilets_rebuilt",
)
TOWN_COLUMNS = (
    "villages",
    "population",
    "toilets_rebuilt",
    "toilet_share",
    "waste_connected_share",
    "waste_generated_t_per_day",
    "transfer_capacity_t_per_day",
    "transfer_capacity_ratio",
    "large_farms",
    "large_farms_facility_share",
)


def fmt(value: Any, key: str = "") -> str:
    if value is None:
        return "–"
    if key.endswith("_share") or key.endswith("_ratio") or key == "utilisation":
        return f"{value:.1%}" if key.endswith("_share") or key == "utilisation" else f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{nav_html()}{body}</body></html>"
    )


def indicators_page(data: dict[str, Any], scope: str) -> str:
    city = data["city"]
    rows = "".join(
        f'<tr><th class="l">{escape(k)}</th><td>{fmt(city.get(k), k)}</td>'
        f'<td class="l"><small>{escape(DEFINITIONS.get(k, ""))}</small></td></tr>'
        for k in CITY_ROWS
    )
    plants = "".join(
        f'<tr><td class="l">{escape(p["code"])}</td><td class="l">{escape(p["name"])}</td>'
        f'<td class="l">{escape(p["status"])}</td><td>{fmt(p["capacity"])}</td>'
        f"<td>{fmt(p['inflow_t_per_day'])}</td><td>{fmt(p['utilisation'], 'utilisation')}</td></tr>"
        for p in data["plants"]
    )
    head = "".join(f"<th>{escape(c)}</th>" for c in TOWN_COLUMNS)
    towns = "".join(
        f'<tr><td class="l">{escape(t["code"])}</td><td class="l">{escape(t["name"])}</td>'
        + "".join(f"<td>{fmt(t.get(c), c)}</td>" for c in TOWN_COLUMNS)
        + "</tr>"
        for t in data["towns"]
    )
    body = (
        f"<h1>{escape(scope)} · 农村环卫指标 Indicators</h1>"
        "<p><small>Computed live from the inventory; see <a href='?f=json'>JSON</a>.</small></p>"
        f"<div class='wrap'><table id='city'>{rows}</table></div>"
        "<h2>Treatment plants</h2><div class='wrap'><table id='plants'><tr><th class='l'>code</th>"
        "<th class='l'>name</th><th class='l'>status</th><th>capacity t/d</th><th>inflow t/d</th>"
        f"<th>utilisation</th></tr>{plants}</table></div>"
        "<h2>Towns</h2><div class='wrap'><table id='towns'><tr><th class='l'>code</th>"
        f"<th class='l'>name</th>"
        f"{head}</tr>{towns}</table></div>"
    )
    return page(f"{scope} indicators", body)


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
