"""Map pages in a real chromium: Debian's Chromium driven by Playwright, against the real service.

Every page must load with no console error and no failed request (the basemap is 'none', so nothing
leaves the machine), draw exactly the features PostGIS holds, and keep working offline from file://.
Screenshots land in artifacts/maps/ (git-ignored).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from service.vocabulary import INSPECTED_LAYERS
from tests.browser import READY
from tests.conftest import POINT_LAYERS
from tests.queries import rows, scalar
from tests.service_process import running_service

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "maps"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(demo_database_url: str) -> Iterator[str]:
    with running_service(demo_database_url, env={"SANICHAIN_BASEMAP": "none"}) as url:
        yield url


class MapPage:
    """One page with everything that went wrong on it recorded."""

    def __init__(self, chromium: Any, **context: Any):
        self.context = chromium.new_context(**context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, url: str, screenshot: str) -> MapPage:
        response = self.page.goto(url)
        assert response is None or response.status == 200, url
        self.page.wait_for_function(READY, timeout=30_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{screenshot}.png"))
        assert self.errors == [], self.errors
        return self

    def drawn(self) -> dict[str, int]:
        """Per layer: the Leaflet layers really held by its group (what the page drew)."""
        return self.page.evaluate(
            "Object.fromEntries(Object.entries(Sanichain.groups).map(([k, g]) => [k, g.getLayers().length]))"
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Any]:
    pages: list[MapPage] = []

    def make(**context: Any) -> MapPage:
        pages.append(MapPage(chromium, **context))
        return pages[-1]

    yield make
    for p in pages:
        p.close()


def counts(engine: Any, town_id: int | None = None) -> dict[str, int]:
    """What PostGIS holds per map layer (the whole city, or one town)."""
    where = "" if town_id is None else f"WHERE town_id = {int(town_id)}"
    with engine.connect() as conn:
        out = {
            layer: conn.execute(text(f"SELECT count(*) FROM {layer} {where}")).scalar_one()
            for layer in POINT_LAYERS
        }
        out["towns"] = conn.execute(
            text("SELECT count(*) FROM towns" + ("" if town_id is None else f" WHERE id = {int(town_id)}"))
        ).scalar_one()
        out["grids"] = conn.execute(text(f"SELECT count(*) FROM grids {where}")).scalar_one()
        # an inspection ring around every facility to visit (operational or suspended)
        out["inspection_status"] = sum(
            conn.execute(
                text(
                    f"SELECT count(*) FROM {layer} WHERE status IN ('operational', 'suspended')"
                    + ("" if town_id is None else f" AND town_id = {int(town_id)}")
                )
            ).scalar_one()
            for layer in INSPECTED_LAYERS
        )
        if town_id is None:
            per_stream = conn.execute(
                text("SELECT stream, count(*) FROM chain_links WHERE geom IS NOT NULL GROUP BY stream")
            ).all()
            out.update({f"flow_{stream}": n for stream, n in per_stream})
    return out


def test_city_map_draws_every_feature_postgis_holds_with_no_error(open_page, service, demo_engine):
    page = open_page(viewport={"width": 1280, "height": 860}).open(service + "/maps/city", "city")
    expected = counts(demo_engine)
    assert page.drawn() == expected
    assert expected["villages"] > 1000 and expected["flow_domestic_waste"] > 1000
    # nothing but the service itself was asked for anything
    assert all(url.startswith(service) for url in page.requests), page.requests


def test_root_gives_browsers_the_city_map_with_the_landing_links(open_page, service):
    page = open_page().open(service + "/", "landing")
    hrefs = page.page.eval_on_selector_all("#sc-panel-control a", "as => as.map(a => a.getAttribute('href'))")
    for path in ("/collections", "/docs", "/conformance", "/indicators"):
        assert service + path in hrefs
    assert page.drawn()["transfer_stations"] > 0


def test_layer_control_hides_and_shows_a_layer(open_page, service):
    page = open_page(viewport={"width": 1280, "height": 860}).open(service + "/maps/city", "city-layers")
    p = page.page
    p.hover(".leaflet-control-layers")
    label = p.locator(".leaflet-control-layers-overlays label", has_text="乡镇垃圾压缩中转站")
    on_map = "Sanichain.map.hasLayer(Sanichain.groups.transfer_stations)"
    assert p.evaluate(on_map) is True
    label.locator("input").uncheck()
    assert p.evaluate(on_map) is False
    label.locator("input").check()
    assert p.evaluate(on_map) is True


def _click_feature(p: Any, lat: float, lon: float) -> str:
    """Zoom to a point, click it like a user, return the popup's text."""
    p.evaluate(f"void Sanichain.map.setView([{lat}, {lon}], 15, {{animate: false}})")
    point = p.evaluate(
        f"(() => {{ const c = Sanichain.map.latLngToContainerPoint([{lat}, {lon}]);"
        " const r = Sanichain.map.getContainer().getBoundingClientRect();"
        " return [c.x + r.left, c.y + r.top]; })()"
    )
    p.mouse.click(point[0], point[1])
    popup = p.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5_000)
    return str(popup.inner_text())


