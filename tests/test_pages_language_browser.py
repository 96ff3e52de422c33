"""The pages in English with `?lang=en`, seen in Debian's Chromium (Playwright) on a desktop (1366×900) and
a phone (390×844), against the real service over a copy of the demo with problems of known size
(tests/attention_world.py: one overloaded station, one suspended, one village cut off).

- Maps: a facility's popup, the permanent labels of what a town's flows reach, the facility page's title
  and its list of links, the coverage map's popups, the search's hits and the town picker name each
  feature by its English name (`name_en`), and by its Chinese name where it has none; Chinese stays the
  default.
- Problems: on /problems and in its JSON with `lang=en`, every description, category and unit is English
  (no Chinese character but in the names of features that have no English name); the city map's panel
  counts them under "Problems".

Screenshots: artifacts/language/*-desktop.png and *-phone.png (git-ignored).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from service.db import make_engine
from tests.attention_world import OVERLOADED_STATION, SUSPENDED_STATION, Overloaded, make_problems
from tests.browser import Screen
from tests.conftest import PgServer, demo_copy
from tests.service_process import running_service

pytestmark = pytest.mark.slow

CJK = re.compile("[\u3400-\u9fff]")
FOLDER = "language"
TOWN = "370782117"  # Huanghua: its flows reach the plant, the biogas centre and a manure centre outside


@pytest.fixture(scope="module")
def world(pg_server: PgServer, migrated_template: str) -> Iterator[tuple[Engine, Overloaded]]:
    with demo_copy(pg_server, migrated_template, "language") as url:
        engine = make_engine(url)
        yield engine, make_problems(engine)
        engine.dispose()


@pytest.fixture(scope="module")
def service(world: tuple[Engine, Overloaded]) -> Iterator[str]:
    with running_service(
        world[0].url.render_as_string(hide_password=False), env={"SANICHAIN_BASEMAP": "none"}
    ) as base:
        yield base


def one(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).one()


def english_names(engine: Engine) -> set[str]:
    layers = (
        "transfer_stations",
        "treatment_plants",
        "manure_centers",
        "biogas_centers",
        "collection_points",
    )
    union = " UNION ALL ".join(f"SELECT name_en FROM {layer} WHERE name_en IS NOT NULL" for layer in layers)
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(text(union))}


def open_map(screen: Screen, url: str) -> Any:
    response = screen.open_map(url)
    assert response is not None and response.status == 200, url
    return screen.page


def unfold_panel(screen: Screen) -> None:
    if screen.viewport == "phone":  # the panel starts folded on a phone: unfold it as a user would
        screen.page.locator("#sc-panel-control summary").first.tap()


def popup_of(page: Any, layer: str, feature_id: int) -> str:
    """Open a drawn marker's popup as a click would and read its name."""
    return str(
        page.evaluate(
            """([layer, id]) => { const m = Sanichain.drawn[layer][id]; m.openPopup();
                 return document.querySelector('.leaflet-popup-content .sc-popup-name').innerText; }""",
            [layer, feature_id],
        )
    )


def test_a_town_map_in_english_names_its_facilities_and_what_its_flows_reach_in_english(
    screen: Screen, service: str, world: tuple[Engine, Overloaded]
) -> None:
    engine = world[0]
    station = one(
        engine, "SELECT id, name, name_en FROM transfer_stations WHERE code = :c", c=SUSPENDED_STATION
    )
    page = open_map(screen, f"{service}/maps/towns/{TOWN}?lang=en")
    labels = page.locator(".sc-label").all_inner_texts()
    assert len(labels) >= 3, labels  # the plant, the biogas centre, a manure centre
    known = english_names(engine)
    for label in labels:
        name = label.split(" · ")[0].strip()
        assert name in known and not CJK.search(label), label
    assert popup_of(page, "transfer_stations", station.id) == station.name_en
    assert page.title() == "Huanghua Town: facilities and flows"
    screen.shot(FOLDER, f"town-{TOWN}-en")
    # Chinese stays the default
    page = open_map(screen, f"{service}/maps/towns/{TOWN}")
    assert popup_of(page, "transfer_stations", station.id) == station.name
    assert all(CJK.search(label) for label in page.locator(".sc-label").all_inner_texts())
    assert screen.problems == []


def test_a_facility_page_in_english_titles_and_lists_its_links_by_english_name(
    screen: Screen, service: str, world: tuple[Engine, Overloaded]
) -> None:
    engine = world[0]
    station = one(engine, "SELECT id, name_en FROM transfer_stations WHERE code = :c", c=OVERLOADED_STATION)
    plant = one(
        engine,
        """SELECT p.name, p.name_en FROM chain_links l JOIN treatment_plants p ON p.id = l.target_id
           WHERE l.source_layer = 'transfer_stations' AND l.source_id = :id
             AND l.target_layer = 'treatment_plants'""",
        id=station.id,
    )
    page = open_map(screen, f"{service}/maps/facilities/transfer_stations/{station.id}?lang=en")
    assert page.title() == f"{station.name_en}: service area, what feeds it and what it feeds"
    if screen.viewport == "phone":  # the legend (with the lists) starts folded on a phone: unfold it
        page.locator("#sc-legend-control summary").first.tap()
    downstream = page.locator(".sc-scroll[data-side=downstream] td:first-child").all_inner_texts()
    assert downstream == [plant.name_en]
    # its sources, the collection points, have no English name: their Chinese one, never a blank
    upstream = page.locator(".sc-scroll[data-side=upstream] td:first-child").all_inner_texts()
    with engine.connect() as conn:
        chinese = {
            r.name
            for r in conn.execute(
                text(
                    """SELECT c.name FROM chain_links l JOIN collection_points c ON c.id = l.source_id
                       WHERE l.target_layer = 'transfer_stations' AND l.target_id = :id"""
                ),
                {"id": station.id},
            )
        }
    assert upstream and set(upstream) == chinese
    assert popup_of(page, "transfer_stations", station.id) == station.name_en
    screen.shot(FOLDER, "facility-en")
    assert screen.problems == []


