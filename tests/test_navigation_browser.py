"""Finding and navigating in the chromium: Debian's Chromium (Playwright) against the real service, over a
copy of the demo with one overloaded and one suspended station (tests/attention_world.py).

- Every HTML page asks only the service and the configured basemap host for anything (a custom basemap
  on a host that does not exist: its requests are recorded and aborted, as everything else would be).
- On the city map, typing a facility's name or its pinyin initials lists it first; following the hit
  opens its map. The town picker opens the chosen town's map. The panel counts the problems.
- /problems lists the overloaded station first (its load computed independently of the service).

Desktop 1366×900 and phone 390×844; screenshots land in artifacts/navigation/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, text

from service.db import make_engine
from tests.attention_world import OVERLOAD, Overloaded, make_problems
from tests.browser import READY, VIEWPORTS
from tests.conftest import PgServer, demo_copy
from tests.service_process import running_service

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "navigation"
BASEMAP_HOST = "tiles.basemap.invalid"  # .invalid never resolves: nothing leaves the machine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(pg_server: PgServer, migrated_template: str) -> Iterator[tuple[Engine, Overloaded]]:
    with demo_copy(pg_server, migrated_template, "navigation") as url:
        engine = make_engine(url)
        overloaded = make_problems(engine)
        yield engine, overloaded
        engine.dispose()


@pytest.fixture(scope="module")
def service(world: tuple[Engine, Overloaded]) -> Iterator[str]:
    url = world[0].url.render_as_string(hide_password=False)
    env = {
        "SANICHAIN_BASEMAP": "custom",
        "SANICHAIN_TILE_URL": f"http://{BASEMAP_HOST}/{{z}}/{{x}}/{{y}}.png",
    }
    with running_service(url, env=env) as base:
        yield base


class Recorder:
    """A browser context that records the host of every request; only the service's go out."""

    def __init__(self, chromium: Any, service: str, viewport: dict[str, Any]) -> None:
        self.service_host = urlsplit(service).netloc
        self.hosts: dict[str, str] = {}  # host → first URL asked of it
        self.errors: list[str] = []
        self.context = chromium.new_context(**viewport)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")):
            route.continue_()
            return
        host = urlsplit(url).netloc
        self.hosts.setdefault(host, url)
        if host == self.service_host:
            route.continue_()
        else:
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture(params=list(VIEWPORTS))
def recorder(request: Any, chromium: Any, service: str) -> Iterator[Recorder]:
    r = Recorder(chromium, service, VIEWPORTS[request.param])
    r.viewport = request.param  # type: ignore[attr-defined]
    yield r
    r.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")


