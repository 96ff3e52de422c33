"""One facility's map: the area it serves, what feeds it and what it feeds, with distances and flows."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from service.chain.computation import computed
from service.errors import NotFound
from service.maps import editing, layers, map_rows, style
from service.maps.city import MapRequest, blank_page
from service.maps.map_rows import LayerRows

if TYPE_CHECKING:
    from service.maps.page import MapPage

MAP_LAYERS = map_rows.POINT_LAYERS


class UnknownFeature(NotFound):
    """No feature with that id in that layer."""


def _ends(links: LayerRows, side: str) -> LayerRows:
    """The far end of each link as a point (upstream: where it starts; downstream: where it ends)."""
    f = {name: i for i, name in enumerate(links.fields)}
    lat, lon = ("lat1", "lon1") if side == "upstream" else ("lat2", "lon2")
    layer_of, id_of = ("source_layer", "source_id") if side == "upstream" else ("target_layer", "target_id")
    seen: dict[tuple[str, int], list[object]] = {}
    for r in links.rows:
        key = (r[f[layer_of]], r[f[id_of]])
        seen.setdefault(key, [key[0], key[1], r[f["other_code"]], r[f["other_name"]], r[f[lat]], r[f[lon]]])
    return LayerRows(["layer", "id", "code", "name", "lat", "lon"], list(seen.values()))


def _link_table(w: dict[str, str], links: LayerRows, side: str) -> str:
    """Every flow of one side, largest first, in a box that scrolls: other end, stream, t/day, km.
    (As many rows as the page draws lines, so the table never outweighs the map.)"""
    f = {name: i for i, name in enumerate(links.fields)}
    rows = sorted(links.rows, key=lambda r: -(r[f["flow"]] or 0))
    body = "".join(
        f"<tr><td>{html.escape(str(r[f['other_name']]))}</td>"
        f"<td>{html.escape(w.get(r[f['stream']], ''))}</td>"
        f"<td>{(r[f['flow']] or 0):,.2f} t/d</td><td>{(r[f['distance_m']] or 0) / 1000:,.1f} km</td></tr>"
        for r in rows
    )
    count = html.escape(w["sources_count"].format(n=f"{len(rows):,}"))
    return (
        f'<div class="sc-note">{html.escape(w[side])} · {count}</div>'
        f'<div class="sc-scroll" data-side="{side}"><table class="sc-table">{body}</table></div>'
    )


def _inspection_row(w: dict[str, str], r: dict[str, Any]) -> str:
    distance = "" if r["distance_m"] is None else f"{r['distance_m']:,.0f} m"
    cells = (r["inspected_at"][:10], w.get(r["outcome"], r["outcome"]), r["inspector"], distance)
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"


def _inspection_panel(w: dict[str, str], inspected: dict[str, Any], base: str) -> str:
    """The facility's latest inspections (date, outcome, inspector, distance), the inspection form's
    link, and when it is stopped what depends on it."""
    layer, feature_id = inspected["layer"], inspected["id"]
    rows = "".join(_inspection_row(w, r) for r in inspected["inspections"])
    table = (
        f'<div class="sc-scroll"><table class="sc-table sc-inspections">{rows}</table></div>'
        if rows
        else f'<div class="sc-note">{html.escape(w["no_inspections"])}</div>'
    )
    form = html.escape(f"{base}/inspections/new?layer={layer}&feature_id={feature_id}")
    out = (
        f'<div class="sc-note"><b>{html.escape(w["inspections_of"])}</b> · '
        f'<a class="sc-inspect-link" href="{form}">{html.escape(w["inspect"])}</a></div>{table}'
    )
    outage = inspected["outage"]
    if outage:
        lines = "".join(
            "<li>"
            + html.escape(
                w["outage_line"].format(
                    stream=w.get(s["stream"], s["stream"]), villages=s["villages"], farms=s["farms"],
                    t=f"{s['t_per_day_no_longer_treated']:,.2f}",
                )
            )
            + "</li>"
            for s in outage["streams"]
        )  # fmt: skip
        alternatives = w["outage_alternatives"].format(n=outage["alternatives"], m=outage["links_delivering"])
        details = html.escape(f"{base}/chain/outages/{layer}/{feature_id}")
        out += (
            f'<div class="sc-outage"><b>{html.escape(w["outage_title"])}</b><ul>{lines}</ul>'
            f"<div>{html.escape(alternatives)} · "
            f'<a href="{details}">{html.escape(w["outage_details"])}</a></div></div>'
        )
    return out


def facility_page(engine: Engine, layer: str, feature_id: int, req: MapRequest) -> MapPage:
    """NotFound for a layer without maps (a missing resource, not a bad value), UnknownFeature when the
    id is not in the layer."""
    if layer not in MAP_LAYERS:
        raise NotFound(f"layer: {layer!r} has no facility map; one of {list(MAP_LAYERS)}")
    with computed(engine) as conn:
        feature = map_rows.point_feature(conn, layer, feature_id)
        if feature is None:
            raise UnknownFeature(f"no feature {feature_id} in {layer}")
        upstream, downstream = map_rows.links_of(conn, layer, feature_id)
        area = map_rows.service_area(conn, layer, feature_id)
        inspected = req.inspections(conn, layer, feature_id, req.lang) if req.inspections else None
    feature = map_rows.feature_in_language(feature, req.lang)
    upstream, downstream = (
        map_rows.in_language(upstream, req.lang),
        map_rows.in_language(downstream, req.lang),
    )
    page = blank_page(req)
    w = page.words
    page.title = w["title_facility"].format(name=feature["name"])
    if area is not None:
        page.draw(
            page.group(w["service_areas"]),
            "areas",
            {
                "layer": "service_areas",
                "features": [{"geometry": area, "properties": {"name": feature["name"]}}],
                "color": {"fixed": style.LAYER_COLOURS.get(layer, "#1864ab")},
                "opacity": 0.12,
                "dash": "6 4",
                "popup": [],
                "record": False,
            },
        )
        page.legend(
            style.legend_row(style.LAYER_COLOURS.get(layer, "#1864ab"), w["legend_service_area"], "sc-square")
        )
    for side, links in (("upstream", upstream), ("downstream", downstream)):
        if not links.rows:
            continue
        group = page.group(w[side])
        colour = style.STREAM_COLOURS.get(str(links.rows[0][links.fields.index("stream")]), "#1c7ed6")
        page.draw(
            group,
            "lines",
            {
                "key": f"{side}_links",
                "side": side,
                **links.as_json(),
                "color": colour,
                "colors": style.STREAM_COLOURS,  # a village sends waste and sludge: one colour each
                "width": style.FLOW_WIDTH,
                "popup": layers.POPUP_FIELDS["flows"],
                "title": side,
            },
        )
        page.draw(
            group,
            "points",
            {
                "key": side,
                "layer": side,
                **_ends(links, side).as_json(),
                "color": {"fixed": style.GREY if side == "upstream" else colour},
                "radius": {"fixed": 4 if side == "upstream" else 7},
                "popup": ["code"],
                "own_map": True,
            },
        )
        page.legend(style.legend_row(style.GREY if side == "upstream" else colour, w[f"legend_{side}"]))
        page.legend(_link_table(w, links, side))
    page.draw(
        page.group(w["facility"]),
        "points",
        {
            "key": "facility",
            "layer": layer,
            "fields": list(feature),
            "rows": [list(feature.values())],
            "color": style.UTILISATION,
            "radius": {"fixed": 11},
            "stroke": style.LAYER_COLOURS.get(layer, "#000"),
            "weight": 3,
            "popup": [*layers.POPUP_FIELDS["facility"], "town_name"],
            "label": True,  # name and load, or its status when not operational
        },
    )
    if not upstream.rows and not downstream.rows:
        page.legend(f'<div class="sc-note">{html.escape(w["no_links"])}</div>')
    if inspected is not None:
        # a stopped facility says so first; otherwise its inspections follow the legend
        page.legend(_inspection_panel(w, inspected, req.base_url), first=inspected["outage"] is not None)
    layers.utilisation_legend(page)
    if layer in editing.MAP_EDITABLE:
        page.editable(editing.facility_form(layer, feature_id, feature.get("town_code")))
    if feature.get("town_code"):
        page.link("town_map", f"/maps/towns/{feature['town_code']}")
    layers.standard_links(page)
    return page