def test_the_coverage_map_in_english_names_its_facilities_in_english(
    screen: Screen, service: str, world: tuple[Engine, Overloaded]
) -> None:
    centre = one(
        world[0],
        "SELECT id, name, name_en FROM manure_centers WHERE status = 'operational' ORDER BY id LIMIT 1",
    )
    page = open_map(screen, f"{service}/maps/coverage?layer=manure_centers&distance_m=10000&lang=en")
    assert popup_of(page, "manure_centers", centre.id) == centre.name_en
    assert not CJK.search(page.title())
    screen.shot(FOLDER, "coverage-en")
    assert screen.problems == []


def test_search_hits_and_the_town_picker_speak_english_on_an_english_map(
    screen: Screen, service: str
) -> None:
    page = open_map(screen, f"{service}/maps/city?lang=en")
    unfold_panel(screen)
    page.wait_for_function("document.querySelectorAll('.sc-map-nav select.sc-towns option').length > 14")
    towns = page.locator(".sc-map-nav select.sc-towns option").all_inner_texts()[1:]
    assert "Zhigou Town" in towns and not any(CJK.search(t) for t in towns), towns
    page.locator(".sc-map-nav input[type=search]").press_sequentially("zgz", delay=60)
    page.wait_for_selector(".sc-map-nav .sc-hits li a", timeout=15_000)
    hits = page.locator(".sc-map-nav .sc-hits li a").all_inner_texts()
    assert hits[0].startswith("Zhigou Town"), hits
    assert any(h.startswith("Zhigou Town waste transfer station") for h in hits), hits
    screen.shot(FOLDER, "search-en")
    assert screen.problems == []


def _json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def test_problems_in_english_say_every_description_category_and_unit_in_english(
    screen: Screen, service: str, world: tuple[Engine, Overloaded]
) -> None:
    overloaded = world[1]
    station_en = one(
        world[0], "SELECT name_en FROM transfer_stations WHERE code = :c", c=OVERLOADED_STATION
    ).name_en
    body = _json(f"{service}/problems?lang=en")
    assert body["summary"]["total"] == 4
    for p in body["problems"]:
        assert (
            not CJK.search(p["text"]) and not CJK.search(p["kind_label"]) and not CJK.search(p["message"])
        ), p
        assert p["map"].endswith("?lang=en")
    (first,) = [p for p in body["problems"] if p["kind"] == "overloaded"]
    assert first["name"] == station_en and first["town_name"] == "Zhigou Town"
    assert first["numbers"]["inflow_t_per_day"] == pytest.approx(overloaded.inflow_t_per_day, rel=1e-3)
    assert first["text"] == (
        f"inflow {first['numbers']['inflow_t_per_day']:.1f} t/day = 200% of its capacity of "
        f"{overloaded.capacity:g} t/day"
    )
    assert {p["kind_label"] for p in body["problems"]} == {
        "Overloaded facilities (>100 %)",
        "Non-operational facilities still receiving flows",
        "Unconnected villages and farms",
        "Other integrity findings",
    }
    # the page: headings, table heads, descriptions and units in English
    response = screen.page.goto(f"{service}/problems?lang=en")
    assert response is not None and response.status == 200
    page = screen.page
    assert page.locator("h1").inner_text() == "Problems"
    assert not CJK.search(page.locator("#problem-total").inner_text())
    assert not any(CJK.search(h) for h in page.locator("h2, th, li").all_inner_texts())
    rows = page.locator("table[data-kind] tr:has(td)")
    assert rows.count() == 4
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert not CJK.search(cells[1]) and not CJK.search(cells[2]) and not CJK.search(cells[3]), cells
    assert page.locator("table[data-kind=overloaded] td").first.inner_text() == station_en
    screen.shot(FOLDER, "problems-en", full_page=True)
    # the city map's panel counts them, under its English label
    page = open_map(screen, f"{service}/maps/city?lang=en")
    unfold_panel(screen)
    badge = page.locator(".sc-map-nav [data-problem-count]")
    page.wait_for_function("document.querySelector('.sc-map-nav [data-problem-count]').textContent !== ''")
    assert badge.inner_text() == "4"
    assert page.locator(".sc-map-nav a[data-nav=problems]").inner_text() == "Problems"
    assert (
        page.locator(".sc-map-nav a[data-nav=problems]").get_attribute("href").endswith("/problems?lang=en")
    )
    assert screen.problems == []


def test_problems_in_chinese_by_default(screen: Screen, service: str) -> None:
    body = _json(f"{service}/problems")
    texts = {p["kind"]: p["text"] for p in body["problems"]}
    assert texts["overloaded"].startswith("流入 ") and "吨/日" in texts["overloaded"]
    assert texts["unconnected"].endswith("吨/日生活垃圾无去向")
    assert texts["integrity"] == "正在运行，但没有任何来源向其输送"
    response = screen.page.goto(f"{service}/problems")
    assert response is not None and response.status == 200
    assert screen.page.locator("h1").inner_text() == "待处理问题"
    screen.shot(FOLDER, "problems-zh")
