"""Inspections on the maps, in Debian's Chromium against the real service over a copy of the demo.

- A station reported out of service: its page lists the inspection and what now has nowhere to go, the
  same figures as /chain/outages; the page links the inspection form.
- A signed-in inspector's city map offers "record an inspection" in a facility's popup, which opens the
  form for that facility; an anonymous reader's does not.
- The inspection rings colour each facility by its latest inspection (red: out of service) and the grids
  are drawn with their responsible leader in the popup.
Desktop 1366×900 and phone 390×844; screenshots in artifacts/inspections/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service.accounts import users
from service.api.app import create_app
from service.db import make_engine
from service.maps import style
from tests import browser
from tests.accounts import PASSWORD, role_headers
from tests.browser import READY, VIEWPORTS, screen
from tests.conftest import PgServer, demo_copy
from tests.service_process import running_service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(pg_server: PgServer, migrated_template: str) -> Iterator[tuple[Engine, int, dict[str, Any]]]:
    """The demo with its busiest station reported out of service an hour ago."""
    with demo_copy(pg_server, migrated_template, "inspection_maps") as url:
        engine = make_engine(url)
        with engine.connect() as conn:
            station = conn.execute(
                text(
                    """SELECT target_id FROM chain_links WHERE target_layer = 'transfer_stations'
                       GROUP BY target_id ORDER BY count(*) DESC, target_id LIMIT 1"""
                )
            ).scalar_one()
        at = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
        with TestClient(create_app(engine)) as client:
            recorded = client.post(
                "/inspections",
                data={"layer": "transfer_stations", "feature_id": str(station), "inspected_at": at,
                      "outcome": "out_of_service", "notes": "压缩机故障"},
                headers={**role_headers(engine, "inspector"), "Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            assert recorded.status_code == 201, recorded.text
            outage = client.get(f"/chain/outages/transfer_stations/{station}").json()
        yield engine, int(station), outage
        engine.dispose()


@pytest.fixture(scope="module")
def service(world: tuple[Engine, int, dict[str, Any]]) -> Iterator[str]:
    url = world[0].url.render_as_string(hide_password=False)
    with running_service(url, env={"SANICHAIN_BASEMAP": "none"}) as base:
        yield base


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_stopped_stations_page_shows_its_inspection_and_what_depends_on_it(
    chromium, service, world, viewport
):
    _, station, outage = world
    waste = {s["stream"]: s for s in outage["affected"]["streams"]}["domestic_waste"]
    with screen(chromium, viewport) as s:
        s.open_map(f"{service}/maps/facilities/transfer_stations/{station}")
        panel = s.page.locator(".sc-inspections")
        if not panel.is_visible():  # a phone starts with the legend folded: open it as a user would
            s.page.locator("details.sc-fold summary", has_text="图例").tap()
        panel.wait_for()
        assert "停运" in panel.inner_text() and "test-inspector" in panel.inner_text()
        block = s.page.locator(".sc-outage").inner_text()
        assert f"{waste['villages']} 个村" in block
        assert f"{waste['t_per_day_no_longer_treated']:,.2f} 吨/日" in block
        assert f"{len(outage['alternatives'])}/{outage['links_delivering']}" in block
        form = s.page.locator("a.sc-inspect-link").first
        assert (
            form.get_attribute("href")
            == f"{service}/inspections/new?layer=transfer_stations&feature_id={station}"
        )
        s.shot("inspections", "facility-out-of-service", full_page=True)
        assert s.problems == []


def sign_in(page: Any, service: str, engine: Engine, role: str, path: str) -> None:
    name = f"map-{role}-{uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:
        users.add(conn, name, role, PASSWORD)
    browser.sign_in(page, service, name, path)
    page.wait_for_function(READY, timeout=60_000)


def open_popup(page: Any, group: str, feature_id: int) -> str:
    page.evaluate(
        "([g, id]) => void Sanichain.groups[g].getLayers().find(m => m.feature.id === id).openPopup()",
        [group, feature_id],
    )
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    return str(popup.inner_html())


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_inspectors_popup_opens_the_form_and_a_readers_does_not(chromium, service, world, viewport):
    engine, station, _ = world
    with screen(chromium, viewport) as s:
        s.open_map(f"{service}/maps/city")
        s.page.wait_for_timeout(500)  # the page has asked who is reading
        assert "sc-inspect-link" not in open_popup(s.page, "transfer_stations", station)
    with screen(chromium, viewport) as s:
        sign_in(s.page, service, engine, "inspector", "/maps/city")
        s.page.wait_for_function("window.Sanichain && Sanichain.inspectLink !== undefined")
        open_popup(s.page, "transfer_stations", station)
        link = s.page.locator(".leaflet-popup-content a.sc-inspect-link")
        assert link.inner_text() == "记录巡查"
        s.shot("inspections", "popup-inspector")
        link.click()
        s.page.wait_for_url(f"{service}/inspections/new?layer=transfer_stations&feature_id={station}")
        s.page.wait_for_function("window.SanichainInspect && SanichainInspect.ready === true")
        assert s.problems == []


def test_the_rings_show_the_latest_outcome_and_the_grids_their_leader(chromium, service, world):
    engine, station, _ = world
    with engine.connect() as conn:
        leader = conn.execute(text("SELECT responsible_leader FROM grids WHERE code = 'WG-01'")).scalar_one()
    with screen(chromium, "desktop") as s:
        s.open_map(f"{service}/maps/city")
        ring = s.page.evaluate(
            "(id) => { const m = Sanichain.groups.inspection_status.getLayers()"
            ".find(l => l.feature.id === id && l.feature.layer === 'transfer_stations');"
            " return m ? {color: m.options.color, fill: m.options.fill, dash: m.options.dashArray} : null; }",
            station,
        )
        assert ring == {"color": style.RED, "fill": False, "dash": None}  # reported an hour ago: not overdue
        popup = s.page.evaluate(
            "() => { const g = Sanichain.groups.grids.getLayers()[0]; g.openPopup(g.getBounds().getCenter());"
            " return document.querySelector('.leaflet-popup-content').innerText; }"
        )
        assert leader in popup and "包靠领导" in popup
        assert s.page.evaluate("Sanichain.counts.grids") == 30
