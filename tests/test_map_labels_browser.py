"""Labels that never overlap and a coverage map of several layers, seen in Debian's Chromium (Playwright) on
a desktop (1366×900) and a phone (390×844) against the real service over the demo.

- On a town's map, the permanent labels of the facilities outside the town (name · load) are placed so
  that no two labels' boxes overlap, at the initial view and after zooming in; where a label has no free
  side it is hidden, never drawn over another. Measured on the boxes Chromium lays out.
- `/maps/coverage?layer=manure_centers,biogas_centers` draws both layers' facilities and reach in their
  own colours, and colours villages and farms by served-by-any, the same count as `/coverage` answers for
  the same question; a repeated `layer=` is a 400, like the JSON API's.

Screenshots: artifacts/map-labels/*-desktop.png and *-phone.png (git-ignored).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from itertools import combinations
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.browser import Screen
from tests.conftest import PgServer, demo_copy_engine
from tests.service_process import running_service

pytestmark = pytest.mark.slow

FOLDER = "map-labels"
# Huanghua (117) is the crowded one on a phone; Zhigou (101) and Changcheng (110) reach other centres.
TOWNS = ("370782117", "370782101", "370782110", "370782118")
BOTH = "manure_centers,biogas_centers"
DISTANCE = 15_000


@pytest.fixture(scope="module")
def engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    with demo_copy_engine(pg_server, migrated_template, "labels") as engine:
        yield engine


@pytest.fixture(scope="module")
def service(engine: Engine) -> Iterator[str]:
    with running_service(
        engine.url.render_as_string(hide_password=False), env={"SANICHAIN_BASEMAP": "none"}
    ) as base:
        yield base


LABEL_BOXES_JS = """() => Array.from(document.querySelectorAll('.sc-label'))
  .filter(el => getComputedStyle(el).visibility !== 'hidden' && el.offsetParent !== null)
  .map(el => { const r = el.getBoundingClientRect();
               return {text: el.innerText, left: r.left, top: r.top, right: r.right, bottom: r.bottom}; })"""


def overlapping(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes share more than a hairline (half a pixel of rounding allowed)."""
    return [
        (a["text"], b["text"])
        for a, b in combinations(boxes, 2)
        if min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5
        and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5
    ]


@pytest.mark.parametrize("town", TOWNS)
def test_the_labels_of_what_a_town_s_flows_reach_never_overlap(
    screen: Screen, service: str, town: str
) -> None:
    page = screen.page
    response = screen.open_map(f"{service}/maps/towns/{town}")
    assert response is not None and response.status == 200
    labelled = page.locator(".sc-label").count()
    boxes = page.evaluate(LABEL_BOXES_JS)
    assert labelled >= 2 and len(boxes) >= 2, (labelled, boxes)  # labels are drawn, not all thinned away
    assert overlapping(boxes) == []
    for b in boxes:  # each names a facility and its load or status
        assert " · " in b["text"], b
    screen.shot(FOLDER, f"town-{town}")
    # zoomed in one step the labels are placed again, still apart
    page.evaluate("() => { Sanichain.map.zoomIn(1, {animate: false}); }")
    page.wait_for_timeout(300)
    assert overlapping(page.evaluate(LABEL_BOXES_JS)) == []
    assert screen.problems == []


def test_the_crowded_town_keeps_every_outside_label_on_a_phone(screen: Screen, service: str) -> None:
    # Huanghua's three outside facilities: the plant, the biogas centre and Linjiacun's manure centre
    screen.open_map(f"{service}/maps/towns/370782117")
    boxes = screen.page.evaluate(LABEL_BOXES_JS)
    assert len(boxes) == 3, boxes
    assert overlapping(boxes) == []


def coverage_json(service: str, query: str) -> Any:
    request = urllib.request.Request(f"{service}/coverage?{query}", headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as r:
        return json.load(r)


def test_the_coverage_map_of_two_layers_draws_both_and_colours_by_served_by_any(
    screen: Screen, service: str, engine: Engine
) -> None:
    page = screen.page
    response = screen.open_map(f"{service}/maps/coverage?layer={BOTH}&distance_m={DISTANCE}")
    assert response is not None and response.status == 200
    with engine.connect() as conn:
        operational = {
            layer: conn.execute(
                text(f"SELECT count(*) FROM {layer} WHERE status = 'operational'")
            ).scalar_one()
            for layer in ("manure_centers", "biogas_centers")
        }
    counts = page.evaluate("Sanichain.counts")
    assert counts["manure_centers"] == operational["manure_centers"] > 0
    assert counts["biogas_centers"] == operational["biogas_centers"] > 0
    assert counts["service_areas"] == sum(operational.values())  # every facility's reach circle
    # each layer in its own colour, its reach too
    colours = page.evaluate(
        """() => Object.fromEntries(['manure_centers', 'biogas_centers'].map(k =>
             [k, Object.values(Sanichain.drawn[k]).map(m => m.options.fillColor)]))"""
    )
    assert len(set(colours["manure_centers"])) == 1 and len(set(colours["biogas_centers"])) == 1
    assert colours["manure_centers"][0] != colours["biogas_centers"][0]
    # villages served by any, as /coverage counts them for the same question
    answer = coverage_json(service, f"layer={BOTH}&distance_m={DISTANCE}")
    served = page.evaluate("Object.values(Sanichain.index.villages).filter(v => v.served).length")
    assert served == answer["city"]["villages_served"]
    one_layer = coverage_json(service, f"layer=manure_centers&distance_m={DISTANCE}")
    assert served > one_layer["city"]["villages_served"]  # the biogas centre serves some more
    title = page.title()
    assert "粪污集中处理中心" in title and "大型沼气处理中心" in title
    legend = page.locator("#sc-legend-control").text_content() or ""
    assert "粪污集中处理中心" in legend and "大型沼气处理中心" in legend
    screen.shot(FOLDER, "coverage-two-layers")
    assert screen.problems == []


def status_of(url: str, accept: str) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def test_a_repeated_layer_parameter_is_a_400_on_the_coverage_map(screen: Screen, service: str) -> None:
    path = f"/maps/coverage?layer=manure_centers&layer=biogas_centers&distance_m={DISTANCE}"
    code, media, body = status_of(service + path, "application/json")
    assert (code, media) == (400, "application/problem+json")
    assert json.loads(body)["parameter"] == "layer"
    response = screen.page.goto(service + path)  # a browser: the same 400, as a page
    assert response is not None and response.status == 400
    assert screen.page.locator("h1").inner_text() == "请求有误"
    assert "layer" in (screen.page.locator("#error-detail").text_content() or "")
