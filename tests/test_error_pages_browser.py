"""Errors as pages, and the navigation on every page, seen in Debian's Chromium (Playwright) on a desktop
(1366×900) and a phone (390×844) against the real service over the demo.

- A wrong town code, facility id or layer in a browser answers a page in the reader's language, with its
  status (404, 400) kept, the shared navigation, a link to the city map and the list of town maps; a
  script (Accept: application/json, or no Accept at all) still gets the JSON problem document, unchanged.
- Every HTML page the service serves carries the navigation with its eight links (city map, coverage
  map, flow diagrams, indicators, problems, integrity report, exports, API docs) inside the screen's
  width: the map pages in their panel, /login and /imports/new above their form, Swagger UI and ReDoc as
  a strip above their own layout. Signing in still works under the navigation.

Screenshots: artifacts/error-pages/*-desktop.png and *-phone.png (git-ignored).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from service.accounts import users
from tests import browser
from tests.accounts import PASSWORD
from tests.browser import Screen
from tests.conftest import PgServer, demo_copy_engine
from tests.service_process import running_service

pytestmark = pytest.mark.slow

FOLDER = "error-pages"
CJK = re.compile("[\u3400-\u9fff]")
NAV_KEYS = (
    "city_map",
    "coverage_map",
    "diagrams",
    "indicators",
    "problems",
    "integrity",
    "exports",
    "api_docs",
)
WRONG = {
    "town": ("/maps/towns/999999999", 404, "no town with code '999999999'"),
    "facility": (
        "/maps/facilities/transfer_stations/99999999",
        404,
        "no feature 99999999 in transfer_stations",
    ),
    "layer": ("/maps/facilities/nope/1", 404, "layer: 'nope' has no facility map"),
}


@pytest.fixture(scope="module")
def engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    with demo_copy_engine(pg_server, migrated_template, "errorpages") as engine:
        yield engine


@pytest.fixture(scope="module")
def service(engine: Engine) -> Iterator[str]:
    with running_service(
        engine.url.render_as_string(hide_password=False), env={"SANICHAIN_BASEMAP": "none"}
    ) as base:
        yield base


@pytest.fixture(scope="module")
def editor(engine: Engine) -> str:
    name = f"pages-editor-{uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:
        users.add(conn, name, "editor", PASSWORD)
    return name


def fetch(url: str, accept: str | None) -> tuple[int, str, str]:
    """Status, media type and body of a GET (an error status is an answer too)."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def sign_in(screen: Screen, service: str, name: str, path: str) -> None:
    browser.sign_in(screen.page, service, name, path)


def nav_in_view(screen: Screen, selector: str) -> dict[str, str]:
    """The navigation's links (key → label), each checked to lie inside the screen's width."""
    page = screen.page
    width = page.viewport_size["width"]
    links = page.locator(f"{selector} a[data-nav]")
    found = {}
    for i in range(links.count()):
        link = links.nth(i)
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (selector, box)
        found[str(link.get_attribute("data-nav"))] = link.inner_text()
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"the page scrolls sideways: {scroll} > {width}"
    return found


@pytest.mark.parametrize("case", list(WRONG))
def test_a_wrong_address_in_a_browser_is_a_page_with_the_navigation_and_the_town_maps(
    screen: Screen, service: str, case: str
) -> None:
    path, status, _ = WRONG[case]
    page = screen.page
    response = page.goto(service + path)
    assert response is not None and response.status == status
    assert response.headers["content-type"].startswith("text/html")
    assert page.locator("h1").inner_text() == "找不到您要的页面"
    assert page.locator("#error-status").inner_text().startswith(str(status))
    assert set(nav_in_view(screen, "nav.sc-nav")) == set(NAV_KEYS)
    assert page.locator("#error-city-map").get_attribute("href") == f"{service}/maps/city"
    towns = page.locator(".sc-town-list a")
    assert towns.count() == 14
    assert towns.first.inner_text() == "密州街道"
    assert towns.first.get_attribute("href") == f"{service}/maps/towns/370782001"
    screen.shot(FOLDER, f"wrong-{case}")
    # the town list leads somewhere real
    with page.expect_navigation():
        towns.nth(3).click()
    assert page.url == f"{service}/maps/towns/370782101"
    page.wait_for_function("window.Sanichain && Sanichain.ready === true")
    assert screen.problems == []


