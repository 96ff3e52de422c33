"""`/search` (names, pinyin initials, codes across layers), `/problems` and `/chain/integrity` as pages and
as JSON, over the demo (search) and over a copy of it with known problems (tests/attention_world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from service import search
from tests.attention_world import OVERLOAD, SUSPENDED_STATION, UNCONNECTED_VILLAGE, make_problems
from tests.conftest import PgServer, demo_copy_engine

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(scope="module")
def app_engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    """The demo with one overloaded and one suspended transfer station."""
    with demo_copy_engine(pg_server, migrated_template, "attention") as engine:
        yield engine


def _code_of(engine: Engine, table: str, name: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text(f"SELECT code FROM {table} WHERE name = :n"), {"n": name}).scalar_one())


def _name_of(client, code: str) -> str:
    return str(client.get("/search", params={"q": code, "limit": 1}).json()["hits"][0]["name"])


def test_a_facility_found_by_its_full_name_comes_first_with_its_map_link(client, app_engine):
    body = client.get("/search", params={"q": "诸城市生活垃圾焚烧发电厂（二期）"}).json()
    first = body["hits"][0]
    assert first["code"] == _code_of(app_engine, "treatment_plants", "诸城市生活垃圾焚烧发电厂（二期）")
    assert first["layer"] == "treatment_plants" and first["match"] == "name"
    assert first["town"]["name"] == "龙都街道"
    assert first["href"].endswith(f"/maps/facilities/treatment_plants/{first['id']}")
    assert client.get(first["href"]).status_code == 200  # the link opens the facility's map


def test_pinyin_initials_find_the_town_and_its_facilities(client):
    hits = client.get("/search", params={"q": "zgz", "limit": 5}).json()["hits"]
    assert hits[0]["layer"] == "towns" and hits[0]["name"] == "枳沟镇" and hits[0]["match"] == "initials"
    assert hits[0]["href"].endswith("/maps/towns/370782101")
    assert {"MC-01", "TS-370782101"} <= {h["code"] for h in hits}
    assert all(h["match"] == "initials" for h in hits)


def test_a_code_finds_its_feature_exactly_and_a_code_prefix_finds_the_town_s_villages(client, app_engine):
    exact = client.get("/search", params={"q": "ts-370782101"}).json()["hits"]
    assert (exact[0]["code"], exact[0]["match"]) == ("TS-370782101", "code")
    hits = client.get("/search", params={"q": "370782101", "limit": 50}).json()["hits"]
    assert hits[0]["layer"] == "towns"
    villages = [h for h in hits if h["layer"] == "villages"]
    assert villages and all(h["code"].startswith("370782101") for h in villages)
    assert all(h["town"]["code"] == "370782101" for h in villages)


def test_english_names_with_lang_en(client):
    hits = client.get("/search", params={"q": "枳沟镇", "lang": "en", "limit": 1}).json()["hits"]
    assert hits[0]["name"] == "Zhigou Town" and hits[0]["href"].endswith("/maps/towns/370782101?lang=en")
    by_english = client.get("/search", params={"q": "zhigou", "lang": "en"}).json()["hits"]
    assert by_english[0]["code"] == "370782101"


def test_like_wildcards_are_text_not_patterns(client):
    assert client.get("/search", params={"q": "%"}).json() == {"query": "%", "count": 0, "hits": []}
    assert client.get("/search", params={"q": "_"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"q": "  "}, "q"),
        ({"q": "x" * 51}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"q": "zc", "limit": 0}, "limit"),
        ({}, "q"),
        ({"q": "zc", "lang": "fr"}, "lang"),
    ],
)
def test_bad_search_input_is_a_400_naming_the_parameter(client, params, parameter):
    r = client.get("/search", params=params)
    assert r.status_code == 400 and r.json()["parameter"] == parameter, r.text


def test_search_answers_a_page_to_a_browser(client):
    r = client.get("/search", params={"q": "枳沟"}, headers=HTML)
    assert r.headers["content-type"].startswith("text/html")
    assert "枳沟镇垃圾压缩中转站" in r.text and 'class="sc-nav' in r.text


def test_town_picker_lists_every_town_with_its_map(client, app_engine):
    towns = client.get("/search/towns").json()["towns"]
    with app_engine.connect() as conn:
        codes = [c for (c,) in conn.execute(text("SELECT code FROM towns ORDER BY code"))]
    assert [t["code"] for t in towns] == codes and len(codes) == 14
    assert all(t["href"].endswith(f"/maps/towns/{t['code']}") for t in towns)


@pytest.fixture(scope="module")
def overloaded(app_engine):
    return make_problems(app_engine)


def test_problems_list_the_overloaded_station_first_with_its_independent_load(client, overloaded):
    body = client.get("/problems").json()
    first = body["problems"][0]
    assert (first["kind"], first["code"], first["name"]) == ("overloaded", overloaded.code, overloaded.name)
    assert first["numbers"]["inflow_t_per_day"] == pytest.approx(overloaded.inflow_t_per_day, rel=1e-6)
    assert first["numbers"]["utilisation"] == pytest.approx(OVERLOAD, rel=1e-3)
    assert first["map"].endswith(f"/maps/facilities/transfer_stations/{overloaded.id}")
    assert body["summary"]["by_kind"]["overloaded"] == 1
    assert body["summary"]["total"] == len(body["problems"])


def test_a_suspended_station_still_receiving_flows_is_a_problem(client, overloaded):
    body = client.get("/problems").json()
    inactive = [p for p in body["problems"] if p["kind"] == "inactive_with_flows"]
    assert {p["code"] for p in inactive} == {SUSPENDED_STATION}
    assert all(p["numbers"]["status"] == "suspended" and p["numbers"]["t_per_day"] > 0 for p in inactive)


def test_a_village_without_its_waste_link_is_unconnected(client, overloaded):
    body = client.get("/problems").json()
    unconnected = [p for p in body["problems"] if p["kind"] == "unconnected"]
    assert [(p["layer"], p["code"], p["stream"]) for p in unconnected] == [
        ("villages", UNCONNECTED_VILLAGE, "domestic_waste")
    ]
    assert unconnected[0]["map"].endswith(f"/maps/facilities/villages/{unconnected[0]['id']}")
    assert body["summary"]["by_kind"] == {
        "overloaded": 1,
        "near_capacity": 0,
        "inactive_with_flows": 1,
        "unconnected": 1,
        "integrity": 1,
    }
    # its collection point now receives nothing: an integrity finding of its own
    (unfed,) = [p for p in body["problems"] if p["kind"] == "integrity"]
    assert (unfed["rule"], unfed["layer"], unfed["code"]) == (
        "facility_unfed",
        "collection_points",
        "CP-" + UNCONNECTED_VILLAGE,
    )


def test_problems_page_for_a_browser_links_each_problem_to_its_map(client, overloaded):
    r = client.get("/problems", headers=HTML)
    assert r.headers["content-type"].startswith("text/html")
    assert f"/maps/facilities/transfer_stations/{overloaded.id}" in r.text
    assert overloaded.name in r.text and "超负荷设施" in r.text
    assert "的 200%" in r.text and "吨/日生活垃圾无去向" in r.text  # the problems in Chinese
    assert "Overloaded facilities" in client.get("/problems", params={"lang": "en", "f": "html"}).text


def test_integrity_is_a_page_for_a_browser_and_json_otherwise(client, overloaded):
    page = client.get("/chain/integrity", headers=HTML)
    assert page.headers["content-type"].startswith("text/html")
    suspended = _name_of(client, SUSPENDED_STATION)
    assert "inactive_target" in page.text and f">{suspended}</a>" in page.text  # linked to its map
    body = client.get("/chain/integrity").json()
    assert body["summary"]["by_rule"]["inactive_target"] >= 1
    assert client.get("/chain/integrity", params={"f": "json"}, headers=HTML).json() == body
    assert client.get("/chain/integrity", params={"f": "xml"}).status_code == 400


def test_the_integrity_page_speaks_the_readers_language(client, app_engine, overloaded):
    zh = client.get("/chain/integrity", headers=HTML).text
    assert "<title>完整性检查</title>" in zh
    assert "送往非运行设施" in zh and "超负荷" in zh  # rule names
    assert "吨/日" in zh and "的 200%" in zh  # findings worded in Chinese, as on /problems
    en = client.get("/chain/integrity", params={"lang": "en"}, headers=HTML).text
    assert "<title>Integrity report</title>" in en and "inactive target" in en and "over capacity" in en
    assert "of its capacity of" in en and "送往非运行设施" not in en
    with app_engine.connect() as conn:
        name_en = conn.execute(
            text("SELECT name_en FROM transfer_stations WHERE code = :c"), {"c": SUSPENDED_STATION}
        ).scalar_one()
    assert name_en and f">{name_en}</a>" in en  # the feature's English name, linked to its map


def test_exports_page_links_every_layer_in_every_format(client):
    r = client.get("/exports")
    assert 'href="http://testserver/export/villages.csv"' in r.text
    assert 'href="http://testserver/export/chain_links.gpkg"' in r.text


def test_initials_read_from_the_json_file_are_the_packages_own_table():
    """search reads pypinyin's JSON file without importing the package (D112): the same readings."""
    from pypinyin.constants import PINYIN_DICT

    assert {int(k): v for k, v in search._readings().items()} == PINYIN_DICT
    assert "枳" in search.characters_by_initial()["z"] and "沟" in search.characters_by_initial()["g"]
