"""How each layer goes on a page: its group, draw rule, popup fields and legend rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.maps import style
from service.maps.map_rows import LayerRows, in_language

if TYPE_CHECKING:
    from service.maps.page import MapPage

POPUP_FIELDS = {
    "villages": [
        "code",
        "population",
        "households",
        "toilets_rebuilt",
        "waste_connected",
        "sludge_connected",
    ],
    "facility": ["code", "status", "kind", "capacity", "inflow", "utilisation"],
    "livestock_farms": ["status", "species", "head_count", "manure_facility", "capacity"],
    "public_toilets": ["code", "status", "kind", "capacity"],
    "flows": ["stream", "flow", "distance_m", "from", "to"],
    "grids": ["code", "responsible_leader", "grid_head_unit", "assisting_units", "supervisors", "population"],
    "inspection_status": ["code", "last_outcome", "last_inspected", "overdue", "every_days"],
}
FLOW_STREAMS = ("domestic_waste", "fecal_sludge", "manure")
# Past this many features a layer travels "lite": id, position (4 decimals, ~10 m) and the fields its
# colour and size need; a popup then reads the rest from the API record when it opens. This keeps a
# province's 100,000 farms within a few megabytes.
LITE_ROWS = 5_000
LITE_DECIMALS = 4


def point_spec(layer: LayerRows, spec: dict[str, Any]) -> dict[str, Any]:
    """The draw spec of a point layer, lite when the layer is large."""
    if len(layer) <= LITE_ROWS:
        return {**spec, **layer.as_json()}
    keep = ["id", "lat", "lon"] + [
        rule["field"] for rule in (spec.get("color"), spec.get("radius")) if rule and "field" in rule
    ]
    at = [layer.fields.index(name) for name in keep]
    rows = [[row[i] for i in at] for row in layer.rows]
    for row in rows:
        row[1], row[2] = round(row[1], LITE_DECIMALS), round(row[2], LITE_DECIMALS)
        row[3:] = [int(v) if isinstance(v, bool) else v for v in row[3:]]  # 1/0 instead of true/false
    return {**spec, "fields": keep, "rows": rows, "lazy": True}


def towns(page: MapPage, features: list[dict[str, Any]], indicator: str) -> None:
    w = page.words
    rule = style.town_rule(indicator)
    page.draw(
        page.group(w["towns"]),
        "areas",
        {
            "layer": "towns",
            "features": [
                {"geometry": t.pop("geometry"), "properties": _town_name(t, page.lang)} for t in features
            ],
            "color": rule,
            "stroke": style.LAYER_COLOURS["towns"],
            "opacity": 0.3,
            "popup": ["code", "kind", "villages_count", "population", indicator],
            "own_map": True,
        },
    )
    shades = " ".join(
        f'<span class="sc-swatch sc-square" style="background:{c}"></span>' for c in rule["colors"]
    )
    page.legend(
        f'<div class="sc-legend-row"><span>{w["legend_town_shade"]}{w[indicator]}</span></div>'
        f'<div class="sc-legend-row">0% {shades} 100%</div>'
    )


def grids(page: MapPage, features: list[dict[str, Any]]) -> None:
    """The built-up area's responsibility grids: outlines over the towns, their people in the popup."""
    w = page.words
    page.draw(
        page.group(w["grids"]),
        "areas",
        {
            "layer": "grids",
            "features": [
                {"geometry": g.pop("geometry"), "properties": _town_name(g, page.lang)} for g in features
            ],
            "color": {"fixed": style.GRID_STROKE},
            "stroke": style.GRID_STROKE,
            "weight": 1.5,
            "dash": "5 4",
            "opacity": 0.06,
            "popup": POPUP_FIELDS["grids"],
        },
    )
    page.legend(style.legend_row("#fff", w["legend_grids"], border=style.GRID_STROKE))


def inspection_status(page: MapPage, layer: LayerRows, show: bool) -> None:
    """A ring around each facility to visit: its latest inspection's outcome, dashed when overdue."""
    w = page.words
    page.draw(
        page.group(w["inspection_status"], show),
        "points",
        {
            "layer": "inspection_status",
            **in_language(layer, page.lang).as_json(),
            "color": style.INSPECTION,
            "radius": {"fixed": 9},
            "ring": True,
            "popup": POPUP_FIELDS["inspection_status"],
            "own_map": True,
            "record": False,
            "inspect": True,
        },
    )
    page.legend(f'<div class="sc-note">{w["legend_inspections"]}</div>')


def _town_name(town: dict[str, Any], lang: str) -> dict[str, Any]:
    if lang == "en" and town.get("name_en"):
        town["name"] = town["name_en"]
    return town


