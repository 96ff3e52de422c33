"""Editing from the map on a phone: Debian's Chromium (Playwright) against the real service, over a copy
of the demo made for this module (the test writes).

An editor signs in through /login, opens a transfer station's page, opens the edit form, is refused a
negative capacity (the message next to the field, nothing written), then saves a valid capacity and a
position dragged about 200 m: the database has both and the feature's version went up by one. A viewer
gets no edit button, and the cached page is the same for everyone (no token in it).

Screenshots land in artifacts/maps/ (git-ignored).
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from service.accounts import users
from service.maps.city import MapRequest
from service.maps.facility import facility_page
from service.vocabulary import INSPECTED_LAYERS
from tests import browser
from tests.accounts import PASSWORD, role_headers
from tests.browser import READY
from tests.conftest import PgServer, demo_copy_engine
from tests.service_process import running_service

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "maps"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def edit_engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    """A copy of the demo of this module's own, dropped afterwards."""
    with demo_copy_engine(pg_server, migrated_template, "edit_map") as engine:
        yield engine


@pytest.fixture(scope="module")
def service(edit_engine: Engine) -> Iterator[str]:
    url = edit_engine.url.render_as_string(hide_password=False)
    with running_service(url, env={"SANICHAIN_BASEMAP": "none"}) as base:
        yield base


def user_of(engine: Engine, role: str) -> str:
    name = f"map-{role}-{uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:
        users.add(conn, name, role, PASSWORD)
    return name


def station(engine: Engine, station_id: int | None = None) -> Any:
    """A transfer station as stored: capacity, position, version."""
    where = "WHERE id = :id" if station_id is not None else "ORDER BY id LIMIT 1"
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT id, name, capacity::float8 AS capacity, ST_Y(geom) AS lat, ST_X(geom) AS lon, "
                f"version FROM transfer_stations {where}"
            ),
            {"id": station_id},
        ).one()


def metres_between(engine: Engine, a: Any, b: Any) -> float:
    with engine.connect() as conn:
        return float(
            conn.execute(
                text(
                    "SELECT ST_Distance(ST_SetSRID(ST_MakePoint(:x1, :y1), 4326)::geography, "
                    "ST_SetSRID(ST_MakePoint(:x2, :y2), 4326)::geography)"
                ),
                {"x1": a.lon, "y1": a.lat, "x2": b.lon, "y2": b.lat},
            ).scalar_one()
        )


def sign_in(chromium: Any, service: str, name: str, next_path: str) -> tuple[Any, Any, list[str]]:
    """A phone signed in through the login page, landed on `next_path` with its map drawn."""
    context = chromium.new_context(**PHONE)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    browser.sign_in(page, service, name, next_path, tap=True)
    page.wait_for_function(READY, timeout=30_000)
    # The map is drawn before its editing script's `/auth/me` answers; a test that moves on at once
    # would abort that request and count it as a failure.
    page.wait_for_load_state("networkidle")
    return context, page, problems


def fits_the_screen(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"


def drag_marker(page: Any, metres_east: float) -> None:
    """Drag the edit handle like a finger would (press, move in steps, release)."""
    start = page.locator(".sc-edit-handle").bounding_box()
    assert start is not None
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    dx = page.evaluate(
        """(m) => { const map = Sanichain.map, at = SanichainEdit.marker.getLatLng();
                    const east = L.latLng(at.lat, at.lng + m / (111320 * Math.cos(at.lat * Math.PI / 180)));
                    return map.latLngToContainerPoint(east).x - map.latLngToContainerPoint(at).x; }""",
        metres_east,
    )
    assert 20 < dx < 300, f"{metres_east} m is {dx} px at this zoom"
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y, steps=5)
    page.mouse.move(x + dx, y, steps=5)
    page.mouse.up()