def test_a_wrong_address_in_english_is_an_english_page(screen: Screen, service: str) -> None:
    page = screen.page
    response = page.goto(f"{service}/maps/towns/999999999?lang=en")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    body = page.locator("body").inner_text()
    assert not CJK.search(body), CJK.findall(body)[:10]
    assert page.locator(".sc-town-list a").first.inner_text() == "Mizhou Subdistrict"
    assert (
        page.locator(".sc-town-list a").first.get_attribute("href").endswith("/maps/towns/370782001?lang=en")
    )
    assert page.locator("#error-city-map").get_attribute("href").endswith("/maps/city?lang=en")
    screen.shot(FOLDER, "wrong-town-en")


def test_a_malformed_town_code_is_a_400_page(screen: Screen, service: str) -> None:
    response = screen.page.goto(f"{service}/maps/towns/abc")
    assert response is not None and response.status == 400
    assert screen.page.locator("h1").inner_text() == "请求有误"
    assert screen.page.locator("#error-detail").text_content().startswith("code:")
    assert screen.page.locator(".sc-town-list").count() == 0  # a 400 links the city map only
    assert screen.page.locator("#error-city-map").count() == 1


@pytest.mark.parametrize("accept", ["application/json", None, "*/*"])
def test_scripts_still_get_the_json_problem_unchanged(service: str, accept: str | None) -> None:
    for path, status, detail in WRONG.values():
        code, media, body = fetch(service + path, accept)
        assert (code, media) == (status, "application/problem+json"), path
        document = json.loads(body)
        assert document["status"] == status and document["detail"].startswith(detail)
    code, media, body = fetch(f"{service}/maps/towns/abc", accept)
    assert (code, media, json.loads(body)["parameter"]) == (400, "application/problem+json", "code")


def test_a_json_route_keeps_its_json_errors_for_a_browser(service: str) -> None:
    # routes that answer JSON (and HTML by negotiation) keep the problem document: only pages turn
    code, media, _ = fetch(f"{service}/collections/nope/items", "text/html")
    assert code == 404 and media == "application/problem+json"


PAGES = {
    "landing": "/",
    "city": "/maps/city",
    "town": "/maps/towns/370782117",
    "coverage": "/maps/coverage?layer=collection_points",
    "search": "/search?q=zgz",
    "problems": "/problems",
    "integrity": "/chain/integrity",
    "indicators": "/indicators",
    "diagram": "/chain/diagram",
    "exports": "/exports",
    "collections": "/collections",
    "items": "/collections/towns/items",
    "login": "/login",
}


def test_every_page_carries_the_navigation_inside_the_screen(screen: Screen, service: str) -> None:
    page = screen.page
    for name, path in PAGES.items():
        response = page.goto(service + path)
        assert response is not None and response.status == 200, path
        if path.startswith("/maps/") or path == "/":
            page.wait_for_function("window.Sanichain && Sanichain.ready === true")
            if screen.viewport == "phone":  # the map's panel starts folded on a phone
                page.locator("#sc-panel-control summary").first.tap()
            keys = nav_in_view(screen, ".sc-map-nav")
        else:
            keys = nav_in_view(screen, "nav.sc-nav")
        assert set(keys) == set(NAV_KEYS), (path, keys)
        if name in ("login", "search", "problems", "town"):
            screen.shot(FOLDER, f"nav-{name}")
    assert screen.problems == []


def test_the_import_page_has_the_navigation_and_signing_in_still_works(
    screen: Screen, service: str, editor: str
) -> None:
    sign_in(screen, service, editor, "/imports/new")
    assert set(nav_in_view(screen, "nav.sc-nav")) == set(NAV_KEYS)
    assert screen.page.locator("#sc-import h1").inner_text().startswith("导入数据")
    screen.shot(FOLDER, "nav-import")
    assert screen.problems == []


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_documentation_has_a_strip_of_links_back(screen: Screen, service: str, path: str) -> None:
    page = screen.page
    response = page.goto(service + path)
    assert response is not None and response.status == 200
    strip = page.locator("nav.sc-bar")
    assert strip.is_visible()
    links = {str(a.get_attribute("data-nav")): str(a.get_attribute("href")) for a in strip.locator("a").all()}
    assert set(links) == set(NAV_KEYS) and links["city_map"] == "/maps/city"
    for a in strip.locator("a").all():
        box = a.bounding_box()
        assert box is not None and box["x"] + box["width"] <= page.viewport_size["width"] + 0.5
    # the documentation itself still renders below the strip
    content = ".swagger-ui .info .title" if path == "/docs" else "h1"
    page.wait_for_selector(content, timeout=60_000)
    top = page.locator(content).first.bounding_box()
    bar = strip.bounding_box()
    assert top is not None and bar is not None and top["y"] >= bar["y"] + bar["height"]
    screen.shot(FOLDER, f"nav{path.replace('/', '-')}")