def _largest_station(engine: Any) -> Any:
    [station] = rows(
        engine,
        "SELECT id, name, capacity::float8 AS capacity, ST_Y(geom) AS lat, ST_X(geom) AS lon "
        "FROM transfer_stations ORDER BY capacity DESC NULLS LAST, id LIMIT 1",
    )
    return station


def _capacity_text(capacity: float) -> str:
    return f"{capacity:,.1f}".removesuffix(".0")


def test_popup_shows_the_stations_name_capacity_and_links_in_chinese_and_english(
    open_page, service, demo_engine
):
    station = _largest_station(demo_engine)
    page = open_page(viewport={"width": 1280, "height": 860}).open(service + "/maps/city", "city-popup")
    drawn_at = page.page.evaluate(
        f"Sanichain.groups.transfer_stations.getLayers().find(m => m.feature.id === {station.id}).getLatLng()"
    )
    assert abs(drawn_at["lat"] - station.lat) < 6e-6 and abs(drawn_at["lng"] - station.lon) < 6e-6  # ~1 m
    content = _click_feature(page.page, station.lat, station.lon)
    assert station.name in content
    assert "设计能力" in content and f"{_capacity_text(station.capacity)} t/d" in content
    links = page.page.eval_on_selector_all(".leaflet-popup-content a", "as => as.map(a => a.href)")
    assert f"{service}/collections/transfer_stations/items/{station.id}" in links
    assert f"{service}/maps/facilities/transfer_stations/{station.id}?lang=zh" in links
    page.page.screenshot(path=str(ARTIFACTS / "city-popup.png"))

    english = open_page(viewport={"width": 1280, "height": 860}).open(
        service + "/maps/city?lang=en", "city-en"
    )
    content = _click_feature(english.page, station.lat, station.lon)
    assert "Capacity" in content and f"{_capacity_text(station.capacity)} t/d" in content
    assert "Utilisation" in content


def linked_ends(engine: Any, town_id: int) -> dict[str, int]:
    """Per layer: features outside the town at the far end of a link with an end inside it."""
    nodes = " UNION ALL ".join(
        f"SELECT '{layer}' AS layer, id, town_id FROM {layer}" for layer in POINT_LAYERS
    )
    with engine.connect() as conn:
        found = conn.execute(
            text(
                f"""
                WITH node AS ({nodes}), touching AS (
                    SELECT s.layer AS sl, s.id AS si, s.town_id AS st,
                           t.layer AS tl, t.id AS ti, t.town_id AS tt
                    FROM chain_links l
                    JOIN node s ON s.layer = l.source_layer AND s.id = l.source_id
                    JOIN node t ON t.layer = l.target_layer AND t.id = l.target_id
                    WHERE l.geom IS NOT NULL AND (s.town_id = :town OR t.town_id = :town)
                ), ends AS (
                    SELECT sl AS layer, si AS id FROM touching WHERE st IS DISTINCT FROM :town
                    UNION SELECT tl, ti FROM touching WHERE tt IS DISTINCT FROM :town
                )
                SELECT layer, count(*) FROM ends GROUP BY layer
                """
            ),
            {"town": town_id},
        ).all()
    return {layer: n for layer, n in found}


