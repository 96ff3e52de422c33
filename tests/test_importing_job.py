"""Importing a city's files into the inventory, all or nothing: counts, row numbers, messages and
stored values, for each dirty case a real file has. Every file is written here, in the test.

Each test has a database of its own: a city of two towns side by side (A: 119.0–119.1°E, B:
119.1–119.2°E, both 36.0–36.1°N), a village in each and two farms in A.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from pyproj import Geod, Transformer
from sqlalchemy import Engine, text

from service.accounts.audit import Actor
from service.accounts.tokens import Principal
from service.editing.fields import EDITABLE_LAYERS
from service.errors import BadParameter
from service.features.errors import UnknownLayer
from service.importing import coordinates
from service.importing.job import ImportRequest, Progress, run_import
from service.importing.report import Report
from service.importing.rows import Options
from tests import worlds

TOWN_A, TOWN_B = "370782101", "370782102"
ACTOR = Actor(user_name="clerk", route="test import")
GEOD = Geod(ellps="WGS84")
HEADER = "编码,名称,畜种,存栏(头),处理能力(吨/日),经度,纬度,状态\n"


def build(conn: Any) -> None:
    worlds.city(conn, worlds.square(119, 36, 0.2), name_en="Test City")
    worlds.town(conn, worlds.square(119, 36, 0.1), code=TOWN_A, name="甲镇")
    worlds.town(conn, worlds.square(119.1, 36, 0.1), code=TOWN_B, name="乙镇")
    worlds.community(conn, (119.05, 36.05), town_id=1, code="370782101201")
    worlds.community(conn, (119.15, 36.05), town_id=2, code="370782102201")
    worlds.village(conn, "VA", (119.05, 36.05), 900, town_id=1, community_id=1)
    worlds.village(conn, "VB", (119.15, 36.05), 600, town_id=2, community_id=2)
    worlds.farm(conn, "LF-OLD1", (119.03, 36.03), "pig", 800, capacity=5, capacity_unit="t/d")
    worlds.farm(conn, "LF-OLD2", (119.04, 36.04), "dairy", 150, capacity=3, capacity_unit="t/d")


@pytest.fixture
def engine(database_factory, migrated_template) -> Iterator[Engine]:
    from service.db import make_engine

    made = make_engine(database_factory(migrated_template))
    with made.begin() as conn:
        build(conn)
    yield made
    made.dispose()


def state(engine: Engine) -> dict[str, Any]:
    """Everything an import could change: every layer's rows and versions, history, feature audits."""
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


