"""Reports, planner outputs, exports and the API documentation as people use them: Debian's Chromium
(Playwright) against the real service over the demo, on a desktop (1366×900) and a phone (390×844),
with every request to another host aborted, as on a network without the internet.

- /docs and /redoc render their operations offline, and the page never scrolls sideways;
- /exports lists every layer with each format and a link to its columns; a click on the chain links'
  GeoJSON downloads a file whose lines carry their source's and target's codes and names;
- the README's p-median siting example, sent from Swagger UI's "Try it out" by a signed-in planner,
  shows a solution;
- the indicators page's XLSX link downloads a report with a title row and a frozen header.

Screenshots land in artifacts/reports/ (git-ignored).
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from service.accounts import users
from service.features import catalogue
from tests.accounts import PASSWORD
from tests.browser import Screen
from tests.queries import rows, scalar
from tests.readme_examples import readme, section_blocks
from tests.service_process import running_service

FOLDER = "reports"
FORMATS = ("geojson", "geojsonseq", "csv", "xlsx", "kml", "gpkg")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(demo_database_url: str) -> Iterator[str]:
    with running_service(demo_database_url, env={"SANICHAIN_BASEMAP": "none"}) as url:
        yield url


class Offline:
    """Requests of `screen`'s page to any host but the service's are aborted and recorded."""

    def __init__(self, screen: Screen, service: str) -> None:
        self.host = urlsplit(service).netloc
        self.elsewhere: list[str] = []
        screen.page.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == self.host:
            route.continue_()
        else:
            self.elsewhere.append(url)
            route.abort()


@pytest.fixture
def offline(screen: Screen, service: str) -> Offline:
    return Offline(screen, service)


def sideways_overflow(page: Any) -> int:
    """Pixels the page is wider than its viewport (0: nothing scrolls sideways)."""
    return int(
        page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


# -- the API documentation -----------------------------------------------------------------------
def test_swagger_ui_lists_the_operations_offline_without_scrolling_sideways(screen, offline, service):
    page = screen.page
    page.goto(f"{service}/docs", wait_until="networkidle")
    block = page.locator(".opblock-get", has=page.locator("[data-path='/coverage']")).first
    block.wait_for(state="visible", timeout=30_000)
    assert "Villages, people and farms served" in block.inner_text()
    assert page.locator(".opblock").count() > 40
    assert page.locator(".opblock-post [data-path='/planning/siting']").count() == 1
    screen.shot(FOLDER, "swagger-ui")
    assert sideways_overflow(page) <= 1
    assert offline.elsewhere == [] and screen.problems == []


def test_redoc_lists_the_operations_offline_without_scrolling_sideways(screen, offline, service):
    page = screen.page
    page.goto(f"{service}/redoc", wait_until="networkidle")
    page.locator("[data-section-id*='operation/']").first.wait_for(state="attached", timeout=30_000)
    assert page.locator("[data-section-id*='operation/']").count() > 40
    assert "sanichain" in page.locator("h1").first.inner_text()
    screen.shot(FOLDER, "redoc")
    assert sideways_overflow(page) <= 1
    # ReDoc's credit logo is the only thing it would fetch from elsewhere (and its CSP blocks it)
    assert [url for url in offline.elsewhere if "cdn.redoc.ly" not in url] == []


# -- the exports -----------------------------------------------------------------------------------
def test_the_exports_page_lists_every_layer_with_its_formats_and_columns(screen, offline, service):
    page = screen.page
    page.goto(f"{service}/exports", wait_until="networkidle")
    layers = [layer.name for layer in catalogue.layers()]
    assert page.locator("tr[data-layer]").evaluate_all("rows => rows.map(r => r.dataset.layer)") == layers
    for layer in layers:
        row = page.locator(f"tr[data-layer='{layer}']")
        hrefs = row.locator("a").evaluate_all("links => links.map(a => a.href)")
        assert hrefs[: len(FORMATS)] == [f"{service}/export/{layer}.{ext}" for ext in FORMATS]
        assert hrefs[-1] == f"{service}/exports/columns#{layer}"
    screen.shot(FOLDER, "exports")
    assert sideways_overflow(page) <= 1

    # the villages' column documentation: the codes and names beside the internal ids
    page.locator("tr[data-layer='villages'] a", has_text="字段说明").click()
    page.wait_for_url(f"{service}/exports/columns#villages")
    section = page.locator("section#villages")
    section.wait_for(state="visible")
    columns = section.locator("td:first-child code").all_inner_texts()
    assert {"town_id", "town_code", "town_name", "community_code", "community_name"} <= set(columns)
    assert section.bounding_box()["y"] < 120  # scrolled to the layer's section
    screen.shot(FOLDER, "export-columns")
    assert sideways_overflow(page) <= 1
    assert offline.elsewhere == [] and screen.problems == []


def test_a_click_on_the_chain_links_geojson_downloads_links_with_codes_and_names(
    screen, offline, service, demo_engine: Engine
):
    page = screen.page
    page.goto(f"{service}/exports", wait_until="networkidle")
    with page.expect_download(timeout=120_000) as download:
        page.locator("tr[data-layer='chain_links'] a", has_text="geojson").first.click()
    assert download.value.suggested_filename == "chain_links.geojson"
    data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    features = data["features"]
    assert len(features) == scalar(demo_engine, "SELECT count(*) FROM chain_links")
    names = {
        (layer, code): name
        for layer in ("villages", "collection_points", "transfer_stations", "treatment_plants",
                      "manure_centers", "biogas_centers", "livestock_farms")
        for code, name in rows(demo_engine, f"SELECT code, name FROM {layer}")
    }  # fmt: skip
    wrong = [
        f["id"]
        for f in features
        if names.get((f["properties"]["source_layer"], f["properties"]["source_code"]))
        != f["properties"]["source_name"]
        or names.get((f["properties"]["target_layer"], f["properties"]["target_code"]))
        != f["properties"]["target_name"]
    ]
    assert wrong == []
    with urllib.request.urlopen(f"{service}/chain/flows", timeout=120) as answer:
        flows = {f["id"]: f["properties"] for f in json.load(answer)["features"]}
    for f in features:
        p, flow = f["properties"], flows[f["id"]]
        assert (p["stream"], p["source_code"], p["target_code"]) == (
            flow["stream"], flow["source_code"], flow["target_code"],
        )  # fmt: skip
        assert p["t_per_day"] == pytest.approx(flow["flow_t_per_day"], abs=1e-4)
        assert p["length_m"] == pytest.approx(flow["length_m"], abs=0.1) and p["length_m"] > 0
    assert offline.elsewhere == [] and screen.problems == []


# -- the README's p-median, from Swagger UI --------------------------------------------------------
def readme_p_median() -> str:
    """The JSON body of the README's p-median siting example, as written there."""
    block = section_blocks(readme(), "## Planning: siting")[0]
    bodies = re.findall(r"-d '(\{.*?\})'", block, re.S)
    body = next(b for b in bodies if '"p_median"' in b)
    json.loads(body)
    return body


