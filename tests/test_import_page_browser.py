"""The import page in Debian's Chromium (Playwright) against the real service: an editor signs in,
uploads a GBK-encoded CSV with one bad row as a dry run, sees the rejected row with its number and
problem, ticks "valid rows only", confirms, and sees the counts; the farms are in the database. The
same on a phone (390×844), with nothing wider than the screen. Editors find the page from the map.

Screenshots land in artifacts/imports/ (git-ignored).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from service.accounts import users
from service.db import make_engine
from tests import browser
from tests.accounts import PASSWORD
from tests.conftest import PgServer
from tests.service_process import running_service
from tests.test_imports_api import BAD, GOOD, build_world, farms_csv

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "imports"
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    name = f"sanichain_test_import_page_{uuid.uuid4().hex[:8]}"
    url = pg_server.create(name, migrated_template)
    made = make_engine(url)
    build_world(made)
    yield made
    made.dispose()
    pg_server.drop(name)


@pytest.fixture(scope="module")
def service(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = engine.url.render_as_string(hide_password=False)
    env = {"SANICHAIN_BASEMAP": "none", "SANICHAIN_IMPORT_DIR": str(tmp_path_factory.mktemp("imports"))}
    with running_service(url, env=env) as base:
        yield base


def user_of(engine: Engine, role: str) -> str:
    name = f"import-{role}-{uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:
        users.add(conn, name, role, PASSWORD)
    return name


def signed_in(chromium: Any, service: str, name: str, device: dict[str, Any], path: str) -> tuple[Any, Any]:
    context = chromium.new_context(**device)
    page = context.new_page()
    browser.sign_in(page, service, name, path)
    return context, page


def farm_codes(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT code FROM livestock_farms ORDER BY code")).scalars())


def upload(page: Any, body: bytes, name: str) -> None:
    page.select_option("#layer", "livestock_farms")
    page.select_option("#encoding", "gbk")
    page.set_input_files("#file", files=[{"name": name, "mimeType": "text/csv", "buffer": body}])
    page.click("#sc-import-check")
    page.wait_for_function("window.SanichainImport.state === 'report'", timeout=30_000)


def fits_the_screen(page: Any, width: int) -> None:
    seen = page.evaluate("document.documentElement.scrollWidth")
    assert seen <= width, f"the page is {seen} px wide on a {width} px screen"


def counts(page: Any, box: str) -> dict[str, str]:
    found = page.eval_on_selector_all(
        f"{box} [data-count]", "els => els.map(e => [e.dataset.count, e.querySelector('dd').textContent])"
    )
    return dict(found)


def test_an_editor_checks_a_gbk_file_sees_the_rejected_row_and_imports_the_valid_rows(
    chromium, service, engine
):
    problems: list[str] = []
    context, page = signed_in(chromium, service, user_of(engine, "editor"), DESKTOP, "/imports/new")
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    try:
        assert page.title().startswith("导入数据")
        upload(page, farms_csv(GOOD + BAD, "gbk"), "养殖场-gbk.csv")
        assert page.evaluate("document.getElementById('sc-import-bar').value") == 100
        summary = counts(page, "#sc-import-summary")
        assert summary == {
            "rows_read": "3", "created": "2", "updated": "0", "unchanged": "0", "rejected": "1",
            "warned": "0",
        }  # fmt: skip
        cells = page.eval_on_selector_all(
            "#sc-import-rejected tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
        assert cells == [["4", "经度/纬度", "no coordinates"]]
        csv_link = page.get_attribute("#sc-import-rejected-csv", "href")
        assert csv_link is not None and csv_link.endswith("/rejected.csv")
        # rows were rejected: no import until the valid rows only are asked for
        assert page.is_disabled("#sc-import-confirm")
        assert "1" in page.inner_text("#sc-import-confirm-note")
        assert farm_codes(engine) == []
        page.check("#valid_rows_only")
        assert page.is_enabled("#sc-import-confirm")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "import-report-desktop.png"), full_page=True)
        page.click("#sc-import-confirm")
        page.wait_for_function("window.SanichainImport.state === 'done'", timeout=30_000)
        final = counts(page, "#sc-import-final")
        assert (final["created"], final["rejected"]) == ("2", "1")
        assert page.get_attribute("#sc-import-items", "href") == "/collections/livestock_farms/items?f=html"
        assert farm_codes(engine) == ["LF-001", "LF-002"]
        assert problems == []
    finally:
        context.close()


def test_the_report_fits_a_phone_and_an_anonymous_reader_is_sent_to_sign_in(chromium, service, engine):
    context, page = signed_in(chromium, service, user_of(engine, "admin"), PHONE, "/imports/new")
    try:
        fits_the_screen(page, 390)
        box = page.locator("#file").bounding_box()
        assert box is not None and box["width"] >= 340 and box["height"] >= 44
        assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('#layer')).fontSize)") >= 16
        long_name = "一个名字" + "很长" * 10 + "的养殖场"
        long_bad = f"LF-004,{long_name},生猪,600,m3,abc,def,运行\n"
        own_codes = (GOOD + BAD + long_bad).replace("LF-", "PHONE-")  # the other test's farms are stored
        upload(page, farms_csv(own_codes, "gbk"), "farms.csv")
        rows = page.locator("#sc-import-rejected tbody tr")
        assert rows.count() == 2
        fits_the_screen(page, 390)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "import-report-phone.png"), full_page=True)
    finally:
        context.close()
    anonymous = chromium.new_context(**PHONE)
    try:
        page = anonymous.new_page()
        page.goto(f"{service}/imports/new")
        assert page.url == f"{service}/login?next=/imports/new"
    finally:
        anonymous.close()


def test_the_map_panel_links_editors_to_the_import_page(chromium, service, engine):
    context, page = signed_in(chromium, service, user_of(engine, "editor"), DESKTOP, "/maps/city")
    try:
        link = page.locator(".sc-links a.sc-import-link")
        link.wait_for(state="attached", timeout=30_000)
        assert link.inner_text() == "导入数据"
        assert link.get_attribute("href", timeout=1000).endswith("/imports/new")
    finally:
        context.close()
    anonymous = chromium.new_context(**DESKTOP)
    try:
        page = anonymous.new_page()
        with page.expect_response(lambda r: r.url.endswith("/maps/editor")):
            page.goto(f"{service}/maps/city")
        page.wait_for_load_state("networkidle")
        assert page.locator(".sc-import-link").count() == 0
    finally:
        anonymous.close()
