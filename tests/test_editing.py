"""Editing features through the API and the store: versions and ETags, If-Match (428/412), history,
restore and undelete, town-limited editors, references, batches all or nothing, the command line.

Each test has a database of its own (two towns side by side, built by tests/worlds.py), so the shared
demo stays as it is. Every refused request is followed by a check that nothing changed: the rows of
every layer, their versions, the history and the audit entries of writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service import cli
from service.accounts.audit import Actor
from service.api.app import create_app
from service.db import make_engine
from service.editing import store
from service.editing.fields import EDITABLE_LAYERS
from service.errors import PreconditionFailed
from tests import worlds
from tests.accounts import role_headers
from tests.problems import assert_problem

TOWN_A, TOWN_B = "370782101", "370782102"
IN_A, IN_B = (119.06, 36.06), (119.16, 36.06)
ITEMS = "/collections/transfer_stations/items"


def build(conn: Any) -> None:
    """Two towns side by side (A: 119.0–119.1, B: 119.1–119.2), a village and a station in each, A's
    village with a collection point linked to A's station."""
    worlds.city(conn, worlds.square(119, 36, 0.2))
    worlds.town(conn, worlds.square(119, 36, 0.1), code=TOWN_A, name="甲镇")
    worlds.town(conn, worlds.square(119.1, 36, 0.1), code=TOWN_B, name="乙镇")
    worlds.community(conn, (119.05, 36.05), town_id=1, code="370782101201")
    worlds.community(conn, (119.15, 36.05), town_id=2, code="370782102201")
    va = worlds.village(conn, "VA", (119.05, 36.05), 900, town_id=1, community_id=1)
    worlds.village(conn, "VB", (119.15, 36.05), 600, town_id=2, community_id=2)
    cpa = worlds.facility(conn, "collection_points", "CPA", (119.051, 36.051), name="甲收集点", village_id=va)
    sa = worlds.facility(conn, "transfer_stations", "SA", IN_A, name="甲中转站", capacity=10, town_id=1)
    worlds.facility(conn, "transfer_stations", "SB", IN_B, name="乙中转站", capacity=20, town_id=2)
    worlds.link(conn, "domestic_waste", ("villages", va), ("collection_points", cpa))
    worlds.link(conn, "domestic_waste", ("collection_points", cpa), ("transfer_stations", sa))


@pytest.fixture
def engine(database_factory, migrated_template) -> Iterator[Engine]:
    made = make_engine(database_factory(migrated_template))
    with made.begin() as conn:
        build(conn)
    yield made
    made.dispose()


@pytest.fixture
def api(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as c:
        yield c


def state(engine: Engine) -> dict[str, Any]:
    """Everything an edit could change: every layer's rows (content and versions), the history, and
    the audit entries of feature writes."""
    with engine.connect() as conn:
        found: dict[str, Any] = {
            layer: tuple(
                conn.execute(
                    text(
                        f"SELECT count(*), coalesce(sum(version), 0), "
                        f"md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM {layer} t"
                    )
                ).one()
            )
            for layer in EDITABLE_LAYERS
        }
        found["history"] = conn.execute(text("SELECT count(*) FROM feature_history")).scalar()
        found["audit"] = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action LIKE 'feature.%'")
        ).scalar()
    return found


def station(name: str, at: tuple[float, float], capacity: float = 12, **more: Any) -> dict[str, Any]:
    props = {"code": name, "name": f"{name}站", "capacity": capacity, "capacity_unit": "t/d", **more}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(at)}, "properties": props}


def history_rows(engine: Engine, layer: str, fid: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT version, operation, user_name FROM feature_history "
                "WHERE layer = :l AND feature_id = :i ORDER BY version"
            ),
            {"l": layer, "i": fid},
        ).all()