def test_an_editor_on_a_phone_corrects_a_refused_capacity_and_moves_the_station(
    chromium, service, edit_engine
):
    before = station(edit_engine)
    path = f"/maps/facilities/transfer_stations/{before.id}"
    context, page, problems = sign_in(chromium, service, user_of(edit_engine, "editor"), path)
    try:
        page.locator(".sc-edit-open").tap()
        page.wait_for_selector(".sc-edit form")
        assert page.input_value("#sc-edit-name") == before.name
        assert float(page.input_value("#sc-edit-capacity")) == before.capacity
        # the form fits the phone: full-width inputs a thumb can hit, 16 px text, no sideways scroll
        fits_the_screen(page)
        name_box = page.locator("#sc-edit-name").bounding_box()
        assert name_box is not None and name_box["width"] >= 340 and name_box["height"] >= 44
        assert (
            page.evaluate("parseFloat(getComputedStyle(document.querySelector('#sc-edit-name')).fontSize)")
            >= 16
        )
        # the map keeps the upper part of the screen, the station's handle on it
        sheet = page.locator(".sc-edit").bounding_box()
        handle = page.locator(".sc-edit-handle").bounding_box()
        assert sheet is not None and handle is not None
        assert sheet["y"] >= 844 * 0.4 and handle["y"] + handle["height"] <= sheet["y"]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "edit-form-phone.png"))

        # a negative capacity: refused by the service, the message next to the capacity field
        page.fill("#sc-edit-capacity", "-5")
        page.locator(".sc-edit-save").tap()
        message = page.locator('.sc-edit-error[data-for="properties.capacity"]')
        message.wait_for(state="visible")
        assert message.inner_text().strip() != ""
        field = page.locator('.sc-edit-field[data-field="properties.capacity"]')
        assert (
            field.locator("#sc-edit-capacity").count() == 1
            and field.locator(".sc-edit-error").first.is_visible()
        )
        assert "sc-edit-invalid" in str(page.get_attribute("#sc-edit-capacity", "class"))
        assert "sc-edit-invalid" not in str(page.get_attribute("#sc-edit-capacity_unit", "class"))
        assert page.locator(".sc-edit-message").inner_text() != ""
        assert station(edit_engine, before.id) == before  # nothing written
        page.screenshot(path=str(ARTIFACTS / "edit-form-refused.png"))

        # a valid capacity and the marker dragged ~200 m east, saved together
        capacity = before.capacity + 25
        page.fill("#sc-edit-capacity", f"{capacity:g}")
        drag_marker(page, 200)
        moved = re.search(r"已移动 (\d+) 米", page.inner_text(".sc-edit-where"))
        assert moved is not None and 170 <= int(moved.group(1)) <= 230
        with page.expect_navigation():
            page.locator(".sc-edit-save").tap()
        page.wait_for_function(READY, timeout=30_000)
        after = station(edit_engine, before.id)
        assert after.capacity == capacity
        assert 170 <= metres_between(edit_engine, before, after) <= 230
        assert abs(after.lat - before.lat) < 1e-4  # dragged east, not north
        assert after.version == before.version + 1
        # the page built again from the changed inventory: the station drawn where it now is
        drawn = page.evaluate("Sanichain.groups.facility.getLayers()[0].getLatLng()")
        assert abs(drawn["lat"] - after.lat) < 6e-6 and abs(drawn["lng"] - after.lon) < 6e-6
        assert page.locator(".sc-edit").count() == 0  # saved: the form is closed
        assert problems == []
    finally:
        context.close()


def test_a_viewer_gets_no_edit_button_and_the_cached_page_carries_no_token(chromium, service, edit_engine):
    with edit_engine.connect() as conn:
        first = conn.execute(text("SELECT min(id) FROM transfer_stations")).scalar_one()
    path = f"/maps/facilities/transfer_stations/{first}"
    context, page, problems = sign_in(chromium, service, user_of(edit_engine, "viewer"), path)
    try:
        with page.expect_response(lambda r: r.url.endswith("/maps/editor")) as asked:
            page.reload()
        page.wait_for_function(READY, timeout=30_000)
        # the page asked; its answer read again in the page (a response's body is gone once the page
        # has moved on, which a busy machine makes likely)
        answer = page.evaluate(
            "fetch((Sanichain.base || '') + '/maps/editor', {credentials: 'same-origin'}).then(r => r.json())"
        )
        assert answer == {
            "signed_in": True,
            "may_edit": False,
            "may_import": False,
            "may_inspect": False,
            "inspected_layers": list(INSPECTED_LAYERS),
        }
        assert asked.value.headers["cache-control"] == "no-store"
        page.wait_for_load_state("networkidle")
        assert page.locator(".sc-edit-open").count() == 0
        assert page.evaluate("window.SanichainEdit === undefined")  # the form's script never loaded
        # the page a signed-in reader gets is the anonymous reader's: no name, no token in it
        seen = page.evaluate("document.documentElement.outerHTML")
        assert "csrf" not in seen.lower()
        with urllib.request.urlopen(service + path, timeout=30) as response:
            anonymous = response.read().decode("utf-8")
        assert "csrf" not in anonymous.lower() and "sc-edit-open" not in anonymous
        assert problems == []
    finally:
        context.close()


