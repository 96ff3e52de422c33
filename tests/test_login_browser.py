"""Signing in and out on a phone: Debian's Chromium (Playwright) against the real service, with reads
closed (`SANICHAIN_READ_POLICY=signed-in`) as a city that keeps its inventory private would run it.

Screenshots land in pytest's tmp directory (their paths are printed with -s).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from service.accounts import users
from service.api.security import SESSION_COOKIE
from tests.accounts import PASSWORD
from tests.service_process import running_service

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}
SESSION_DAYS = 30

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(demo_database_url: str) -> Iterator[str]:
    env = {"SANICHAIN_BASEMAP": "none", "SANICHAIN_READ_POLICY": "signed-in"}
    with running_service(demo_database_url, env=env) as url:
        yield url


@pytest.fixture
def inspector(demo_engine: Engine) -> str:
    """A user of its own in the demo database (the name is unique, so reruns never clash)."""
    name = f"phone-{uuid.uuid4().hex[:8]}"
    with demo_engine.begin() as conn:
        users.add(conn, name, "inspector", PASSWORD)
    return name


def status_of(url: str, cookie: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def fits_the_screen(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"


def test_a_phone_signs_in_once_lands_on_its_page_and_signs_out(chromium, service, inspector, tmp_path):
    context = chromium.new_context(**PHONE)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    try:
        # reads are closed: the layers page sends the browser to sign in, and remembers where it was
        page.goto(service + "/collections")
        assert page.url == service + "/login?next=/collections"
        fits_the_screen(page)
        assert page.get_attribute('meta[name="viewport"]', "content") == "width=device-width, initial-scale=1"
        # big enough for a thumb, and 16 px text at least (smaller makes the phone zoom into the field)
        box = page.locator("#username").bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 300
        font = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#password')).fontSize)")
        assert font >= 16
        page.screenshot(path=str(tmp_path / "login.png"), full_page=True)

        # a wrong password: the page again, the name kept, nothing stored
        page.fill("#username", inspector)
        page.fill("#password", "not the password")
        page.tap("button[type=submit]")
        page.wait_for_selector(".notice")
        assert "wrong user name or password" in page.inner_text(".notice")
        assert page.input_value("#username") == inspector
        assert [c for c in context.cookies() if c["name"] == SESSION_COOKIE] == []
        fits_the_screen(page)
        page.screenshot(path=str(tmp_path / "login-wrong.png"), full_page=True)

        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.tap("button[type=submit]")
        assert page.url == service + "/collections"
        assert page.locator("h1").inner_text() == "Collections"

        session = next(c for c in context.cookies() if c["name"] == SESSION_COOKIE)
        assert session["httpOnly"] is True and session["sameSite"] == "Lax" and session["path"] == "/"
        assert session["secure"] is True  # 127.0.0.1 is loopback: Secure under `auto`
        days_left = (session["expires"] - time.time()) / 86400
        assert SESSION_DAYS - 1 < days_left <= SESSION_DAYS
        assert SESSION_COOKIE not in page.evaluate("document.cookie")  # no script can read it
        me = page.request.get(service + "/auth/me")
        assert me.status == 200 and json.loads(me.text())["name"] == inspector

        # the login page of a signed-in phone: who, and the sign-out button
        page.goto(service + "/login")
        assert f"Signed in as {inspector} (inspector)" in page.inner_text(".who")
        fits_the_screen(page)
        page.screenshot(path=str(tmp_path / "signed-in.png"), full_page=True)
        with page.expect_navigation():
            page.tap("button[type=submit]")
        assert page.url == service + "/login"
        assert page.locator("#password").count() == 1
        assert [c for c in context.cookies() if c["name"] == SESSION_COOKIE] == []
        assert page.request.get(service + "/auth/me").status == 401
        # the cookie, kept and presented again elsewhere, is revoked
        assert status_of(service + "/auth/me", f"{SESSION_COOKIE}={session['value']}") == 401
        assert problems == []
        print(f"\nscreenshots: {tmp_path}")
    finally:
        context.close()
