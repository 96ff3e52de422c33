"""Maps that tell the truth at a glance, seen in Debian's Chromium (Playwright) on a desktop (1366×900)
and a phone (390×844), against the real service over a copy of the demo whose Huanghua (370782117)
transfer station is suspended.

What a reader must see without reading popups: a suspended or closed facility is pale and dashed, never
a load colour, and its flows are broken grey lines without arrows; a town's map draws the facilities
its flows reach beyond the town, named with their load, so every line ends at a marker; live flows
carry an arrowhead pointing downstream; farm clusters are pies of the legend's colours; the city fills
the screen; on a phone the legend, attribution and layer control leave the map and the panel title
readable; a facility's page lists every source in a box that scrolls.

Screenshots land in artifacts/maps/ (git-ignored), named truth-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from service.db import make_engine
from service.maps import style
from tests.browser import READY, VIEWPORTS
from tests.conftest import PgServer, demo_copy
from tests.service_process import running_service

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "maps"
SUSPENDED_TOWN = "370782117"
TOWN = "370782118"
# Leaflet.markercluster's own classes: yellow/orange/green bubbles that clash with the load colours
PLUGIN_CLUSTER_CLASSES = ("marker-cluster-small", "marker-cluster-medium", "marker-cluster-large")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def truth_engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    """The demo with Huanghua's transfer station suspended (its flows stay in chain_links)."""
    with demo_copy(pg_server, migrated_template, "maps_truth") as url:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE transfer_stations SET status = 'suspended' "
                    "WHERE town_id = (SELECT id FROM towns WHERE code = :code)"
                ),
                {"code": SUSPENDED_TOWN},
            )
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def service(truth_engine: Engine) -> Iterator[str]:
    url = truth_engine.url.render_as_string(hide_password=False)
    with running_service(url, env={"SANICHAIN_BASEMAP": "none"}) as base:
        yield base


@pytest.fixture(params=list(VIEWPORTS))
def screen(request: pytest.FixtureRequest, chromium: Any) -> Iterator[tuple[str, Any, list[str]]]:
    """(viewport name, page, problems seen by the page) for each viewport."""
    context = chromium.new_context(**VIEWPORTS[request.param])
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    try:
        yield request.param, page, problems
    finally:
        context.close()