def api_patch(service: str, engine: Engine, path: str, body: dict[str, Any]) -> int:
    """A save through the API by another editor (bearer token), with the current ETag."""
    with urllib.request.urlopen(service + path, timeout=30) as response:
        etag = response.headers["ETag"]
    request = urllib.request.Request(
        service + path,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={
            **role_headers(engine, "editor"),
            "If-Match": etag,
            "Content-Type": "application/merge-patch+json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def test_a_form_opened_before_someone_else_saved_is_told_to_reload(chromium, service, edit_engine):
    with edit_engine.connect() as conn:
        last = conn.execute(text("SELECT max(id) FROM transfer_stations")).scalar_one()
    before = station(edit_engine, last)
    path = f"/maps/facilities/transfer_stations/{last}"
    context, page, problems = sign_in(chromium, service, user_of(edit_engine, "editor"), path)
    try:
        page.goto(f"{service}{path}?lang=zh#edit")  # the popups' edit link: the form opens with the page
        page.wait_for_selector(".sc-edit form")
        assert (
            api_patch(
                service,
                edit_engine,
                f"/collections/transfer_stations/items/{last}",
                {"properties": {"operator": "另一位编辑"}},
            )
            == 200
        )
        page.fill("#sc-edit-capacity", f"{before.capacity + 1:g}")
        page.locator(".sc-edit-save").tap()
        page.wait_for_selector(".sc-edit-reload")
        assert "已被他人修改" in page.inner_text(".sc-edit-message")
        after = station(edit_engine, last)
        assert after.capacity == before.capacity and after.version == before.version + 1  # theirs only
        page.screenshot(path=str(ARTIFACTS / "edit-form-stale.png"))
        with page.expect_navigation():
            page.locator(".sc-edit-reload").tap()
        page.wait_for_function(READY, timeout=30_000)
        assert problems == []
    finally:
        context.close()


def test_city_map_popups_link_editors_to_the_facility_edit_form(chromium, service, edit_engine):
    with edit_engine.connect() as conn:
        first = conn.execute(text("SELECT min(id) FROM transfer_stations")).scalar_one()
    context, page, problems = sign_in(chromium, service, user_of(edit_engine, "admin"), "/maps/city")
    try:
        page.wait_for_function("window.Sanichain && Sanichain.editLink !== undefined", timeout=10_000)
        page.evaluate(  # (clicking it would need the map zoomed to it; the popup is the same)
            "(id) => void Sanichain.groups.transfer_stations.getLayers().find(m => m.feature.id === id)"
            ".openPopup()",
            first,
        )
        link = page.locator(".leaflet-popup-content a.sc-edit-link")
        assert link.inner_text() == "编辑"
        assert (
            link.get_attribute("href") == f"{service}/maps/facilities/transfer_stations/{first}?lang=zh#edit"
        )
        with page.expect_navigation():
            link.tap()
        page.wait_for_selector(".sc-edit form")  # the facility's page, its form open
        fits_the_screen(page)
        assert problems == []
    finally:
        context.close()


@pytest.mark.parametrize(
    ("role", "answer"),
    [
        (None, {"signed_in": False, "may_edit": False, "may_import": False}),
        ("viewer", {"signed_in": True, "may_edit": False, "may_import": False}),
        ("planner", {"signed_in": True, "may_edit": False, "may_import": False}),
        ("editor", {"signed_in": True, "may_edit": True, "may_import": True}),
        ("admin", {"signed_in": True, "may_edit": True, "may_import": True}),
        # the inspection form works with a browser's session: an API token is not offered it
        ("inspector", {"signed_in": True, "may_edit": False, "may_import": False}),
    ],
)
def test_the_pages_ask_who_may_edit_without_an_error_for_anonymous_readers(client, app_engine, role, answer):
    headers = role_headers(app_engine, role) if role else {}
    r = client.get("/maps/editor", headers=headers)
    expected = {**answer, "may_inspect": False, "inspected_layers": list(INSPECTED_LAYERS)}
    assert r.status_code == 200 and r.json() == expected
    assert r.headers["cache-control"] == "no-store"


def test_the_cached_page_is_the_same_for_every_reader_and_an_offline_file_has_no_form(client, app_engine):
    with app_engine.connect() as conn:
        first = conn.execute(text("SELECT min(id) FROM transfer_stations")).scalar_one()
    path = f"/maps/facilities/transfer_stations/{first}"
    anonymous = client.get(path).text
    editor = client.get(path, headers=role_headers(app_engine, "editor")).text
    assert editor == anonymous and "csrf" not in anonymous.lower()
    form = re.search(r"Sanichain\.editor\([^,]+, (\{.*?\})\);\n", anonymous)
    assert form is not None
    spec = json.loads(form.group(1))
    assert (spec["layer"], spec["id"]) == ("transfer_stations", first)
    assert [f["name"] for f in spec["fields"]][:4] == ["name", "status", "capacity", "capacity_unit"]
    assert {"operator", "commissioned_on", "name_en", "compression"} <= {f["name"] for f in spec["fields"]}
    assert not {"town_code", "station_class", "version"} & {f["name"] for f in spec["fields"]}
    assert spec["assets"]["js"].endswith("/sanichain-edit.js")
    assert client.get(spec["assets"]["js"]).status_code == 200
    # the form's code is not linked for every reader: the script loads it for editors only
    assert "sanichain-edit" not in anonymous.replace(form.group(0), "")
    offline = facility_page(app_engine, "transfer_stations", first, MapRequest()).render(offline=True)
    assert "Sanichain.editor(" not in offline