def test_create_answers_201_with_location_and_etag_and_the_feature_reads_back_with_its_derived_town(
    api, engine
):
    editor = role_headers(engine, "editor")
    made = api.post(ITEMS, json=station("SN", (119.07, 36.02)), headers=editor)
    assert made.status_code == 201, made.text
    assert made.headers["etag"] == '"1"'
    location = made.headers["location"]
    assert location.endswith(f"{ITEMS}/{made.json()['id']}")
    props = made.json()["properties"]
    assert (
        props["town_code"] == TOWN_A
        and props["version"] == 1
        and props["station_class"] == "collection_station"
    )
    read = api.get(location.removeprefix("http://testserver"))
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    assert read.json()["properties"]["code"] == "SN" and read.json()["geometry"]["coordinates"] == [
        119.07,
        36.02,
    ]
    assert [tuple(r) for r in history_rows(engine, "transfer_stations", made.json()["id"])] == [
        (1, "create", "test-editor")
    ]
    with engine.connect() as conn:
        entry = conn.execute(
            text(
                "SELECT action, layer, target_id, user_name, after FROM audit_log "
                "WHERE action = 'feature.create'"
            )
        ).one()
    assert entry[:4] == ("feature.create", "transfer_stations", str(made.json()["id"]), "test-editor")
    assert entry.after["properties"]["code"] == "SN"


def test_a_town_given_in_the_body_is_refused_the_database_derives_it(api, engine):
    before = state(engine)
    refused = api.post(
        ITEMS, json=station("SX", IN_A, town_code=TOWN_B), headers=role_headers(engine, "editor")
    )
    body = assert_problem(refused, 422)
    (error,) = body["errors"]
    assert error["field"] == "properties.town_code"
    assert error["message"].startswith("read-only: derived by the database")
    patched = api.patch(
        f"{ITEMS}/1",
        json={"properties": {"station_class": "large"}},
        headers={**role_headers(engine, "editor"), "If-Match": '"1"'},
    )
    assert_problem(patched, 422)
    assert state(engine) == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_without_if_match_are_428_stale_ones_412_and_the_right_one_moves_the_version(
    api, engine, method
):
    editor = role_headers(engine, "editor")
    url = f"{ITEMS}/2"  # SB: nothing refers to it, so it may be deleted
    body = {"json": station("SB", IN_B, capacity=40)} if method == "put" else {}
    if method == "patch":
        body = {"json": {"properties": {"capacity": 40}}}
    before = state(engine)
    assert_problem(api.request(method.upper(), url, headers=editor, **body), 428, None, "If-Match")
    assert_problem(api.request(method.upper(), url, headers={**editor, "If-Match": "*"}, **body), 428)
    stale = api.request(method.upper(), url, headers={**editor, "If-Match": '"7"'}, **body)
    assert assert_problem(stale, 412)["current_version"] == 1
    assert_problem(
        api.request(method.upper(), url, headers={**editor, "If-Match": "3"}, **body), 400, "If-Match"
    )
    assert state(engine) == before
    done = api.request(method.upper(), url, headers={**editor, "If-Match": '"1"'}, **body)
    if method == "delete":
        assert done.status_code == 204 and done.content == b""
        assert api.get(url).status_code == 404
        assert [r.operation for r in history_rows(engine, "transfer_stations", 2)] == ["delete"]
        return
    assert done.status_code == 200, done.text
    assert done.headers["etag"] == '"2"' and done.json()["properties"]["version"] == 2
    assert (
        done.json()["properties"]["capacity"] == 40 and done.json()["properties"]["station_class"] == "small"
    )
    assert api.get(url).headers["etag"] == '"2"'
    assert [r.operation for r in history_rows(engine, "transfer_stations", 2)] == ["update"]