def open_map(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function(READY, timeout=60_000)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"truth-{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def ids_of(engine: Engine, sql: str, **params: Any) -> list[int]:
    with engine.connect() as conn:
        return [int(v) for v in conn.execute(text(sql), params).scalars()]


def rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


# Every drawn line of the flow groups, with its ends and style, read from the page.
LINES_JS = """() => {
  const out = [];
  Object.keys(Sanichain.groups).filter(k => k.startsWith('flow_') || k.endsWith('_links')).forEach(k => {
    const g = Sanichain.groups[k];
    g.getLayers().filter(l => l.feature && l.feature.layer === 'chain_links').forEach(l => {
      const ll = l.getLatLngs();
      out.push({group: k, on: Sanichain.map.hasLayer(g), broken: l.broken, color: l.options.color,
                dash: l.options.dashArray, a: [ll[0].lat, ll[0].lng], b: [ll[1].lat, ll[1].lng]});
    });
  });
  return out;
}"""

# Every drawn marker (clustered ones included), with its position, fill and whether its group is shown.
MARKERS_JS = """() => {
  const out = [];
  const shown = new Set();
  Object.keys(Sanichain.groups).forEach(k => {
    const g = Sanichain.groups[k];
    if (Sanichain.map.hasLayer(g)) { g.getLayers().forEach(l => shown.add(l)); }
  });
  Object.keys(Sanichain.drawn).forEach(layer => {
    Object.entries(Sanichain.drawn[layer]).forEach(([id, m]) => {
      const at = m.getLatLng();
      out.push({layer, id: Number(id), lat: at.lat, lon: at.lng, fill: m.options.fillColor,
                dash: m.options.dashArray, shown: shown.has(m), name: m.feature.name,
                label: m.getTooltip() ? m.getTooltip().getContent() : null});
    });
  });
  return out;
}"""


def test_a_suspended_station_is_pale_and_dashed_and_its_flows_broken_without_arrows(
    screen, service, truth_engine
):
    name, page, problems = screen
    stations = ids_of(
        truth_engine,
        "SELECT s.id FROM transfer_stations s JOIN towns t ON t.id = s.town_id WHERE t.code = :c",
        c=SUSPENDED_TOWN,
    )
    assert stations
    open_map(page, f"{service}/maps/towns/{SUSPENDED_TOWN}")
    markers = page.evaluate(MARKERS_JS)
    for station_id in stations:
        m = next(m for m in markers if m["layer"] == "transfer_stations" and m["id"] == station_id)
        assert m["fill"] == style.INACTIVE["fill"] and m["dash"] == style.INACTIVE["dash"], m
        assert m["fill"] not in style.UTILISATION["colors"]
    # the station's flow to the plant and its collection points' flows to it: grey, dashed, no arrow
    station_at = [
        (m["lat"], m["lon"]) for m in markers if m["layer"] == "transfer_stations" and m["id"] in stations
    ]
    lines = page.evaluate(LINES_JS)
    touching = [ln for ln in lines if tuple(ln["a"]) in station_at or tuple(ln["b"]) in station_at]
    assert len(touching) > 1
    assert all(
        ln["broken"] and ln["color"] == style.BROKEN_FLOW["color"] and ln["dash"] == style.BROKEN_FLOW["dash"]
        for ln in touching
    )
    arrows_on_broken = page.evaluate("Sanichain.arrows.filter(a => a.line.broken).length")
    assert arrows_on_broken == 0
    # the legend says what pale and dashed mean
    legend = page.locator("#sc-legend-control").text_content() or ""
    assert "未运行" in legend and "灰色虚线" in legend
    if name == "phone":
        page.locator("#sc-legend-control summary").tap()
    shot(page, f"town-{SUSPENDED_TOWN}-suspended-{name}")
    assert problems == []


def test_a_closed_landfill_is_never_drawn_in_a_load_colour(screen, service, truth_engine):
    name, page, problems = screen
    (landfill,) = ids_of(truth_engine, "SELECT id FROM treatment_plants WHERE status = 'closed'")
    open_map(page, f"{service}/maps/facilities/treatment_plants/{landfill}")
    fill = page.evaluate("Sanichain.groups.facility.getLayers()[0].options.fillColor")
    assert fill == style.INACTIVE["fill"]
    # named with its status on the map, and the legend says why the map is otherwise empty
    assert page.locator(".sc-label").inner_text().endswith("关闭")
    assert "没有上下游流向" in (page.locator("#sc-legend-control").text_content() or "")
    # on the city map too
    open_map(page, f"{service}/maps/city")
    markers = page.evaluate(MARKERS_JS)
    drawn = next(m for m in markers if m["layer"] == "treatment_plants" and m["id"] == landfill)
    assert drawn["fill"] == style.INACTIVE["fill"]
    operational = [m for m in markers if m["layer"] == "treatment_plants" and m["id"] != landfill]
    assert operational and all(m["fill"] != style.INACTIVE["fill"] for m in operational)
    open_map(page, f"{service}/maps/facilities/treatment_plants/{landfill}")
    shot(page, f"closed-landfill-{name}")
    assert problems == []


def test_every_flow_of_a_town_ends_at_a_drawn_and_named_facility_inside_the_view(screen, service):
    name, page, problems = screen
    open_map(page, f"{service}/maps/towns/{TOWN}")
    markers = page.evaluate(MARKERS_JS)
    at = {(round(m["lat"], 5), round(m["lon"], 5)) for m in markers if m["shown"]}
    lines = [ln for ln in page.evaluate(LINES_JS) if ln["on"]]
    assert len(lines) > 100
    ends = [end for ln in lines for end in (ln["a"], ln["b"])]
    loose = [end for end in ends if (round(end[0], 5), round(end[1], 5)) not in at]
    assert loose == [], f"{len(loose)} line ends without a marker, e.g. {loose[:3]}"
    # the plant, manure centres and biogas centre outside the town: drawn, labelled with name and load
    outside = [m for m in markers if m["label"]]
    layers = {m["layer"] for m in outside}
    assert {"treatment_plants", "manure_centers"} <= layers, layers
    for m in outside:
        assert m["name"] in m["label"] and ("%" in m["label"] or "·" in m["label"])
    # and the view takes them in
    inside = page.evaluate(
        "(pts) => pts.every(p => Sanichain.map.getBounds().contains([p[0], p[1]]))",
        [[m["lat"], m["lon"]] for m in outside],
    )
    assert inside
    labels = page.locator(".sc-label")
    assert labels.count() == len(outside)
    # a flow's popup names where it comes from and where it goes
    popup = page.evaluate(
        """() => { const g = Sanichain.groups.flow_domestic_waste;
                   const l = g.getLayers().find(x => x.feature && x.options.weight > 4);
                   l.openPopup(); return document.querySelector('.leaflet-popup-content').innerText; }"""
    )
    assert "来源" in popup and "去向" in popup and "垃圾" in popup
    shot(page, f"town-{TOWN}-{name}")
    assert problems == []


def test_live_flows_carry_an_arrowhead_pointing_downstream(screen, service):
    _, page, problems = screen
    open_map(page, f"{service}/maps/towns/{TOWN}")
    arrows = page.evaluate(
        """() => Sanichain.arrows
             .filter(a => Sanichain.map.hasLayer(a) && a.getLatLngs()[0].length === 3).map(a => {
             const m = Sanichain.map, ll = a.line.getLatLngs(), p = a.getLatLngs()[0];
             return {a: m.latLngToContainerPoint(ll[0]), b: m.latLngToContainerPoint(ll[1]),
                     tip: m.latLngToContainerPoint(p[0]), base: m.latLngToContainerPoint(p[1]),
                     other: m.latLngToContainerPoint(p[2])}; })"""
    )
    drawn = [
        a for a in arrows if abs(a["tip"]["x"] - a["base"]["x"]) + abs(a["tip"]["y"] - a["base"]["y"]) > 1
    ]
    assert len(drawn) >= 10, f"{len(drawn)} of {len(arrows)} arrowheads drawn"
    for a in drawn:
        dx, dy = a["b"]["x"] - a["a"]["x"], a["b"]["y"] - a["a"]["y"]
        length = (dx * dx + dy * dy) ** 0.5
        # the tip lies on the line, past its middle, and points from source to target
        along = ((a["tip"]["x"] - a["a"]["x"]) * dx + (a["tip"]["y"] - a["a"]["y"]) * dy) / length
        across = abs((a["tip"]["x"] - a["a"]["x"]) * dy - (a["tip"]["y"] - a["a"]["y"]) * dx) / length
        assert 0.5 * length < along < 0.8 * length and across < 1.5
        back = ((a["base"]["x"] - a["tip"]["x"]) * dx + (a["base"]["y"] - a["tip"]["y"]) * dy) / length
        assert back < 0  # the wide end is upstream of the tip
    assert problems == []


def test_farm_clusters_are_pies_of_the_legends_colours(screen, service):
    name, page, problems = screen
    open_map(page, f"{service}/maps/city")
    clusters = page.locator(".sc-cluster")
    assert clusters.count() > 0
    for plugin_class in PLUGIN_CLUSTER_CLASSES:
        assert page.locator(f".{plugin_class}").count() == 0
    rule = style.FARM_FACILITY
    farm_colours = {rgb(c) for c in (*rule["values"].values(), rule["none"], style.INACTIVE["fill"])}
    checked = page.evaluate(
        """(green) => { const out = [];
             Sanichain.map.eachLayer(l => { if (l.getAllChildMarkers && l._icon) {
               const kids = l.getAllChildMarkers();
               out.push({bg: l._icon.querySelector('.sc-cluster').style.background,
                         n: kids.length, green: kids.filter(k => k.options.fillColor === green).length});
             } });
             return out; }""",
        style.GREEN,
    )
    assert checked
    for c in checked:
        used = set(re.findall(r"rgb\(\d+, \d+, \d+\)", c["bg"]))
        assert used and used <= farm_colours, c["bg"]
        if 0 < c["green"] < c["n"]:  # the green share of the pie is the share of equipped farms
            share = c["green"] / c["n"] * 100
            assert f"{share:.2f}%" in c["bg"] or f"{100 - share:.2f}%" in c["bg"], (share, c["bg"])
    shot(page, f"city-{name}")
    assert problems == []


def test_the_city_fills_the_screen(screen, service):
    _, page, problems = screen
    open_map(page, f"{service}/maps/city")
    fit = page.evaluate(
        """() => { const m = Sanichain.map, b = Sanichain.groups.towns.getBounds(), s = m.getSize();
             const nw = m.latLngToContainerPoint(b.getNorthWest());
             const se = m.latLngToContainerPoint(b.getSouthEast());
             return {w: (se.x - nw.x) / s.x, h: (se.y - nw.y) / s.y, mapH: s.y, winH: window.innerHeight,
                     mapW: s.x, winW: window.innerWidth}; }"""
    )
    assert fit["mapH"] == fit["winH"] and fit["mapW"] == fit["winW"]
    assert max(fit["w"], fit["h"]) >= 0.85, fit
    assert fit["w"] <= 1.0 and fit["h"] <= 1.0, fit  # and all of it is in view
    assert problems == []


def box(page: Any, selector: str) -> dict[str, float]:
    b = page.locator(selector).first.bounding_box()
    assert b is not None, selector
    return b


def overlap(a: dict[str, float], b: dict[str, float]) -> float:
    w = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    return max(w, 0) * max(h, 0)


def test_on_a_phone_controls_leave_the_map_and_each_other_readable(chromium, service):
    context = chromium.new_context(**VIEWPORTS["phone"])
    page = context.new_page()
    try:
        open_map(page, f"{service}/maps/city")
        assert overlap(box(page, ".leaflet-control-attribution"), box(page, ".leaflet-control-scale")) == 0
        assert overlap(box(page, ".leaflet-control-layers"), box(page, "#sc-panel-control summary")) == 0
        legend = page.locator("#sc-legend-control details")
        assert legend.get_attribute("open") is None  # folded on a phone
        shot(page, "city-phone-legend-folded")
        page.locator("#sc-legend-control summary").tap()
        assert legend.get_attribute("open") is not None
        map_box = box(page, ".folium-map")
        legend_box = box(page, "#sc-legend-control")
        share = legend_box["width"] * legend_box["height"] / (map_box["width"] * map_box["height"])
        assert share <= 0.30, f"the open legend covers {share:.0%} of the map"
        assert overlap(legend_box, box(page, ".leaflet-control-scale")) == 0
        # its rows scroll inside it
        assert page.evaluate(
            "(() => { const c = document.getElementById('sc-legend-control'); "
            "return c.scrollHeight > c.clientHeight && getComputedStyle(c).overflowY === 'auto'; })()"
        )
        shot(page, "city-phone-legend-open")
    finally:
        context.close()


def test_a_facilitys_page_lists_every_source_in_a_scrolling_box(screen, service, truth_engine):
    name, page, problems = screen
    with truth_engine.connect() as conn:
        centre, sources = conn.execute(
            text(
                "SELECT target_id, count(*) FROM chain_links WHERE target_layer = 'manure_centers' "
                "GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
            )
        ).one()
    assert sources > 12
    open_map(page, f"{service}/maps/facilities/manure_centers/{centre}")
    if name == "phone":
        page.locator("#sc-legend-control summary").tap()
    table = page.locator('.sc-scroll[data-side="upstream"]')
    assert table.locator("tr").count() == sources
    assert f"共 {sources:,} 条" in page.locator("#sc-legend-control").inner_text()
    assert "… +" not in page.locator("#sc-legend-control").inner_text()
    scroll = table.evaluate("el => ({sh: el.scrollHeight, ch: el.clientHeight, vh: window.innerHeight})")
    assert scroll["sh"] > scroll["ch"] and scroll["ch"] <= 0.31 * scroll["vh"]
    last = table.locator("tr").last
    last.scroll_into_view_if_needed()
    assert last.is_visible()
    shot(page, f"facility-sources-{name}")
    assert problems == []
