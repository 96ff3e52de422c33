"""/docs (Swagger UI) and /redoc work offline: Debian's Chromium (Playwright) against the real service,
with every request to another host aborted, as on a network without the internet.

Reads are closed (`SANICHAIN_READ_POLICY=signed-in`): the documentation and its assets stay open.
Screenshots land in artifacts/docs/ (git-ignored).
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine

from service.accounts import users
from tests.accounts import PASSWORD
from tests.service_process import running_service

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "docs"
DESKTOP = {"viewport": {"width": 1280, "height": 900}}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(demo_database_url: str) -> Iterator[str]:
    env = {"SANICHAIN_BASEMAP": "none", "SANICHAIN_READ_POLICY": "signed-in"}
    with running_service(demo_database_url, env=env) as url:
        yield url


class Offline:
    """A page whose requests to any host but the service's are aborted and recorded."""

    def __init__(self, chromium: Any, service: str) -> None:
        self.host = urlsplit(service).netloc
        self.elsewhere: list[str] = []
        self.failed: list[str] = []
        self.refused_by_csp: list[str] = []  # the browser's console lines for what the pages' CSP blocked
        self.context = chromium.new_context(**DESKTOP)
        self.page = self.context.new_page()
        self.page.route("**/*", self._route)
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.refused_by_csp.append(message.text)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == self.host:
            route.continue_()
        else:
            self.elsewhere.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def offline(chromium: Any, service: str) -> Iterator[Offline]:
    tab = Offline(chromium, service)
    yield tab
    tab.close()


@pytest.fixture
def reader(demo_engine: Engine) -> str:
    name = f"docs-{uuid.uuid4().hex[:8]}"
    with demo_engine.begin() as conn:
        users.add(conn, name, "inspector", PASSWORD)
    return name


def test_swagger_ui_renders_the_operations_with_no_request_leaving_the_host(
    offline: Offline, service: str
) -> None:
    page = offline.page
    page.goto(f"{service}/docs", wait_until="networkidle")
    collections = page.locator(".opblock-get", has=page.locator("[data-path='/collections']")).first
    collections.wait_for(state="visible", timeout=30_000)
    assert "The layers" in collections.inner_text()  # its summary
    assert page.locator(".opblock").count() > 20, "the operations list is (nearly) empty"
    assert page.locator(".info .title").inner_text().startswith("sanichain")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "swagger-ui-offline.png"), full_page=False)
    assert offline.elsewhere == [], f"requests left the host: {offline.elsewhere}"
    assert offline.failed == [], f"requests failed: {offline.failed}"
    assert offline.refused_by_csp == [], "the page's own CSP blocks a part of Swagger UI"


def test_swagger_ui_authorize_signs_in_by_the_password_flow_and_sends_the_token(
    offline: Offline, service: str, reader: str
) -> None:
    page = offline.page
    page.goto(f"{service}/docs", wait_until="networkidle")
    page.locator("button.authorize").first.click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input#oauth_username").fill(reader)
    dialog.locator("input#oauth_password").fill(PASSWORD)
    with page.expect_response(lambda r: urlsplit(r.url).path == "/auth/token") as token:
        dialog.locator("button.modal-btn.authorize").click()
    assert token.value.status == 200
    dialog.locator("button", has_text="Logout").wait_for(state="visible")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "swagger-ui-authorized.png"))
    dialog.locator("button.close-modal").click()

    # "Try it out" on GET /auth/me: Swagger UI sends the token it got, the service knows who asks
    block = page.locator(".opblock-get", has=page.locator("[data-path='/auth/me']")).first
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    with page.expect_request(lambda r: urlsplit(r.url).path == "/auth/me") as sent:
        block.locator("button.execute").click()
    assert sent.value.headers.get("authorization", "").startswith("Bearer ")
    response = sent.value.response()
    assert response is not None and response.status == 200
    assert response.json()["name"] == reader
    assert offline.elsewhere == [], f"requests left the host: {offline.elsewhere}"


def test_redoc_renders_the_operations_with_no_request_leaving_the_host(
    offline: Offline, service: str
) -> None:
    page = offline.page
    page.goto(f"{service}/redoc", wait_until="networkidle")
    # GET /collections's section, under its operation id
    page.locator("[data-section-id$='collections_collections_get']").first.wait_for(timeout=30_000)
    assert page.locator("h1").first.inner_text().startswith("sanichain")
    operations = page.locator("[data-section-id*='operation/']").count()
    assert operations > 20, f"only {operations} operations shown"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "redoc-offline.png"))
    assert offline.elsewhere == [], f"requests left the host: {offline.elsewhere}"
    # ReDoc's credit logo is the one thing its page would fetch from elsewhere: the CSP keeps it home
    assert [url for url in offline.failed if "cdn.redoc.ly" not in url] == []
    assert all("cdn.redoc.ly" in line for line in offline.refused_by_csp), offline.refused_by_csp


def test_docs_assets_are_served_open_cacheable_and_only_the_known_files(service: str) -> None:
    with urllib.request.urlopen(f"{service}/docs", timeout=10) as docs:
        html = docs.read().decode()
        csp = docs.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
    js = next(part.split('"')[0] for part in html.split('src="')[1:] if "swagger-ui-bundle.js" in part)
    assert js.startswith("/docs/assets/")
    with urllib.request.urlopen(service + js, timeout=10) as asset:
        assert asset.headers["content-type"].startswith("text/javascript")
        assert "immutable" in asset.headers["cache-control"]
        assert b"SwaggerUIBundle" in asset.read()
    version = js.split("/")[3]
    for refused in (f"/docs/assets/{version}/core.py", "/docs/assets/0.0.0/swagger-ui.css"):
        try:
            urllib.request.urlopen(service + refused, timeout=10)
            status = 200
        except urllib.error.HTTPError as error:
            status = error.code
        assert status == 404, refused