def test_put_replaces_the_whole_feature_so_what_it_leaves_out_goes_back_to_its_default(api, engine):
    editor = {**role_headers(engine, "editor"), "If-Match": '"1"'}
    first = api.patch(
        f"{ITEMS}/1", json={"properties": {"operator": "环卫所", "campaign": "2018-2020"}}, headers=editor
    )
    assert first.status_code == 200 and first.json()["properties"]["operator"] == "环卫所"
    replaced = api.put(
        f"{ITEMS}/1", json=station("SA", IN_A, capacity=10), headers={**editor, "If-Match": '"2"'}
    )
    assert replaced.status_code == 200, replaced.text
    props = replaced.json()["properties"]
    assert props["operator"] is None and props["campaign"] is None and props["name"] == "SA站"
    assert props["compression"] is True and props["status"] == "operational"  # server defaults


def test_merge_patch_null_clears_a_property_and_an_unchanged_patch_keeps_the_version(api, engine):
    editor = {**role_headers(engine, "editor"), "If-Match": '"1"'}
    same = api.patch(f"{ITEMS}/1", json={"properties": {"capacity": 10}}, headers=editor)
    assert same.status_code == 200 and same.headers["etag"] == '"1"'
    assert history_rows(engine, "transfer_stations", 1) == []
    cleared = api.patch(
        f"{ITEMS}/1",
        json={"properties": {"capacity": None}},
        headers={**editor, "content-type": "application/merge-patch+json"},
    )
    assert cleared.status_code == 200 and cleared.headers["etag"] == '"2"'
    assert (
        cleared.json()["properties"]["capacity"] is None
        and cleared.json()["properties"]["name"] == "甲中转站"
    )


def test_a_town_limited_editor_edits_only_in_their_town_and_cannot_move_a_facility_out(api, engine):
    clerk = role_headers(engine, "editor", town=TOWN_A)
    own = api.patch(f"{ITEMS}/1", json={"properties": {"capacity": 11}}, headers={**clerk, "If-Match": '"1"'})
    assert own.status_code == 200, own.text
    before = state(engine)
    other = api.patch(
        f"{ITEMS}/2", json={"properties": {"capacity": 21}}, headers={**clerk, "If-Match": '"1"'}
    )
    assert TOWN_B in assert_problem(other, 403)["detail"]
    moved = api.patch(
        f"{ITEMS}/1",
        json={"geometry": {"type": "Point", "coordinates": list(IN_B)}},
        headers={**clerk, "If-Match": '"2"'},
    )
    assert TOWN_B in assert_problem(moved, 403)["detail"]
    created = api.post(ITEMS, json=station("SZ", IN_B), headers=clerk)
    assert_problem(created, 403)
    gone = api.delete(f"{ITEMS}/2", headers={**clerk, "If-Match": '"1"'})
    assert_problem(gone, 403)
    assert state(engine) == before
    # a city-wide editor moves it, and the database derives the new town
    moved = api.patch(
        f"{ITEMS}/1",
        json={"geometry": {"type": "Point", "coordinates": list(IN_B)}},
        headers={**role_headers(engine, "editor"), "If-Match": '"2"'},
    )
    assert moved.status_code == 200 and moved.json()["properties"]["town_code"] == TOWN_B


def test_other_roles_and_anonymous_callers_cannot_edit(api, engine):
    before = state(engine)
    assert_problem(api.post(ITEMS, json=station("SY", IN_A)), 401)
    for role in ("viewer", "inspector", "planner"):
        assert_problem(api.post(ITEMS, json=station("SY", IN_A), headers=role_headers(engine, role)), 403)
    assert state(engine) == before
    assert api.post(ITEMS, json=station("SY", IN_A), headers=role_headers(engine, "admin")).status_code == 201