@pytest.fixture
def planner(demo_engine: Engine) -> str:
    name = f"planner-{uuid.uuid4().hex[:8]}"
    with demo_engine.begin() as conn:
        users.add(conn, name, "planner", PASSWORD)
    return name


def test_the_readme_p_median_sent_from_swagger_ui_shows_a_solution(screen, offline, service, planner):
    page = screen.page
    page.goto(f"{service}/docs", wait_until="networkidle")
    page.locator("button.authorize").first.click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input#oauth_username").fill(planner)
    dialog.locator("input#oauth_password").fill(PASSWORD)
    dialog.locator("button.modal-btn.authorize").click()
    dialog.locator("button", has_text="Logout").wait_for(state="visible")
    dialog.locator("button.close-modal").click()

    block = page.locator(".opblock-post", has=page.locator("[data-path='/planning/siting']")).first
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    block.locator("textarea.body-param__text").fill(readme_p_median())
    with page.expect_response(lambda r: urlsplit(r.url).path == "/planning/siting", timeout=120_000) as sent:
        block.locator("button.execute").click()
    assert sent.value.status == 200, sent.value.text()
    answer = sent.value.json()
    assert answer["status"] in ("optimal", "feasible") and len(answer["sites"]) == 25
    shown = block.locator(".live-responses-table .response-col_description pre").first
    shown.wait_for(state="visible")
    text = shown.inner_text()
    assert f'"status": "{answer["status"]}"' in text and '"sites": [' in text
    shown.scroll_into_view_if_needed()
    screen.shot(FOLDER, "siting-p-median")
    assert offline.elsewhere == [] and screen.problems == []


# -- a report downloaded from its page ------------------------------------------------------------
def test_the_indicators_page_xlsx_link_downloads_a_titled_report_with_a_frozen_header(
    screen, offline, service
):
    page = screen.page
    page.goto(f"{service}/indicators?lang=en", wait_until="networkidle")
    link = page.locator("a", has_text="XLSX").first
    link.scroll_into_view_if_needed()
    screen.shot(FOLDER, "indicators-xlsx-link")
    with page.expect_download(timeout=120_000) as download:
        link.click()
    assert download.value.suggested_filename == "indicators-city.xlsx"
    with open(download.value.path(), "rb") as file:  # saved without an extension
        book = load_workbook(file)
    assert book.sheetnames == ["figures", "towns", "treatment plants"]
    for sheet in book.worksheets:
        assert sheet["A1"].value == "Zhucheng rural sanitation indicators" and sheet["A1"].font.bold
        assert sheet.freeze_panes == "A5"
        assert all(cell.font.bold for cell in sheet[4])
    towns = book["towns"]
    assert [c.value for c in towns[4]][:2] == ["code", "town"]
    assert towns["B5"].value == "Mizhou Subdistrict"  # the English name, as asked
    assert offline.elsewhere == [] and screen.problems == []
