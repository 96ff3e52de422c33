"""The indicators page as people see it: Debian's Chromium (Playwright) against the real service over
the demo, on a desktop and on a phone (390×844), in Chinese and in English. Nothing scrolls sideways,
every request stays on the service, and the figures shown are those of the JSON.

Screenshots land in artifacts/indicators/.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service_process import running_service

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "indicators"
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(demo_database_url: str) -> Iterator[str]:
    with running_service(demo_database_url, env={"SANICHAIN_BASEMAP": "none"}) as url:
        yield url


def json_of(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def open_page(chromium: Any, service: str, viewport: str, query: str) -> tuple[Any, Any, list[str]]:
    """The page at /indicators?query, with every request to another host recorded (and aborted)."""
    context = chromium.new_context(**VIEWPORTS[viewport])
    page = context.new_page()
    elsewhere: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(service) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            elsewhere.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(f"{service}/indicators?{query}")
    return context, page, elsewhere


def overflow(page: Any) -> tuple[int, int]:
    """(widest extent of the page or of any element in it, the screen's width)."""
    widest = page.evaluate(
        """Math.max(document.scrollingElement.scrollWidth,
                    ...Array.from(document.querySelectorAll('body *'),
                                  e => Math.ceil(e.getBoundingClientRect().right)))"""
    )
    screen = page.viewport_size["width"]
    assert page.evaluate("window.innerWidth") == screen  # no layout viewport grown to fit the content
    return widest, screen


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_indicators_page_reads_on_desktop_and_phone_without_sideways_scrolling(
    chromium: Any, service: str, viewport: str, lang: str
) -> None:
    context, page, elsewhere = open_page(chromium, service, viewport, f"lang={lang}")
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"indicators-{viewport}-{lang}.png"
        page.screenshot(path=str(shot), full_page=True)
        page.screenshot(path=str(ARTIFACTS / f"indicators-{viewport}-{lang}-top.png"))
        page.locator("#towns").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"indicators-{viewport}-{lang}-towns.png"))
        print(f"\nscreenshot: {shot}")
        width, inner = overflow(page)
        assert width <= inner, f"{viewport}/{lang}: the page is {width} px wide in a {inner} px window"
        assert elsewhere == []
        title = page.locator("h1").inner_text()
        assert title == ("Zhucheng rural sanitation indicators" if lang == "en" else "诸城市农村环卫指标")
        population = page.locator("#figures tr#population")
        label = population.locator("th").inner_text()
        assert label == ("population" if lang == "en" else "常住人口")
        live, published = (c.inner_text() for c in population.locator("td").all())
        unit = "people" if lang == "en" else "人"
        assert live == f"1,100,000 {unit}" and published.startswith(f"1,100,000 {unit}")
        toilets = page.locator("#figures tr#toilets_rebuilt td").all()
        assert toilets[1].inner_text().startswith("> 230,000")
        # four charts, one bar per town; the table has a row per town
        assert page.locator(".charts svg").count() == 4
        assert page.locator("#chart-toilet_share rect").count() == 14
        assert page.locator("#towns tbody tr").count() == 14
        first_town = page.locator("#towns tbody tr").first.locator("td").first.inner_text()
        assert first_town == ("Mizhou Subdistrict" if lang == "en" else "密州街道")
        if viewport == "phone":  # a card per town: the first cell, the name, spans the card
            box = page.locator("#towns tbody tr").first.bounding_box()
            assert box["width"] <= 390
    finally:
        context.close()


def test_indicators_page_shows_the_figures_of_the_json(chromium: Any, service: str) -> None:
    body = json_of(f"{service}/indicators?f=json")
    context, page, _ = open_page(chromium, service, "desktop", "lang=zh")
    try:
        share = page.locator("#figures tr#toilet_share td").first.inner_text()
        assert share == f"{body['city']['toilet_share']:.1%}"
        ratio = page.locator("#figures tr#transfer_capacity_ratio td").first.inner_text()
        assert ratio == f"{body['city']['transfer_capacity_ratio']:.2f} 倍"
        waste = page.locator("#figures tr#waste_generated_t_per_day td").first.inner_text()
        assert waste == f"{body['city']['waste_generated_t_per_day']:,.2f} 吨/日"
        (plant,) = [p for p in body["plants"] if p["code"] == "TP-INC-2"]
        row = page.locator("#plants tbody tr", has_text="TP-INC-2")
        assert row.locator("td").last.inner_text() == f"{plant['utilisation']:.1%}" == "57.6%"
        # the download links keep the page's query and name the format
        hrefs = page.locator(".actions a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert {"?lang=zh&format=xlsx", "?lang=zh&format=csv", "?lang=zh&format=json", "?lang=en"} <= set(
            hrefs
        )
    finally:
        context.close()


def test_a_town_page_has_its_own_figures_and_no_published_column(chromium: Any, service: str) -> None:
    context, page, _ = open_page(chromium, service, "phone", "town=370782101")
    try:
        page.screenshot(path=str(ARTIFACTS / "indicators-town-phone.png"), full_page=True)
        assert page.locator("h1").inner_text() == "枳沟镇农村环卫指标"
        assert page.locator("#figures thead th").count() == 2  # figure, live: nothing was published per town
        assert page.locator(".charts").count() == 0
        label, value = page.locator("#figures tr#villages th"), page.locator("#figures tr#villages td")
        assert value.inner_text() == "155 个"
        assert abs(label.bounding_box()["y"] - value.bounding_box()["y"]) < 4  # one line: label, value
        width, inner = overflow(page)
        assert width <= inner
    finally:
        context.close()


def test_the_printed_page_hides_the_links_and_keeps_the_charts(chromium: Any, service: str) -> None:
    context, page, _ = open_page(chromium, service, "desktop", "lang=zh")
    try:
        page.emulate_media(media="print")
        assert not page.locator(".actions").is_visible()
        assert page.locator("#chart-waste_connected_share").is_visible()
        pdf = page.pdf(format="A4")
        assert pdf[:4] == b"%PDF" and len(pdf) > 10_000
        (ARTIFACTS / "indicators-print.pdf").write_bytes(pdf)
    finally:
        context.close()