def test_history_lists_who_when_and_before_after_newest_first_for_signed_in_users_only(api, engine):
    editor = role_headers(engine, "editor")
    api.patch(f"{ITEMS}/1", json={"properties": {"capacity": 30}}, headers={**editor, "If-Match": '"1"'})
    api.patch(
        f"{ITEMS}/1",
        json={"properties": {"capacity": 500}},
        headers={**role_headers(engine, "admin"), "If-Match": '"2"'},
    )
    assert_problem(api.get(f"{ITEMS}/1/history"), 401)
    listed = api.get(f"{ITEMS}/1/history", headers=role_headers(engine, "viewer"))
    assert listed.status_code == 200, listed.text
    versions = listed.json()["versions"]
    assert [(v["version"], v["operation"], v["user"]) for v in versions] == [
        (3, "update", "test-admin"),
        (2, "update", "test-editor"),
    ]
    assert (
        versions[0]["before"]["properties"]["capacity"] == 30
        and versions[0]["after"]["properties"]["capacity"] == 500
    )
    assert versions[1]["before"]["properties"]["capacity"] == 10
    assert versions[0]["after"]["properties"]["station_class"] == "large"
    assert versions[0]["at"] > versions[1]["at"]
    assert_problem(api.get(f"{ITEMS}/99/history", headers=editor), 404)
    assert_problem(api.get(f"{ITEMS}/1/history?limit=3", headers=editor), 400, "limit")


def test_restore_brings_back_an_earlier_version_even_one_from_before_editing_began(api, engine):
    editor = role_headers(engine, "editor")
    api.patch(
        f"{ITEMS}/1",
        json={"properties": {"capacity": 30, "operator": "甲"}},
        headers={**editor, "If-Match": '"1"'},
    )
    api.patch(f"{ITEMS}/1", json={"properties": {"capacity": 60}}, headers={**editor, "If-Match": '"2"'})
    before = state(engine)
    assert_problem(api.post(f"{ITEMS}/1/history/1/restore", headers=editor), 428)
    assert_problem(api.post(f"{ITEMS}/1/history/1/restore", headers={**editor, "If-Match": '"2"'}), 412)
    assert_problem(api.post(f"{ITEMS}/1/history/9/restore", headers={**editor, "If-Match": '"3"'}), 404)
    assert state(engine) == before
    back = api.post(f"{ITEMS}/1/history/1/restore", headers={**editor, "If-Match": '"3"'})
    assert back.status_code == 200, back.text
    props = back.json()["properties"]
    assert (props["capacity"], props["operator"], props["version"]) == (10, None, 4)
    again = api.post(f"{ITEMS}/1/history/2/restore", headers={**editor, "If-Match": '"4"'})
    assert again.json()["properties"]["capacity"] == 30 and again.headers["etag"] == '"5"'
    assert [r.operation for r in history_rows(engine, "transfer_stations", 1)] == [
        "update",
        "update",
        "restore",
        "restore",
    ]