def farms(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT f.code, f.name, f.species, f.head_count, f.capacity, f.capacity_unit, f.status,
                          f.version, t.code AS town, ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat
                   FROM livestock_farms f LEFT JOIN towns t ON t.id = f.town_id"""
            )
        ).mappings()
        return {r["code"]: dict(r) for r in rows}


def csv_file(path: Path, body: str, encoding: str = "utf-8", header: str = HEADER) -> Path:
    path.write_bytes((header + body).encode(encoding))
    return path


def run(engine: Engine, path: Path, **request: Any) -> Report:
    options = request.pop("options", Options())
    return run_import(engine, ImportRequest("livestock_farms", path, options, **request), ACTOR)


def rejected(report: Report) -> list[tuple[int, str | None, str]]:
    return [(p.row, p.column, p.problem) for p in report.rejected.items]


# -- the write path ----------------------------------------------------------------------------------


def test_a_gbk_csv_with_chinese_headers_creates_every_farm_with_its_town_history_and_one_import_audit(
    engine, tmp_path
):
    path = csv_file(
        tmp_path / "养殖场.csv",
        "LF-101,王家庄生猪养殖场,生猪,1.2万头,3.5,119.061,36.021,运行\n"
        "LF-102,鑫旺奶牛场（二期）,奶牛,850,12,119.151,36.052,在建\n",
        encoding="gbk",
    )
    seen: list[Progress] = []
    report = run_import(engine, ImportRequest("livestock_farms", path), ACTOR, progress=seen.append)
    s = report.summary
    assert (s.rows_read, s.created, s.updated, s.unchanged, s.rejected, s.written) == (2, 2, 0, 0, 0, True)
    assert (s.format, s.encoding, s.file_name) == ("csv", "gb18030", "养殖场.csv")
    stored = farms(engine)
    assert stored["LF-101"] | {"capacity": float(stored["LF-101"]["capacity"])} == {
        "code": "LF-101", "name": "王家庄生猪养殖场", "species": "pig", "head_count": 12000, "capacity": 3.5,
        "capacity_unit": "t/d", "status": "operational", "version": 1, "town": TOWN_A,
        "lon": 119.061, "lat": 36.021,
    }  # fmt: skip
    assert stored["LF-102"]["name"] == "鑫旺奶牛场（二期）" and stored["LF-102"]["town"] == TOWN_B
    assert stored["LF-102"]["status"] == "under_construction"
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT code, id FROM livestock_farms WHERE code LIKE 'LF-10_'")).all())
        history = conn.execute(
            text("SELECT feature_id, operation, version, user_name, before, after FROM feature_history")
        ).all()
        audits = conn.execute(
            text(
                "SELECT action, layer, target_id, detail FROM audit_log WHERE action <> 'sign_in' ORDER BY id"
            )
        ).all()
    # D102: a create's history row leaves its after-state to the stored row; one audit entry names the ids
    assert sorted(tuple(h) for h in history) == [
        (ids["LF-101"], "create", 1, "clerk", None, None),
        (ids["LF-102"], "create", 1, "clerk", None, None),
    ]
    assert [(a.action, a.layer, a.target_id) for a in audits] == [
        ("import.run", "livestock_farms", s.import_id)
    ]
    assert audits[0].detail["created"] == 2 and audits[0].detail["file_name"] == "养殖场.csv"
    assert audits[0].detail["created_ids"] == [[ids["LF-101"], ids["LF-102"]]]
    assert next(p.stage for p in seen) == "reading" and seen[-1].stage == "done"
    assert {"checking", "writing", "chain"} <= {p.stage for p in seen}
    assert report.chain is not None and report.chain["checked"] is True


def test_one_bad_row_writes_nothing_and_the_report_names_its_row_column_and_problem(engine, tmp_path):
    path = csv_file(
        tmp_path / "farms.csv",
        "LF-101,王家庄,生猪,1200,3.5,119.061,36.021,运行\n"
        "LF-102,李家庄,生猪,-5,3.5,119.062,36.022,运行\n"
        "LF-103,赵家庄,生猪,300,3.5,119.063,36.023,运行\n",
    )
    before = state(engine)
    report = run(engine, path)
    assert state(engine) == before
    s = report.summary
    assert (s.rows_read, s.created, s.rejected, s.written) == (3, 2, 1, False)
    assert rejected(report) == [(3, "存栏(头)", "must not be negative, got -5")]
    out = tmp_path / "rejected.csv"
    report.write_rejected_csv(out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines == [
        [*HEADER.strip().split(","), "问题 problem"],
        [
            "LF-102",
            "李家庄",
            "生猪",
            "-5",
            "3.5",
            "119.062",
            "36.022",
            "运行",
            "存栏(头): must not be negative, got -5",
        ],
    ]
    report.discard()


def test_valid_rows_only_writes_the_valid_rows_and_still_reports_the_rejected_one(engine, tmp_path):
    path = csv_file(
        tmp_path / "farms.csv",
        "LF-101,王家庄,生猪,1200,3.5,119.061,36.021,运行\n"
        "LF-102,李家庄,骆驼,300,3.5,119.062,36.022,运行\n"
        "LF-103,赵家庄,生猪,300,3.5,119.063,36.023,运行\n",
    )
    report = run(engine, path, valid_rows_only=True)
    s = report.summary
    assert (s.created, s.rejected, s.written) == (2, 1, True)
    assert rejected(report) == [
        (3, "畜种", "'骆驼' is not one of pig, dairy, beef, sheep, layer, broiler"),
    ]
    assert sorted(farms(engine)) == ["LF-101", "LF-103", "LF-OLD1", "LF-OLD2"]
    report.discard()


def test_a_dry_run_reports_what_would_be_created_and_updated_and_writes_nothing(engine, tmp_path):
    path = csv_file(
        tmp_path / "farms.csv",
        "LF-OLD1,LF-OLD1场,生猪,900,5,119.03,36.03,运行\n"  # head count 800 → 900: an update
        "LF-OLD2,LF-OLD2场,奶牛,150,3,119.04,36.04,运行\n"  # as stored: unchanged
        "LF-101,王家庄,生猪,1200,3.5,119.061,36.021,运行\n",
    )
    before = state(engine)
    report = run(engine, path, upsert_by="code", dry_run=True)
    assert state(engine) == before
    s = report.summary
    assert (s.created, s.updated, s.unchanged, s.rejected, s.written, s.dry_run) == (1, 1, 1, 0, False, True)
    assert report.chain is not None and report.chain["checked"] is True


def test_reimporting_the_same_file_with_upsert_by_code_changes_nothing(engine, tmp_path):
    path = csv_file(
        tmp_path / "farms.csv",
        "LF-101,王家庄,生猪,1200,3.5,119.061,36.021,运行\nLF-102,李家庄,奶牛,300,2,119.151,36.022,在建\n",
    )
    first = run(engine, path, upsert_by="code")
    assert (first.summary.created, first.summary.written) == (2, True)
    after_first = state(engine)
    again = run(engine, path, upsert_by="code")
    s = again.summary
    assert (s.rows_read, s.created, s.updated, s.unchanged, s.rejected, s.written) == (2, 0, 0, 2, 0, True)
    assert state(engine) == after_first  # no version, no history row, no feature audit entry


def test_a_changed_row_becomes_an_update_with_history_and_audit_that_the_api_shows(engine, tmp_path):
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from tests.accounts import role_headers

    path = csv_file(tmp_path / "farms.csv", "LF-OLD1,新名字养殖场,生猪,900,5,119.03,36.03,运行\n")
    report = run(engine, path, upsert_by="code")
    s = report.summary
    assert (s.created, s.updated, s.unchanged, s.written) == (0, 1, 0, True)
    stored = farms(engine)["LF-OLD1"]
    assert (stored["name"], stored["head_count"], stored["version"]) == ("新名字养殖场", 900, 2)
    assert farms(engine)["LF-OLD2"]["version"] == 1
    with TestClient(create_app(engine)) as api:
        history = api.get(
            "/collections/livestock_farms/items/1/history", headers=role_headers(engine, "viewer")
        )
        assert history.status_code == 200, history.text
        (latest, *_) = (
            history.json()["versions"] if "versions" in history.json() else history.json()["history"]
        )
        assert (latest["version"], latest["operation"], latest["user"]) == (2, "update", "clerk")
        assert latest["before"]["properties"]["head_count"] == 800
        assert latest["after"]["properties"]["head_count"] == 900
        audit = api.get(
            "/audit?action=feature.update&layer=livestock_farms", headers=role_headers(engine, "admin")
        )
        assert audit.status_code == 200, audit.text
        (entry,) = audit.json()["entries"]
        assert entry["target_id"] == "1" and entry["user_name"] == "clerk"
        assert entry["detail"] == {"version": 2, "import": {"id": s.import_id, "file": "farms.csv"}}


def test_an_imported_creation_shows_its_after_state_in_the_history_api_before_and_after_its_first_edit(
    engine, tmp_path
):
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from service.editing import history
    from tests.accounts import role_headers

    first = run(engine, csv_file(tmp_path / "a.csv", "LF-301,新建养殖场,生猪,700,5,119.02,36.02,运行\n"))
    assert first.summary.created == 1
    with engine.connect() as conn:
        farm_id = conn.execute(text("SELECT id FROM livestock_farms WHERE code = 'LF-301'")).scalar_one()
    url = f"/collections/livestock_farms/items/{farm_id}/history"
    with TestClient(create_app(engine)) as api:
        viewer, admin = role_headers(engine, "viewer"), role_headers(engine, "admin")
        (created,) = api.get(url, headers=viewer).json()["versions"]
        assert (created["version"], created["operation"], created["user"], created["before"]) == (
            1, "create", "clerk", None,
        )  # fmt: skip
        assert created["after"]["id"] == farm_id
        properties = created["after"]["properties"]
        assert {k: properties[k] for k in ("code", "name", "head_count", "version")} == {
            "code": "LF-301", "name": "新建养殖场", "head_count": 700, "version": 1,
        }  # fmt: skip
        assert float(properties["capacity"]) == 5.0
        assert created["after"]["geometry"] == {"type": "Point", "coordinates": [119.02, 36.02]}
        (entry,) = api.get("/audit?action=import.run", headers=admin).json()["entries"]
        assert entry["detail"]["created_ids"] == [[farm_id, farm_id]]
        assert entry["target_id"] == first.summary.import_id

        second = run(
            engine, csv_file(tmp_path / "b.csv", "LF-301,新建养殖场,生猪,950,5,119.02,36.02,运行\n"),
            upsert_by="code",
        )  # fmt: skip
        assert second.summary.updated == 1
        updated, created = api.get(url, headers=viewer).json()["versions"]
    # after the edit the creation's after-state is the edit's before-state: the file's first values
    assert (updated["version"], updated["operation"]) == (2, "update")
    assert created["after"] == updated["before"]
    assert created["after"]["properties"]["head_count"] == 700
    assert updated["after"]["properties"]["head_count"] == 950
    with engine.connect() as conn:
        restorable = history.version_content(conn, "livestock_farms", farm_id, 1)
    assert restorable["properties"]["head_count"] == 700 and restorable["properties"]["version"] == 1


def test_an_imported_farm_deleted_in_the_api_keeps_its_creation_and_comes_back_by_restoring_version_1(
    engine, tmp_path
):
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from tests.accounts import role_headers

    run(engine, csv_file(tmp_path / "a.csv", "LF-401,待删养殖场,奶牛,320,2,119.07,36.07,运行\n"))
    with engine.connect() as conn:
        farm_id = conn.execute(text("SELECT id FROM livestock_farms WHERE code = 'LF-401'")).scalar_one()
    item = f"/collections/livestock_farms/items/{farm_id}"
    with TestClient(create_app(engine)) as api:
        editor = role_headers(engine, "editor")
        assert api.delete(item, headers={**editor, "If-Match": '"1"'}).status_code == 204
        deleted, created = api.get(f"{item}/history", headers=editor).json()["versions"]
        assert (deleted["operation"], deleted["after"], created["operation"]) == ("delete", None, "create")
        assert created["after"] == deleted["before"]
        assert created["after"]["properties"]["name"] == "待删养殖场"
        back = api.post(f"{item}/history/1/restore", headers=editor)
        assert back.status_code == 200, back.text
        assert back.headers["etag"] == '"3"'
        read = api.get(item).json()["properties"]
    assert (read["code"], read["name"], read["head_count"], read["town_code"]) == (
        "LF-401",
        "待删养殖场",
        320,
        TOWN_A,
    )


def test_an_upsert_row_that_breaks_the_lifecycle_is_refused_with_the_editors_message(engine, tmp_path):
    with engine.begin() as conn:
        conn.execute(text("UPDATE livestock_farms SET status = 'closed' WHERE code = 'LF-OLD1'"))
    path = csv_file(tmp_path / "farms.csv", "LF-OLD1,LF-OLD1场,生猪,800,5,119.03,36.03,运行\n")
    report = run(engine, path, upsert_by="code")
    assert report.summary.rejected == 1 and not report.summary.written
    assert rejected(report) == [
        (
            2,
            "状态",
            "closed facilities are reopened explicitly: set status to 'planned' (not 'operational'), "
            "then follow the lifecycle planned → under_construction → operational",
        )
    ]
    report.discard()


# -- dirty files -------------------------------------------------------------------------------------


def test_an_xlsx_with_title_rows_and_merged_header_cells_imports_its_rows_by_their_sheet_numbers(
    engine, tmp_path
):
    book = Workbook()
    sheet = book.active
    sheet.title = "养殖场"
    sheet.append(["诸城市规模养殖场统计表（2024年）"])
    sheet.merge_cells("A1:H1")
    sheet.append(["填报单位：畜牧局"])
    sheet.append(["编码", "名称", "畜种", "存栏(头)", "处理能力(吨/日)", "坐标", None, "状态"])
    sheet.merge_cells("F3:G3")
    sheet.append([None, None, None, None, None, "经度", "纬度", None])
    sheet.append(["LF-201", "枳沟镇蛋鸡场", "蛋鸡", "1.5万只", 2, 119.071, 36.031, "运行"])
    sheet.append(["LF-202", "昌城镇肉牛场", "肉牛", 60, "4.5吨/日", 119.171, 36.061, "运行"])
    path = tmp_path / "养殖场.xlsx"
    book.save(path)
    report = run(engine, path)
    s = report.summary
    assert (s.format, s.sheet, s.rows_read, s.created, s.rejected) == ("xlsx", "养殖场", 2, 2, 0)
    stored = farms(engine)
    assert (stored["LF-201"]["species"], stored["LF-201"]["head_count"]) == ("layer", 15000)
    assert (stored["LF-202"]["town"], float(stored["LF-202"]["capacity"])) == (TOWN_B, 4.5)
    with engine.connect() as conn:
        numbers = conn.execute(
            text("SELECT count(*) FROM feature_history WHERE operation = 'create'")
        ).scalar()
    assert numbers == 2


def test_gauss_kruger_zone_40_coordinates_are_stored_within_a_metre_of_their_place(engine, tmp_path):
    places = {"LF-GK1": (119.061, 36.021), "LF-GK2": (119.155, 36.077)}
    to_gk = Transformer.from_crs("EPSG:4326", "EPSG:4528", always_xy=True)
    lines = []
    for code, (lon, lat) in places.items():
        easting, northing = to_gk.transform(lon, lat)
        lines.append(f"{code},测量点{code},生猪,600,1,{easting:.3f},{northing:.3f},运行\n")
    path = csv_file(tmp_path / "survey.csv", "".join(lines))
    report = run(engine, path, options=Options(crs="EPSG:4528"))
    assert (report.summary.created, report.summary.rejected, report.summary.crs) == (2, 0, "EPSG:4528")
    stored = farms(engine)
    for code, place in places.items():
        assert metres((stored[code]["lon"], stored[code]["lat"]), place) < 1.0
    # the same metres without the crs: every row refused, with the zone named
    again = csv_file(tmp_path / "survey2.csv", "".join(lines).replace("LF-GK", "LF-GX"))
    refused = run(engine, again)
    assert refused.summary.rejected == 2 and not refused.summary.written
    assert "crs EPSG:4528" in refused.rejected.items[0].problem
    assert refused.rejected.items[0].column == "经度/纬度"
    refused.discard()


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def test_gcj02_points_imported_with_crs_gcj02_land_within_a_metre_of_their_wgs84_place(engine, tmp_path):
    places = {"LF-A1": (119.061, 36.021), "LF-A2": (119.152, 36.083)}
    lines = []
    for code, (lon, lat) in places.items():
        gx, gy = coordinates.wgs84_to_gcj02(lon, lat)
        assert 300 < metres((gx, gy), (lon, lat)) < 800  # the shift is real: more than a collection radius
        lines.append(f"{code},高德点{code},生猪,600,1,{gx:.8f},{gy:.8f},运行\n")
    path = csv_file(tmp_path / "amap.csv", "".join(lines))
    report = run(engine, path, options=Options(crs="gcj02"))
    assert (report.summary.created, report.summary.rejected) == (2, 0)
    stored = farms(engine)
    for code, place in places.items():
        assert metres((stored[code]["lon"], stored[code]["lat"]), place) < 1.0


def test_gcj02_shifted_positions_of_stored_farms_are_warned_about_and_not_with_crs_gcj02(engine, tmp_path):
    stored = {"LF-OLD1": (119.03, 36.03), "LF-OLD2": (119.04, 36.04)}
    lines = []
    for code, (lon, lat) in stored.items():
        gx, gy = coordinates.wgs84_to_gcj02(lon, lat)
        lines.append(f"{code},{code}场,生猪,800,5,{gx:.8f},{gy:.8f},运行\n")
    path = csv_file(tmp_path / "amap.csv", "".join(lines).replace("生猪,800,5,119.04", "奶牛,150,3,119.04"))
    shifted = run(engine, path, upsert_by="code", dry_run=True)
    (warning,) = shifted.file_warnings
    assert warning.startswith("positions look like GCJ-02 (Amap): import with --crs gcj02")
    converted = run(engine, path, upsert_by="code", dry_run=True, options=Options(crs="gcj02"))
    assert converted.file_warnings == []
    assert converted.summary.updated == 2  # the positions moved by less than a metre, still a change


def test_null_island_swapped_and_dms_rows_each_get_their_own_outcome(engine, tmp_path):
    path = csv_file(
        tmp_path / "farms.csv",
        "LF-301,零点,生猪,600,1,0,0,运行\n"
        "LF-302,颠倒,生猪,600,1,36.03,119.03,运行\n"
        'LF-303,度分秒,生猪,600,1,"119°3\'36""E","36°1\'48""N",运行\n'
        "LF-304,无坐标,生猪,600,1,,,运行\n",
    )
    report = run(engine, path, valid_rows_only=True)
    assert rejected(report) == [
        (2, "经度/纬度", "coordinates are (0, 0): a missing position, not a place"),
        (3, "经度/纬度", "longitude and latitude look swapped: (36.03, 119.03)"),
        (5, "经度/纬度", "no coordinates"),
    ]
    assert [(p.row, p.problem) for p in report.warnings.items] == [
        (4, "coordinates read from degrees-minutes-seconds text: (119.060000, 36.030000)")
    ]
    stored = farms(engine)["LF-303"]
    assert (round(stored["lon"], 9), round(stored["lat"], 9)) == (119.06, 36.03)
    report.discard()


def test_duplicates_within_the_file_and_against_the_inventory_are_refused_by_row(engine, tmp_path):
    path = csv_file(
        tmp_path / "farms.csv",
        "LF-401,甲场,生猪,600,1,119.061,36.021,运行\n"
        "LF-OLD1,旧场,生猪,600,1,119.062,36.022,运行\n"
        "LF-401,甲场,生猪,600,1,119.061,36.021,运行\n",
    )
    report = run(engine, path)
    assert rejected(report) == [
        (3, "编码", "another feature of livestock_farms holds code 'LF-OLD1': codes are unique per layer"),
        (4, "编码", "row 2 of this file holds code 'LF-401' too: codes are unique per layer"),
    ]
    assert not report.summary.written
    report.discard()


def test_a_row_outside_the_city_is_refused_with_the_editors_words_for_the_same_feature(engine, tmp_path):
    """The per-row checks and the SQL checks refuse what the editor refuses, with its field and words."""
    from service.editing import validation

    bad = [
        ("LF-501", "出城", "生猪", 600, 1, 119.5, 36.05),  # outside the city
        ("LF-502", "负数", "生猪", -1, 1, 119.05, 36.05),  # negative head count
        ("LF-OLD1", "重码", "生猪", 600, 1, 119.05, 36.05),  # a code the inventory holds
        ("LF-503", "倒置", "生猪", 600, 1, 36.05, 119.05),  # swapped: the editor's own wording
        ("LF 504", "坏码", "生猪", 600, 1, 119.05, 36.05),  # a code of the wrong format
    ]
    editor: list[tuple[str, str]] = []
    with engine.connect() as conn:
        for code, name, species, heads, capacity, lon, lat in bad:
            feature = {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "code": code, "name": name, "species": {"生猪": "pig"}[species], "head_count": heads,
                    "capacity": capacity, "capacity_unit": "t/d", "status": "operational",
                },
            }  # fmt: skip
            with pytest.raises(validation.ValidationFailed) as refused:
                validation.validate(conn, "livestock_farms", feature, mode="create")
            editor.extend((e.field, e.message) for e in refused.value.errors)
    # the file's swapped row would be caught by the reader first; give the position as the API would
    lines = "".join(f"{c},{n},{s},{h},{cap},{x},{y},运行\n" for c, n, s, h, cap, x, y in bad if c != "LF-503")
    report = run(engine, csv_file(tmp_path / "bad.csv", lines))
    imported = [(p.field, p.problem) for p in report.rejected.items]
    assert imported == [e for e in editor if "swapped" not in e[1]]
    assert [p.row for p in report.rejected.items] == [2, 2, 3, 4, 5]  # outside: and in no town
    assert editor[4] == (
        "geometry.coordinates",
        "longitude and latitude swapped: did you mean [119.05, 36.05]? "
        "(GeoJSON positions are [longitude, latitude])",
    )
    report.discard()


def test_a_town_limited_editor_imports_only_rows_of_their_town(engine, tmp_path):
    path = csv_file(
        tmp_path / "farms.csv",
        "LF-601,甲镇场,生猪,600,1,119.061,36.021,运行\nLF-602,乙镇场,生猪,600,1,119.161,36.021,运行\n",
    )
    principal = Principal(user_id=1, name="town-editor", role="editor", town=TOWN_A, token_id=1)
    before = state(engine)
    report = run_import(engine, ImportRequest("livestock_farms", path), ACTOR, principal)
    assert state(engine) == before
    assert rejected(report) == [
        (3, None, f"'town-editor' is limited to town {TOWN_A}; this lies in town {TOWN_B}")
    ]
    report.discard()


def test_formula_text_in_a_name_is_kept_and_comes_back_out_of_the_exports_inert(engine, tmp_path):
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    name = '=HYPERLINK("http://evil.example","点我")'
    path = csv_file(
        tmp_path / "farms.csv",
        f'LF-701,"{name.replace(chr(34), chr(34) * 2)}",生猪,600,1,119.061,36.021,运行\n',
    )
    report = run(engine, path)
    assert report.summary.created == 1
    assert farms(engine)["LF-701"]["name"] == name  # stored as the file has it
    with TestClient(create_app(engine)) as api:
        exported = api.get("/export/livestock_farms.csv")
        assert exported.status_code == 200
        rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
        (farm,) = [r for r in rows if r["code"] == "LF-701"]
        assert farm["name"] == "'" + name
        geojson = api.get("/export/livestock_farms.geojson")
        (feature,) = [f for f in geojson.json()["features"] if f["properties"]["code"] == "LF-701"]
        assert feature["properties"]["name"] == name  # JSON is data, not a sheet: kept exactly
    # and the rejected-rows CSV of a refused file guards the same cell
    refused = run(
        engine,
        csv_file(
            tmp_path / "again.csv",
            f'LF-702,"{name.replace(chr(34), chr(34) * 2)}",生猪,-1,1,119.061,36.021,运行\n',
        ),
    )
    out = tmp_path / "rejected.csv"
    refused.write_rejected_csv(out)
    (row,) = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))[1:]
    assert row[1] == "'" + name
    refused.discard()


# -- file-level failures -----------------------------------------------------------------------------


def test_files_that_cannot_be_imported_raise_before_anything_is_written(engine, tmp_path):
    before = state(engine)
    good = csv_file(tmp_path / "farms.csv", "LF-801,场,生猪,600,1,119.061,36.021,运行\n")
    with pytest.raises(UnknownLayer):
        run_import(engine, ImportRequest("no_such_layer", good), ACTOR)
    with pytest.raises(BadParameter) as refused:
        run_import(engine, ImportRequest("chain_links", good), ACTOR)
    assert refused.value.parameter == "layer"
    headerless = csv_file(tmp_path / "plain.csv", "1,2,3\n4,5,6\n", header="")
    with pytest.raises(BadParameter) as refused:
        run(engine, headerless)
    assert refused.value.parameter == "file"
    with pytest.raises(BadParameter) as refused:
        run(engine, good, options=Options(crs="EPSG:999999"))
    assert refused.value.parameter == "crs"
    gbk = csv_file(tmp_path / "gbk.csv", "LF-802,王家庄,生猪,600,1,119.061,36.021,运行\n", encoding="gbk")
    with pytest.raises(BadParameter) as refused:
        run(engine, gbk, options=Options(encoding="utf-8"))
    assert refused.value.parameter == "encoding"
    assert state(engine) == before


def test_the_report_lists_up_to_its_cap_and_counts_and_writes_every_rejected_row(
    engine, tmp_path, monkeypatch
):
    from service.config import forget_settings

    monkeypatch.setenv("SANICHAIN_IMPORT_LISTED_PROBLEMS", "3")
    forget_settings()
    try:
        lines = "".join(f"LF-9{i:02d},场{i},生猪,-{i + 1},1,119.061,36.021,运行\n" for i in range(10))
        report = run(engine, csv_file(tmp_path / "farms.csv", lines))
    finally:
        forget_settings()
    assert report.rejected.count == 10 and len(report.rejected.items) == 3
    as_json = report.to_json()
    assert (as_json["rejected_count"], as_json["rejected_truncated"]) == (10, True)
    assert json.loads(json.dumps(as_json))["summary"]["rejected"] == 10
    out = tmp_path / "rejected.csv"
    report.write_rejected_csv(out)
    assert len(list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))) == 11
    report.discard()


@pytest.mark.parametrize(
    ("ids", "ranges"),
    [([], []), ([5, 6, 7], [[5, 7]]), ([5, 6, 7, 10, 11, 13], [[5, 7], [10, 11], [13, 13]])],
)
def test_the_created_ids_are_named_as_ranges_however_many_runs(demo_engine: Engine, ids, ranges):
    from service.importing import writes

    with demo_engine.connect() as conn, conn.begin() as transaction:
        conn.execute(text(f"CREATE TEMP TABLE {writes.PLAN} (op text, new_id bigint) ON COMMIT DROP"))
        conn.execute(text(f"INSERT INTO {writes.PLAN} VALUES ('unchanged', NULL), ('update', NULL)"))
        for i in reversed(ids):
            conn.execute(text(f"INSERT INTO {writes.PLAN} VALUES ('create', :i)"), {"i": i})
        assert writes.created_ranges(conn) == ranges
        transaction.rollback()