def villages(page: MapPage, layer: LayerRows, show: bool = True) -> None:
    w = page.words
    layer = in_language(layer, page.lang)
    page.draw(
        page.group(w["villages"], show),
        "points",
        point_spec(
            layer,
            {
                "layer": "villages",
                "color": style.CONNECTED,
                "radius": style.RADIUS["villages"],
                "stroke": style.LAYER_COLOURS["villages"],
                "weight": 0.5,
                "popup": POPUP_FIELDS["villages"],
                "own_map": True,
            },
        ),
    )
    page.legend(style.legend_row(style.GREEN, w["legend_village"], border=style.LAYER_COLOURS["villages"]))


def facilities(page: MapPage, name: str, layer: LayerRows, show: bool = True) -> None:
    layer = in_language(layer, page.lang)
    page.draw(
        page.group(page.words[name], show),
        "points",
        point_spec(
            layer,
            {
                "layer": name,
                "color": style.UTILISATION,
                "radius": style.RADIUS[name],
                "stroke": style.LAYER_COLOURS[name],
                "weight": 2.5,
                "popup": POPUP_FIELDS["facility"],
                "own_map": True,
                "label_outside": True,  # a town map names the facilities beyond it, with their load
            },
        ),
    )
    page.legend(style.legend_row("#fff", page.words[name], border=style.LAYER_COLOURS[name]))


def utilisation_legend(page: MapPage) -> None:
    w = page.words
    page.legend(f'<div class="sc-note">{w["legend_utilisation"]}</div>')
    for colour, key in zip(
        [*style.UTILISATION["colors"], style.GREY],
        ("legend_util_low", "legend_util_high", "legend_util_over", "legend_util_none"),
        strict=True,
    ):
        page.legend(style.legend_row(colour, w[key]))
    page.legend(style.legend_swatch_row(style.inactive_swatch(), w["legend_inactive"]))


def farms(page: MapPage, layer: LayerRows) -> None:
    w = page.words
    layer = in_language(layer, page.lang)
    page.draw(
        page.cluster(w["livestock_farms"]),
        "points",
        point_spec(
            layer,
            {
                "layer": "livestock_farms",
                "color": style.FARM_FACILITY,
                "radius": style.RADIUS["livestock_farms"],
                "stroke": style.LAYER_COLOURS["livestock_farms"],
                "popup": POPUP_FIELDS["livestock_farms"],
                "own_map": True,
            },
        ),
    )
    page.legend(style.legend_row(style.RED, w["legend_farms"], border=style.LAYER_COLOURS["livestock_farms"]))
    page.legend(cluster_legend(w["legend_farm_clusters"]))


def cluster_legend(text: str) -> str:
    """A cluster is a pie of its markers' fill colours: the legend shows one."""
    pie = f"conic-gradient({style.GREEN} 0 70%, {style.RED} 70% 100%)"
    return style.legend_swatch_row(f'<span class="sc-swatch" style="background:{pie}"></span>', text)


def toilets(page: MapPage, layer: LayerRows) -> None:
    w = page.words
    layer = in_language(layer, page.lang)
    page.draw(
        page.group(w["public_toilets"]),
        "points",
        {
            "layer": "public_toilets",
            **layer.as_json(),
            "color": {"fixed": style.LAYER_COLOURS["public_toilets"]},
            "radius": style.RADIUS["public_toilets"],
            "popup": POPUP_FIELDS["public_toilets"],
            "own_map": True,
        },
    )
    page.legend(style.legend_row(style.LAYER_COLOURS["public_toilets"], w["legend_toilets"]))


def flows(page: MapPage, layer: LayerRows, complete: bool = True) -> None:
    """One group of lines per stream; width by t/day. Toilet sludge starts hidden: it runs along the
    waste lines from the same villages and would hide them."""
    w = page.words
    stream_at = layer.fields.index("stream")
    page.legend(f'<div class="sc-note">{w["legend_flows"]}</div>')
    for stream in FLOW_STREAMS:
        rows = [r for r in layer.rows if r[stream_at] == stream]
        page.draw(
            page.group(w[f"flow_{stream}"], show=stream != "fecal_sludge"),
            "lines",
            {
                "key": f"flow_{stream}",
                "fields": layer.fields,
                "rows": rows,
                "color": style.STREAM_COLOURS[stream],
                "width": style.FLOW_WIDTH,
                "popup": POPUP_FIELDS["flows"],
                "title": f"flow_{stream}",
            },
        )
        page.legend(style.legend_row(style.STREAM_COLOURS[stream], w[f"flow_{stream}"], "sc-line"))
    page.legend(style.legend_swatch_row(style.broken_line_swatch(), w["legend_broken_flow"]))
    if not complete:
        page.legend(f'<div class="sc-note">{w["legend_source_links_dropped"]}</div>')


def standard_links(page: MapPage) -> None:
    """The landing page's links, on every map."""
    for key, path in (
        ("city_map", "/maps/city"),
        ("collections", "/collections"),
        ("indicators", "/indicators"),
        ("api_docs", "/docs"),
        ("conformance", "/conformance"),
        ("sign_in", "/login"),
    ):
        page.link(key, path)