def test_delete_then_restore_brings_the_feature_back_with_its_id(api, engine):
    editor = role_headers(engine, "editor")
    gone = api.delete(f"{ITEMS}/2", headers={**editor, "If-Match": '"1"'})
    assert gone.status_code == 204
    assert api.get(f"{ITEMS}/2").status_code == 404
    history = api.get(f"{ITEMS}/2/history", headers=editor).json()["versions"]
    assert [(v["version"], v["operation"], v["after"]) for v in history] == [(2, "delete", None)]
    assert_problem(api.post(f"{ITEMS}/2/history/2/restore", headers=editor), 409, None, "deletion")
    back = api.post(f"{ITEMS}/2/history/1/restore", headers=editor)
    assert back.status_code == 200, back.text
    assert back.json()["id"] == 2 and back.headers["etag"] == '"3"'
    read = api.get(f"{ITEMS}/2").json()
    assert read["properties"]["code"] == "SB" and read["properties"]["town_code"] == TOWN_B
    with engine.connect() as conn:
        actions = (
            conn.execute(
                text(
                    "SELECT action FROM audit_log "
                    "WHERE layer = 'transfer_stations' AND target_id = '2' ORDER BY id"
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["feature.delete", "feature.restore"]


def test_deleting_a_referenced_feature_is_a_409_naming_what_refers_to_it(api, engine):
    editor = role_headers(engine, "editor")
    before = state(engine)
    village = api.delete("/collections/villages/items/1", headers={**editor, "If-Match": '"1"'})
    body = assert_problem(village, 409, None, "collection_points", "chain_links")
    assert {(r["layer"], r["count"]) for r in body["references"]} == {
        ("collection_points", 1),
        ("chain_links", 1),
    }
    station_ = api.delete(f"{ITEMS}/1", headers={**editor, "If-Match": '"1"'})
    assert_problem(station_, 409, None, "chain_links")
    town = api.delete("/collections/towns/items/2", headers={**editor, "If-Match": '"1"'})
    assert_problem(town, 409, None, "villages")
    assert state(engine) == before


def test_bodies_that_are_not_a_feature_are_4xx_never_5xx(api, engine):
    editor = role_headers(engine, "editor")
    before = state(engine)
    raw = {"headers": {**editor, "content-type": "application/json"}}
    assert_problem(api.post(ITEMS, content=b"{not json", **raw), 400, "body")
    assert_problem(api.post(ITEMS, content=b"[1, 2]", **raw), 400, "body")
    assert_problem(api.post(ITEMS, content=b"\xff\xfe", **raw), 400, "body")
    assert_problem(api.post(ITEMS, content=b"{}", headers={**editor, "content-type": "text/plain"}), 415)
    huge = b'{"type": "Feature", "properties": {"name": "' + b"x" * 10_000_000 + b'"}}'
    assert_problem(api.post(ITEMS, content=huge, **raw), 413)
    assert_problem(
        api.post(ITEMS, json={"type": "Feature", "properties": []}, headers=editor), 400, "properties"
    )
    assert_problem(
        api.post(
            ITEMS,
            json={
                **station("SQ", IN_A),
                "geometry": {"type": "LineString", "coordinates": [[119, 36], [119.01, 36]]},
            },
            headers=editor,
        ),
        422,
    )
    nested = station("SQ", IN_A, operator={"a": 1})
    assert_problem(api.post(ITEMS, json=nested, headers=editor), 422)
    wrong_type = station("SQ", IN_A, compression="sometimes")
    assert_problem(api.post(ITEMS, json=wrong_type, headers=editor), 422)
    taken = station("SA", IN_A)
    # a taken code is the validator's finding, by field, like every other (the unique index stays the
    # guard against a race, answered 409)
    duplicate = assert_problem(api.post(ITEMS, json=taken, headers=editor), 422)
    assert duplicate["errors"][0]["field"] == "properties.code"
    nowhere = station("SQ", (118.5, 36.05))
    assert_problem(api.post(ITEMS, json=nowhere, headers=editor), 422)
    assert_problem(api.post(f"{ITEMS}?capacity=3", json=station("SQ", IN_A), headers=editor), 400, "capacity")
    assert_problem(
        api.request("DELETE", f"{ITEMS}/2", json={}, headers={**editor, "If-Match": '"1"'}), 400, "body"
    )
    assert_problem(api.patch(f"{ITEMS}/x1", json={"properties": {}}, headers=editor), 404)
    assert_problem(api.post("/collections/nowhere/items", json=station("SQ", IN_A), headers=editor), 404)
    assert state(engine) == before


def test_a_dry_run_answers_what_would_be_stored_and_keeps_nothing(api, engine):
    editor = {**role_headers(engine, "editor"), "If-Match": '"1"'}
    before = state(engine)
    tried = api.patch(f"{ITEMS}/1?dry-run=true", json={"properties": {"capacity": 200}}, headers=editor)
    assert tried.status_code == 200, tried.text
    assert tried.json()["dry_run"] is True
    assert tried.json()["feature"]["properties"]["capacity"] == 200
    assert "consequences" in tried.json()
    made = api.post(f"{ITEMS}?dry-run=true", json=station("SD", IN_A), headers=editor)
    assert made.status_code == 200 and made.json()["feature"]["properties"]["code"] == "SD"
    assert state(engine) == before


def test_the_database_moves_the_version_only_when_a_row_really_changes(engine):
    with engine.begin() as conn:
        conn.execute(text("UPDATE transfer_stations SET capacity = capacity, name = name"))
        conn.execute(text("UPDATE chain_links SET note = note"))
        unchanged = conn.execute(
            text("SELECT array_agg(version ORDER BY id) FROM transfer_stations")
        ).scalar()
        conn.execute(text("UPDATE transfer_stations SET capacity = 300, version = 99 WHERE id = 1"))
        changed = conn.execute(
            text("SELECT version, station_class FROM transfer_stations WHERE id = 1")
        ).one()
        # moving the collection point redraws its links' lines: their version follows
        conn.execute(
            text("UPDATE collection_points SET geom = ST_SetSRID(ST_MakePoint(119.052, 36.052), 4326)")
        )
        links = conn.execute(text("SELECT array_agg(version ORDER BY id) FROM chain_links")).scalar()
    assert unchanged == [1, 1]
    assert tuple(changed) == (2, "medium")
    assert links == [2, 2]


def test_a_batch_failing_midway_writes_nothing_store_and_command_line(
    engine, tmp_path: Path, monkeypatch, capsys
):
    before = state(engine)
    operations = [
        store.Operation("update", "transfer_stations", 1, {"properties": {"capacity": 55}}, (1,)),
        store.Operation("create", "transfer_stations", feature=station("SC", IN_A)),
        store.Operation("update", "transfer_stations", 2, {"properties": {"capacity": 5}}, (4,)),
    ]
    with pytest.raises(PreconditionFailed), engine.begin() as conn:
        store.apply(conn, operations, Actor(user_name="tester"))
    assert state(engine) == before
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    edits = [
        {
            "op": "update",
            "layer": "transfer_stations",
            "id": 1,
            "version": 1,
            "feature": {"properties": {"capacity": 55}},
        },
        {"op": "create", "layer": "transfer_stations", "feature": station("SC", IN_A)},
        {"op": "delete", "layer": "villages", "id": 1, "version": 1},
    ]
    path = tmp_path / "edits.json"
    path.write_text(json.dumps(edits), encoding="utf-8")
    assert cli.main(["edit", str(path)]) == 1
    err = capsys.readouterr().err
    assert "operation 2 (delete villages)" in err and "referenced" in err and "nothing written" in err
    assert state(engine) == before
    assert cli.main(["edit", str(path.with_name("missing.json"))]) == 1
    assert state(engine) == before


def test_the_command_line_applies_a_file_of_edits_as_the_os_user(engine, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setattr("getpass.getuser", lambda: "operator")
    edits = [
        {
            "op": "update",
            "layer": "transfer_stations",
            "id": 1,
            "version": 1,
            "feature": {"properties": {"capacity": 55}},
        },
        {"op": "create", "layer": "transfer_stations", "feature": station("SC", IN_A)},
        {"op": "delete", "layer": "transfer_stations", "id": 2, "version": 1},
    ]
    path = tmp_path / "edits.json"
    path.write_text(json.dumps(edits), encoding="utf-8")
    before = state(engine)
    assert cli.main(["edit", str(path), "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert state(engine) == before
    assert cli.main(["edit", str(path)]) == 0
    out = capsys.readouterr().out
    assert "0\ttransfer_stations\t1\tversion 2" in out and "2\ttransfer_stations\t2\tdeleted" in out
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, capacity FROM transfer_stations ORDER BY id")).all()
        who = set(conn.execute(text("SELECT user_name FROM feature_history")).scalars())
        audited = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE user_name = 'cli:operator'")
        ).scalar()
    assert [(r.code, float(r.capacity)) for r in rows] == [("SA", 55.0), ("SC", 12.0)]
    assert who == {"cli:operator"} and audited == 3