def _ids(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        plant = conn.execute(text("SELECT id, name FROM treatment_plants WHERE code = 'TP-INC-2'")).one()
    return {"plant_id": plant.id, "plant_name": plant.name}


def test_every_page_asks_only_the_service_and_the_basemap(recorder, service, world):
    overloaded = world[1]
    pages = {
        "city": ("/maps/city", True),
        "town": ("/maps/towns/370782101", True),
        "facility": (f"/maps/facilities/transfer_stations/{overloaded.id}", True),
        "coverage": ("/maps/coverage?layer=collection_points", True),
        "diagram": ("/chain/diagram", False),
        "indicators": ("/indicators", False),
        "problems": ("/problems", False),
        "integrity": ("/chain/integrity", False),
        "search": ("/search?q=zgz", False),
        "exports": ("/exports", False),
        "collections": ("/collections", False),
        "login": ("/login", False),
        "import": ("/imports/new", False),
        "docs": ("/docs", False),
        "redoc": ("/redoc", False),
    }
    page = recorder.page
    for name, (path, is_map) in pages.items():
        response = page.goto(service + path, wait_until="networkidle")
        assert response is not None and response.status < 400, f"{path}: {response and response.status}"
        if is_map:
            page.wait_for_function(READY, timeout=60_000)
        if recorder.viewport == "desktop" or name in ("city", "problems", "integrity", "search"):
            shot(page, f"{name}-{recorder.viewport}")
    allowed = {recorder.service_host, BASEMAP_HOST}
    elsewhere = {h: u for h, u in recorder.hosts.items() if h not in allowed}
    assert elsewhere == {}, f"pages asked other hosts: {elsewhere}"
    assert BASEMAP_HOST in recorder.hosts  # the maps did ask for tiles: the recording sees requests out
    assert recorder.errors == []


def _city_map(recorder: Recorder, service: str) -> Any:
    page = recorder.page
    page.goto(service + "/maps/city")
    page.wait_for_function(READY, timeout=60_000)
    if recorder.viewport == "phone":  # the panel starts folded on a phone: unfold it as a user would
        page.locator("#sc-panel-control summary").first.tap()
    return page


def _hits(page: Any) -> list[str]:
    page.wait_for_selector(".sc-map-nav .sc-hits li a", timeout=15_000)
    return page.locator(".sc-map-nav .sc-hits li a").all_inner_texts()


def test_typing_a_name_lists_that_facility_first_and_its_hit_opens_its_map(recorder, service, world):
    ids = _ids(world[0])
    page = _city_map(recorder, service)
    search = page.locator(".sc-map-nav input[type=search]")
    search.fill("焚烧发电厂")
    hits = _hits(page)
    assert hits[0].startswith(ids["plant_name"]), hits
    shot(page, f"search-name-{recorder.viewport}")
    with page.expect_navigation():
        page.locator(".sc-map-nav .sc-hits li a").first.click()
    assert page.url == f"{service}/maps/facilities/treatment_plants/{ids['plant_id']}"
    page.wait_for_function(READY, timeout=60_000)
    assert ids["plant_name"] in page.title()


def test_pinyin_initials_find_the_town_as_you_type(recorder, service):
    page = _city_map(recorder, service)
    page.locator(".sc-map-nav input[type=search]").press_sequentially("zgz", delay=60)
    hits = _hits(page)
    assert hits[0].startswith("枳沟镇"), hits
    assert any(h.startswith("枳沟镇垃圾压缩中转站") for h in hits)
    shot(page, f"search-initials-{recorder.viewport}")


def test_the_town_picker_opens_the_chosen_town_s_map(recorder, service):
    page = _city_map(recorder, service)
    picker = page.locator(".sc-map-nav select.sc-towns")
    page.wait_for_function("document.querySelectorAll('.sc-map-nav select.sc-towns option').length > 14")
    assert picker.locator("option").count() == 15  # the prompt and the 14 towns
    with page.expect_navigation():
        picker.select_option(label="枳沟镇")
    assert page.url == f"{service}/maps/towns/370782101"
    page.wait_for_function(READY, timeout=60_000)
    assert "枳沟镇" in page.title()


def test_the_city_map_counts_the_problems_and_the_problems_page_lists_the_overloaded_station(
    recorder, service, world
):
    _, overloaded = world
    page = _city_map(recorder, service)
    badge = page.locator(".sc-map-nav [data-problem-count]")
    page.wait_for_function("document.querySelector('.sc-map-nav [data-problem-count]').textContent !== ''")
    count = int(badge.inner_text())
    shot(page, f"city-panel-{recorder.viewport}")
    with page.expect_navigation():
        page.locator(".sc-map-nav a[data-nav=problems]").click()
    assert urlsplit(page.url).path == "/problems"
    assert page.locator("#problem-total").inner_text().startswith(f"共 {count} 项")
    first = page.locator("table[data-kind=overloaded] tr").nth(1)
    assert overloaded.name in first.inner_text()
    assert f"{OVERLOAD:.0%}" in first.inner_text()  # 200 %: inflow twice the capacity set
    shot(page, f"problems-{recorder.viewport}")
    with page.expect_navigation():
        first.locator("a").click()
    assert page.url == f"{service}/maps/facilities/transfer_stations/{overloaded.id}"
    if recorder.viewport == "phone":
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{width} px wide on a 390 px screen"