def test_town_map_draws_its_features_and_whatever_its_flows_reach_outside(open_page, service, demo_engine):
    [(town_id, code)] = rows(
        demo_engine,
        "SELECT t.id, t.code FROM towns t JOIN villages v ON v.town_id = t.id "
        "GROUP BY t.id ORDER BY count(*) DESC LIMIT 1",
    )
    page = open_page().open(f"{service}/maps/towns/{code}", "town")
    drawn = page.drawn()
    expected = counts(demo_engine, town_id)
    beyond = linked_ends(demo_engine, town_id)
    assert beyond.get("treatment_plants", 0) >= 1  # the plant its station sends to
    for layer, n in expected.items():
        assert drawn[layer] == n + beyond.get(layer, 0), layer
    assert drawn["villages"] > 10


def test_facility_map_shows_what_feeds_it_and_what_it_feeds(open_page, service, demo_engine):
    station = _largest_station(demo_engine)
    upstream = scalar(
        demo_engine,
        "SELECT count(*) FROM chain_links WHERE target_layer = 'transfer_stations' AND target_id = :id",
        id=station.id,
    )
    downstream = scalar(
        demo_engine,
        "SELECT count(*) FROM chain_links WHERE source_layer = 'transfer_stations' AND source_id = :id",
        id=station.id,
    )
    page = open_page().open(f"{service}/maps/facilities/transfer_stations/{station.id}", "facility")
    counted = page.page.evaluate("Sanichain.counts")
    assert upstream > 0 and downstream > 0
    assert counted["upstream_links"] == upstream
    assert counted["downstream_links"] == downstream
    assert counted["facility"] == 1 and counted["service_areas"] == 1
    content = _click_feature(page.page, station.lat, station.lon)
    assert station.name in content and f"{_capacity_text(station.capacity)} t/d" in content


def test_coverage_map_draws_served_and_unserved_villages_as_the_coverage_api_counts(open_page, service):
    import json
    import urllib.request

    query = "layer=collection_points&distance_m=1000"
    with urllib.request.urlopen(f"{service}/coverage?{query}") as r:
        api = json.load(r)
    page = open_page().open(f"{service}/maps/coverage?{query}", "coverage")
    served = page.page.evaluate("Object.values(Sanichain.index.villages).filter(v => v.served).length")
    drawn = page.drawn()
    assert drawn["villages"] == api["city"]["villages_total"]
    assert served == api["city"]["villages_served"]
    assert drawn["livestock_farms"] == api["city"]["farms_total"]
    assert drawn["collection_points"] == drawn["service_areas"] == len(api["facilities"])


def test_coverage_map_by_road_draws_what_the_road_coverage_api_counts(open_page, service):
    import json
    import urllib.request

    query = "layer=transfer_stations&distance_m=5000&distance_mode=road"
    with urllib.request.urlopen(f"{service}/coverage?{query}") as r:
        api = json.load(r)
    with urllib.request.urlopen(f"{service}/coverage?{query.replace('road', 'geodesic')}") as r:
        geodesic = json.load(r)
    assert api["city"]["villages_served"] < geodesic["city"]["villages_served"]  # roads detour
    page = open_page().open(f"{service}/maps/coverage?{query}", "coverage-road")
    served = page.page.evaluate("Object.values(Sanichain.index.villages).filter(v => v.served).length")
    drawn = page.drawn()
    assert served == api["city"]["villages_served"]
    assert drawn["villages"] == api["city"]["villages_total"]
    # one road-reach polygon per facility that reaches anything, drawn as areas, not circles
    reaching = [f for f in api["facilities"] if f["villages_served"] or f["farms_served"]]
    assert len(reaching) <= drawn["service_areas"] <= len(api["facilities"])
    assert "5,000" in page.page.title() and "沿道路" in page.page.title()


