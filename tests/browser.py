"""Debian's Chromium for the browser tests, driven by Playwright: one launch per test module, the two
viewports every page is checked on, pages that fail loudly, and screenshots under artifacts/.

A page's renderer can die under a heavily loaded machine; a page here then fails its test at once
(`crash` is recorded and the default timeouts are bounded) instead of waiting for ever.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"  # git-ignored
READY = "window.Sanichain && Sanichain.ready === true"  # set by every map page once drawn
PAGE_TIMEOUT_MS = 60_000

DESKTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 900}, "locale": "zh-CN"}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}
VIEWPORTS: dict[str, dict[str, Any]] = {"desktop": DESKTOP, "phone": PHONE}


@contextmanager
def launched() -> Iterator[Any]:
    """A headless Chromium (a Playwright `Browser`), closed afterwards."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: scripts/setup.sh test installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Screen:
    """One page in a fresh context of one viewport, with what went wrong on it."""

    viewport: str
    context: Any
    page: Any
    problems: list[str] = field(default_factory=list)

    def open_map(self, url: str) -> Any:
        response = self.page.goto(url)
        self.page.wait_for_function(READY, timeout=PAGE_TIMEOUT_MS)
        return response

    def shot(self, folder: str, name: str, *, full_page: bool = False) -> Path:
        return shot(self.page, folder, f"{name}-{self.viewport}", full_page=full_page)


@contextmanager
def screen(browser: Any, viewport: str, **context_options: Any) -> Iterator[Screen]:
    """A page of `viewport` ("desktop" or "phone"); page errors and crashes land in `problems`."""
    context = browser.new_context(**{**VIEWPORTS[viewport], **context_options})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    s = Screen(viewport, context, page)
    page.on("pageerror", lambda e: s.problems.append(f"page error: {e}"))
    page.on("crash", lambda _p: s.problems.append("the page's renderer crashed"))
    try:
        yield s
    finally:
        context.close()


def shot(page: Any, folder: str, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot as artifacts/FOLDER/NAME.png and say where."""
    path = ARTIFACTS / folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    return path


def sign_in(page: Any, service: str, name: str, path: str, *, tap: bool = False) -> None:
    """Through the login page (`/login?next=path`), with the test accounts' password; landed on `path`.
    `tap`: a phone's touch instead of a click."""
    from tests.accounts import PASSWORD

    page.goto(f"{service}/login?next={path}")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    submit = page.locator("form button[type=submit]").first  # not the navigation's search button
    with page.expect_navigation():
        submit.tap() if tap else submit.click()
    assert page.url == service + path
