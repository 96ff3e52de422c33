"""The inspection form on a phone, offline then online, in Debian's Chromium against the real service.

An inspector signs in, opens a transfer station's form, loses the network, fills the checklist, adds a
photo and saves: the record waits on the phone (nothing reaches the database). When the network returns
the first send is stored by the service but its answer is lost on the way back (the test drops it);
the phone sends again with the same key, and the database holds the record exactly once, with its
photo made smaller and the inspector's position ~40 m from the station.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import Engine, text

from service.accounts import users
from tests.accounts import PASSWORD
from tests.browser import ARTIFACTS, PHONE, shot
from tests.conftest import PgServer, demo_copy_engine
from tests.service_process import running_service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    with demo_copy_engine(pg_server, migrated_template, "inspection_form") as engine:
        yield engine


@pytest.fixture(scope="module")
def service(engine: Engine) -> Iterator[str]:
    url = engine.url.render_as_string(hide_password=False)
    with running_service(url, env={"SANICHAIN_BASEMAP": "none"}) as base:
        yield base


def station(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT id, name, ST_X(geom) AS lon, ST_Y(geom) AS lat"
                " FROM transfer_stations ORDER BY id LIMIT 1"
            )
        ).one()


def inspector(engine: Engine) -> str:
    name = f"field-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        users.add(conn, name, "inspector", PASSWORD)
    return name


def camera_photo(path: Any) -> Any:
    """A 2400×1800 picture, as big as a phone camera's."""
    image = Image.new("RGB", (2400, 1800), (90, 140, 110))
    for x in range(0, 2400, 200):
        image.paste((200, 60, 40), (x, 0, x + 80, 1800))
    image.save(path, "PNG")
    return path


def stored(engine: Engine, name: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    """SELECT i.id, i.idempotency_key, i.outcome, i.checklist, i.notes, i.distance_m,
                              p.content_type, p.content
                       FROM inspections i LEFT JOIN inspection_photos p ON p.inspection_id = i.id
                       WHERE i.user_name = :n ORDER BY i.id"""
                ),
                {"n": name},
            )
        )


def test_an_inspection_saved_offline_arrives_once_when_the_network_returns(
    chromium, service, engine, tmp_path
):
    site = station(engine)
    name = inspector(engine)
    position = {"longitude": site.lon + 0.0005, "latitude": site.lat}  # ~45 m east at 36° N
    context = chromium.new_context(**PHONE, geolocation=position, permissions=["geolocation"])
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        form = f"/inspections/new?layer=transfer_stations&feature_id={site.id}"
        page.goto(service + form)
        assert "/login?next=" in page.url  # signed out: the login page, which brings the inspector back
        page.fill("#username", name)
        page.fill("#password", PASSWORD)
        page.tap("button[type=submit]")
        page.wait_for_url(service + form)
        page.wait_for_function("window.SanichainInspect && SanichainInspect.ready === true")
        assert site.name in page.inner_text("h1 + .facility")
        page.wait_for_function("document.getElementById('sc-inspect-position').textContent.includes('±')")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the form overflows the phone sideways ({width}px)"

        context.set_offline(True)
        page.locator("label.choice", has_text="停运").tap()
        page.locator('fieldset[data-key="compactor_works"] label.choice', has_text="否").tap()
        page.locator('fieldset[data-key="site_clean"] label.choice', has_text="是").tap()
        page.fill("#notes", "压缩机故障，站点停运")
        page.set_input_files("#photos", str(camera_photo(tmp_path / "camera.png")))
        page.locator("#sc-inspect-save").tap()
        page.wait_for_function("document.getElementById('sc-inspect-pending').textContent === '1'")
        assert "停运" in page.inner_text("#sc-inspect-queue")
        shot(page, "inspections", "offline-waiting-phone", full_page=True)
        assert stored(engine, name) == []  # nothing left the phone

        # the network returns; the first answer is lost on its way back after the service stored it
        lost: list[str] = []
        dropped: list[bool] = []

        def lose_first_answer(route: Any) -> None:
            if not lost:
                lost.append(route.request.headers.get("idempotency-key", ""))
                route.fetch()  # the service receives and stores the record
                route.abort()  # ... and the phone never hears it
                dropped.append(True)
            else:
                route.continue_()

        page.route("**/inspections", lose_first_answer)
        context.set_offline(False)
        page.wait_for_function("SanichainInspect.attempts >= 1")
        for _ in range(600):  # the handler runs while the page is waited on; a loaded machine is slow
            if dropped:
                break
            page.wait_for_timeout(100)
        page.wait_for_function("SanichainInspect.flushing === false")
        assert page.evaluate("SanichainInspect.pending") == 1  # still waiting: it never heard back
        assert len(stored(engine, name)) == 1  # though the service has it
        page.evaluate("SanichainInspect.flush()")  # what the retry timer does every 20 s
        page.wait_for_function("document.getElementById('sc-inspect-pending').textContent === '0'")
        page.wait_for_function("SanichainInspect.sent.length === 1")
        shot(page, "inspections", "sent-phone", full_page=True)
    finally:
        context.close()

    rows = stored(engine, name)
    assert len(rows) == 1, "the record must be stored exactly once"
    record = rows[0]
    assert record.idempotency_key == lost[0] and record.idempotency_key.startswith("web-")
    assert record.outcome == "out_of_service"
    assert record.checklist == {
        "compactor_works": False,
        "leachate_contained": None,
        "site_clean": True,
        "odour_controlled": None,
    }
    assert record.notes == "压缩机故障，站点停运"
    assert 35 < float(record.distance_m) < 55
    assert record.content_type == "image/jpeg"
    photo = Image.open(io.BytesIO(record.content))
    assert max(photo.size) == 1600 and photo.size[0] / photo.size[1] == pytest.approx(4 / 3, rel=0.01)
    assert problems == []
    assert (ARTIFACTS / "inspections" / "sent-phone.png").exists()