def test_city_map_fits_a_phone_screen(open_page, service):
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    page = open_page(**phone).open(service + "/maps/city", "city-phone")
    p = page.page
    assert "width=device-width" in str(p.get_attribute('meta[name="viewport"]', "content"))
    # the panels start folded so the map stays visible; the map fills the screen
    assert p.evaluate("[...document.querySelectorAll('details.sc-fold')].every(d => !d.open)")
    box = p.locator(".folium-map").bounding_box()
    assert box is not None and box["width"] == 390 and box["height"] == 844
    p.tap(".sc-control summary >> nth=0")
    assert p.evaluate("document.querySelector('details.sc-fold').open") is True


def test_offline_export_opens_from_file_with_the_network_cut(
    open_page, demo_database_url, demo_engine, tmp_path
):
    out = tmp_path / "city.html"
    env = {**os.environ, "DATABASE_URL": demo_database_url, "SANICHAIN_BASEMAP": "none"}
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "map", "city", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    html = out.read_text("utf-8")
    assert "<script src=" not in html and 'rel="stylesheet"' not in html  # everything inlined
    page = open_page(offline=True)
    page.context.route(
        "**/*",
        lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_(),
    )
    page.open(out.as_uri(), "offline-city")
    assert page.drawn() == counts(demo_engine)
    assert all(url.startswith("file:") for url in page.requests), page.requests


def test_flow_line_popup_names_both_ends_and_gives_flow_and_length(open_page, service, demo_engine):
    [link] = rows(
        demo_engine,
        "SELECT l.id, v.name AS source, c.name AS target, "
        "round(ST_Length(l.geom::geography)) AS metres "
        "FROM chain_links l JOIN villages v ON v.id = l.source_id "
        "JOIN collection_points c ON c.id = l.target_id "
        "WHERE l.stream = 'domestic_waste' AND l.source_layer = 'villages' "
        "AND l.target_layer = 'collection_points' ORDER BY l.id LIMIT 1",
    )
    page = open_page().open(service + "/maps/city?lang=en", "city-flow-popup")
    content = page.page.evaluate(
        f"""(() => {{
            const lines = Sanichain.groups.flow_domestic_waste.getLayers();
            const line = lines.find(l => l.feature.id === {link.id});
            line.openPopup();
            return document.querySelector('.leaflet-popup-content').innerText;
        }})()"""
    )
    assert link.source in content and link.target in content
    assert "domestic waste" in content and " t/d" in content
    assert f"{int(link.metres):,} m" in content


def test_map_command_writes_town_and_facility_files_and_refuses_unknown_ones(
    demo_database_url, demo_engine, tmp_path
):
    env = {**os.environ, "DATABASE_URL": demo_database_url, "SANICHAIN_BASEMAP": "none"}
    [(town_code, town_name)] = rows(demo_engine, "SELECT code, name FROM towns ORDER BY code LIMIT 1")
    station = _largest_station(demo_engine)
    [(station_en,)] = rows(demo_engine, "SELECT name_en FROM transfer_stations WHERE id = :id", id=station.id)

    def sanichain(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service.cli", "map", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    for args, name in (
        (("town", town_code), town_name),
        (("facility", "transfer_stations", str(station.id), "--lang", "en"), station_en),  # its English name
    ):
        out = tmp_path / f"{args[0]}.html"
        done = sanichain(*args, "-o", str(out))
        assert done.returncode == 0, done.stderr
        html = out.read_text("utf-8")
        assert name in html and "<script src=" not in html and "L.map(" in html
    for args, message in (
        (("town", "999999999"), "no town with code '999999999'"),
        (("facility", "nope", "1"), "layer: 'nope' has no facility map"),
        (("facility", "transfer_stations", "999999"), "no feature 999999 in transfer_stations"),
        (("coverage", "--layer", "collection_points", "--status", "broken"), "--status: unknown value(s)"),
        (("coverage", "--layer", "transfer_stations"), "distance_m: no standard default"),
    ):
        done = sanichain(*args, "-o", str(tmp_path / "x.html"))
        assert done.returncode == 1 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
