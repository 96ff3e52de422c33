"""The chain over the Zhucheng demo, through the HTTP API and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from service.chain import flows, indicators, integrity
from tests import worlds
from tests.accounts import role_headers
from tests.problems import assert_problem


def test_demo_chain_is_clean_every_village_connected_and_figures_equal_the_source(demo_engine):
    with demo_engine.connect() as conn, conn.begin():
        flows.compute(conn)
        found = integrity.check(conn)
        figures = indicators.compute(conn)
    assert [f for f in found if f.severity == "error"] == []
    city = figures["city"]
    assert city["villages_waste_connected"] == city["villages"] == 1249
    assert city["population"] == 1_100_000
    assert city["toilets_rebuilt"] > 230_000
    assert city["transfer_stations_campaign"] == 5
    assert city["incineration_capacity_t_per_day"] == 500
    assert (city["manure_centers"], city["biogas_centers"]) == (6, 1)
    assert (city["large_farms"], city["large_farms_with_manure_facility"]) == (566, 566)
    assert city["large_farms_facility_share"] == 1.0
    assert (city["public_toilets_new"], city["public_toilets_rebuilt"]) == (10, 40)
    assert city["waste_generated_t_per_day"] == pytest.approx(720_000 * 0.4 / 1000)
    (plant,) = [p for p in figures["plants"] if p["code"] == "TP-INC-2"]
    assert plant["utilisation"] == pytest.approx(288 / 500)


def test_demo_utilisation_is_plausible(demo_engine):
    with demo_engine.connect() as conn, conn.begin():
        flows.compute(conn)
        loads = flows.facility_loads(conn)
    operational = [f for f in loads if f["status"] == "operational" and f["inflow_t_per_day"] > 0]
    assert len(operational) == 1249 + 14 + 1 + 6 + 1
    assert all(
        0.2 < f["utilisation"] < 0.9
        for f in operational
        if f["layer"] != "transfer_stations"
        or f["town_code"] not in ("370782001", "370782002", "370782003", "370782400")
    )


def test_indicators_change_when_the_data_changes(empty_engine):
    from service.demo import loader
    from tests.conftest import DEMO_DIR

    loader.load(empty_engine, DEMO_DIR)
    with empty_engine.begin() as conn:
        conn.execute(text("UPDATE transfer_stations SET status = 'suspended' WHERE code = 'TS-370782101'"))
        conn.execute(
            text("UPDATE villages SET toilets_rebuilt = toilets_rebuilt - 10 WHERE code LIKE '370782101%'")
        )
    with empty_engine.connect() as conn, conn.begin():
        flows.compute(conn)
        figures = indicators.compute(conn)
        found = integrity.check(conn)
    town = next(t for t in figures["towns"] if t["code"] == "370782101")
    assert town["villages_waste_connected"] == 0
    assert figures["city"]["villages_waste_connected"] == 1249 - town["villages"]
    assert figures["city"]["toilets_rebuilt"] == 232_871 - 10 * town["villages"]
    assert {f.rule for f in found if f.severity == "error"} == {"inactive_target"}


def test_get_indicators_json_city_and_town(client):
    body = client.get("/indicators").json()
    assert body["city"]["villages"] == 1249 and body["city"]["toilets_rebuilt"] == 232_871
    assert len(body["towns"]) == 14
    town = client.get("/indicators", params={"town": "370782101"}).json()
    assert town["city"]["name"] == "枳沟镇" and [t["code"] for t in town["towns"]] == ["370782101"]


def test_indicators_html_page_for_a_browser(client):
    response = client.get("/indicators", headers={"accept": "text/html"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "232,871" in response.text and "诸城市" in response.text


def test_integrity_endpoint_and_filters(client):
    body = client.get("/chain/integrity").json()
    assert body["summary"]["errors"] == 0
    assert set(body["rules"]) >= {"source_unconnected", "cycle", "over_capacity", "link_too_long"}
    assert client.get("/chain/integrity", params={"severity": "error"}).json()["findings"] == []


def test_flows_endpoint_gives_lines_with_flows_and_lengths(client, demo_engine):
    response = client.get("/chain/flows", params={"stream": "domestic_waste", "town": "370782101"})
    assert response.status_code == 200
    features = json.loads(response.text)["features"]
    with demo_engine.connect() as conn:
        expected = conn.execute(
            text(
                "SELECT count(*) FROM chain_links l JOIN collection_points c ON c.id = l.target_id "
                "WHERE l.stream = 'domestic_waste' AND l.target_layer = 'collection_points' "
                "AND c.town_id = (SELECT id FROM towns WHERE code = '370782101')"
            )
        ).scalar()
    assert sum(1 for f in features if f["properties"]["target_layer"] == "collection_points") == expected
    station = [f for f in features if f["properties"]["source_layer"] == "transfer_stations"]
    assert len(station) == 1 and station[0]["geometry"]["type"] == "LineString"
    assert station[0]["properties"]["flow_t_per_day"] == pytest.approx(33.6956, abs=1e-3)
    assert station[0]["properties"]["length_m"] > 1000


def test_diagram_in_three_formats(client):
    png = client.get("/chain/diagram", params={"stream": "manure", "format": "png"})
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    svg = client.get(
        "/chain/diagram", params={"stream": "fecal_sludge", "town": "370782101", "format": "svg"}
    )
    assert svg.status_code == 200 and b"<svg" in svg.content and "枳沟镇".encode() in svg.content
    html = client.get("/chain/diagram")
    assert html.status_code == 200 and "<svg" in html.text and "诸城市生活垃圾焚烧发电厂" in html.text


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/indicators?town=370782999", 404, None),
        ("/chain/flows?town=370782999", 404, None),
        ("/chain/diagram?town=12", 400, "town"),
        ("/chain/flows?stream=rainwater", 400, "stream"),
        ("/chain/integrity?waste_kg_per_person_day=-1", 400, "waste_kg_per_person_day"),
        ("/chain/integrity?waste_kg_per_person_day=5.5", 400, "waste_kg_per_person_day"),
        ("/chain/diagram?format=pdf", 400, "format"),
        ("/chain/integrity?severity=fatal", 400, "severity"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, url, status, parameter):
    body = assert_problem(client.get(url), status)
    if parameter:
        assert body["errors"][0]["parameter"] == parameter


def test_rate_override_changes_the_figures(client):
    base = client.get("/indicators").json()["city"]["waste_generated_t_per_day"]
    doubled = client.get("/indicators", params={"waste_kg_per_person_day": 0.8}).json()["city"]
    assert doubled["waste_generated_t_per_day"] == pytest.approx(2 * base)


def test_assignment_dry_run_needs_a_planner_and_apply_an_editor_of_the_whole_city(client, app_engine):
    body = {"stream": "manure"}
    anonymous = client.post("/chain/assignments", json=body)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    dry = client.post("/chain/assignments", json=body, headers=role_headers(app_engine, "planner"))
    assert dry.status_code == 200 and dry.json() == {"proposed": [], "unassigned": [], "applied": 0}
    apply = {**body, "apply": True}
    refused = client.post("/chain/assignments", json=apply, headers=role_headers(app_engine, "planner"))
    assert refused.status_code == 403 and "assign chain" in refused.json()["detail"]
    town_clerk = role_headers(app_engine, "editor", town="370782001")
    limited = client.post("/chain/assignments", json=apply, headers=town_clerk)
    assert limited.status_code == 403 and "whole city" in limited.json()["detail"]
    wrong = client.post("/chain/assignments", json=apply, headers={"authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    ok = client.post("/chain/assignments", json=apply, headers=role_headers(app_engine, "editor"))
    assert ok.status_code == 200 and ok.json()["applied"] == 0
    unknown = client.post(
        "/chain/assignments", json={**body, "colour": "red"}, headers=role_headers(app_engine, "editor")
    )
    assert unknown.status_code == 400


def test_cli_chain_check_exit_codes(demo_database_url, empty_database_url):
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    clean = subprocess.run(
        [sys.executable, "-m", "service.cli", "chain", "check"],
        capture_output=True,
        text=True,
        env={**env, "DATABASE_URL": demo_database_url},
        timeout=120,
    )
    assert clean.returncode == 0, clean.stderr
    assert "0 error(s), 0 warning(s)" in clean.stderr
    from service.db import make_engine

    engine = make_engine(empty_database_url)
    with engine.begin() as conn:  # one village and nothing to take its waste
        worlds.one_town(conn, worlds.square(119, 36, 0.1), (119.05, 36.02), name="甲")
        worlds.village(conn, "V1", (119.05, 36.02), 100, 30, name="孤村")
    engine.dispose()
    broken = subprocess.run(
        [sys.executable, "-m", "service.cli", "chain", "check", "--json"],
        capture_output=True,
        text=True,
        env={**env, "DATABASE_URL": empty_database_url},
        timeout=120,
    )
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    assert [(f["rule"], f["code"]) for f in report["findings"]] == [("source_unconnected", "V1")]


def test_flows_requests_read_the_stored_chain_without_recomputing_it(client, monkeypatch):
    client.get("/chain/flows", params={"stream": "manure"})  # brings the stored chain up to date (D113)
    runs = []
    compute = flows.compute
    monkeypatch.setattr(flows, "compute", lambda *a, **k: runs.append(1) or compute(*a, **k))
    response = client.get("/chain/flows", params={"stream": "manure", "town": "370782101"})
    assert response.status_code == 200 and response.json()["type"] == "FeatureCollection"
    assert response.json()["features"] and runs == []
    missing = client.get("/chain/flows", params={"town": "370782999"})  # checked in the same pass
    assert missing.status_code == 404 and missing.json()["detail"] == "no town with code '370782999'"
    assert runs == []
