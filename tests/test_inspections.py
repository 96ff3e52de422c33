"""Recording inspections through the API, against a copy of the demo in a real PostGIS.

- A visit is stored with its checklist, photos and the inspector's position; its distance from the
  facility is PostGIS's geodesic distance (checked against an independent haversine).
- The same Idempotency-Key sent again answers the first record and stores nothing more; a reused key
  for another visit is a 409.
- Every malformed field, a photo that is not an image, too many or too large photos, and a wrong role
  or town are refused with the field named, and nothing is stored.
- Records and photos are read back only by signed-in users.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from service.inspections import photos
from tests.accounts import role_headers
from tests.conftest import PgServer, demo_copy_engine
from tests.schemas import validate_answer

# The smallest valid images of each kind the service keeps (authored here, byte by byte).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5d8b1e50000000049454e44ae426082"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"


@pytest.fixture(scope="module")
def app_engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    with demo_copy_engine(pg_server, migrated_template, "inspections") as engine:
        yield engine


def station(engine: Engine, offset: int = 0) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            text(
                """SELECT s.id, s.code, s.name, s.name_en, t.code AS town_code,
                          ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat
                   FROM transfer_stations s JOIN towns t ON t.id = s.town_id
                   ORDER BY s.id OFFSET :o LIMIT 1"""
            ),
            {"o": offset},
        ).one()


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(text("SELECT count(*) FROM inspections")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM inspection_photos")).scalar_one(),
            conn.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'inspection.record'")
            ).scalar_one(),
        )


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    r = 6_371_008.8  # mean Earth radius; PostGIS uses the spheroid, so allow 0.5 %
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def send(client: Any, headers: dict[str, str], fields: dict[str, str], files: list[Any] | None = None,
         key: str | None = None) -> Any:  # fmt: skip
    h = {**headers, "Idempotency-Key": key or uuid.uuid4().hex}
    return client.post("/inspections", data=fields, files=files or None, headers=h)


def visit(site: Any, **changes: str) -> dict[str, str]:
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    fields = {
        "layer": "transfer_stations",
        "feature_id": str(site.id),
        "inspected_at": at,
        "outcome": "defects",
        "checklist": json.dumps({"compactor_works": True, "leachate_contained": False}),
        "notes": "渗滤液外溢，已通知站长",
        "lon": f"{site.lon + 0.0005:.6f}",
        "lat": f"{site.lat:.6f}",
        "accuracy_m": "12",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v != "-"}


def test_a_visit_is_stored_with_its_checklist_photos_and_distance_from_the_facility(client, app_engine):
    site = station(app_engine)
    before = counts(app_engine)
    files = [("photo", ("leak.png", PNG, "image/png")), ("photo", ("yard.jpg", JPEG, "image/jpeg"))]
    answer = send(client, role_headers(app_engine, "inspector"), visit(site), files)
    assert answer.status_code == 201, answer.text
    record = answer.json()
    assert answer.headers["location"] == record["href"]
    assert record["facility"] == {"code": site.code, "name": site.name}
    assert record["town_code"] == site.town_code
    assert record["inspector"] == "test-inspector"
    assert record["outcome"] == "defects"
    assert [(a["key"], a["answer"]) for a in record["checklist"]] == [
        ("compactor_works", True),
        ("leachate_contained", False),
        ("site_clean", None),
        ("odour_controlled", None),
    ]
    assert record["checklist"][0]["label"] == "压缩设备运转正常"
    assert record["notes"] == "渗滤液外溢，已通知站长"
    expected = haversine_m(site.lon, site.lat, site.lon + 0.0005, site.lat)
    assert record["distance_m"] == pytest.approx(expected, rel=0.005)
    assert 30 < record["distance_m"] < 60  # 0.0005° of longitude at 36° N
    assert record["accuracy_m"] == 12.0
    assert [(p["number"], p["content_type"], p["size_bytes"]) for p in record["photos"]] == [
        (1, "image/png", len(PNG)), (2, "image/jpeg", len(JPEG)),
    ]  # fmt: skip
    assert counts(app_engine) == (before[0] + 1, before[1] + 2, before[2] + 1)

    viewer = role_headers(app_engine, "viewer")
    got = client.get(record["photos"][0]["href"].replace("http://testserver", ""), headers=viewer)
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    assert client.get(f"/inspections/{record['id']}/photos/1").status_code == 401  # anonymous: never
    doc = client.get("/openapi.json").json()
    validate_answer(doc, "post", "/inspections", record, "201")
    read = client.get(f"/inspections/{record['id']}?lang=en", headers=viewer).json()
    validate_answer(doc, "get", "/inspections/{inspection_id}", read)
    assert read["checklist"][0]["label"] == "compactor works"
    assert read["facility"]["name"] == (site.name_en or site.name)
    listed = client.get(f"/inspections?layer=transfer_stations&feature_id={site.id}", headers=viewer).json()[
        "inspections"
    ]
    assert [r["id"] for r in listed][:1] == [record["id"]]


def test_the_same_key_sent_again_answers_the_first_record_and_stores_nothing_more(client, app_engine):
    site = station(app_engine, 1)
    headers = role_headers(app_engine, "inspector")
    fields, key = visit(site, outcome="ok"), "phone-" + uuid.uuid4().hex
    first = send(client, headers, fields, [("photo", ("a.png", PNG, "image/png"))], key=key)
    assert first.status_code == 201
    after_first = counts(app_engine)
    for _ in range(3):  # the phone did not hear the answer, and tried again
        again = send(client, headers, fields, [("photo", ("a.png", PNG, "image/png"))], key=key)
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
    assert counts(app_engine) == after_first
    other = send(client, headers, visit(site, outcome="out_of_service"), key=key)
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    assert counts(app_engine) == after_first


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"layer": "villages"}, "layer"),
        ({"feature_id": "abc"}, "feature_id"),
        ({"feature_id": "999999999"}, "feature_id"),
        ({"outcome": "fine"}, "outcome"),
        ({"inspected_at": "yesterday"}, "inspected_at"),
        ({"inspected_at": "2026-12-01T09:00:00"}, "inspected_at"),  # no offset
        ({"inspected_at": "2099-01-01T00:00:00+08:00"}, "inspected_at"),
        ({"checklist": '{"wings": true}'}, "checklist"),
        ({"checklist": '{"compactor_works": "yes"}'}, "checklist"),
        ({"checklist": "[1, 2]"}, "checklist"),
        ({"lon": "200"}, "lon"),
        ({"lat": "-"}, "lat"),
        ({"lat": "nan"}, "lat"),
        ({"accuracy_m": "-3"}, "accuracy_m"),
        ({"notes": "长" * 4001}, "notes"),
        ({"colour": "red"}, "colour"),
        ({"outcome": "-"}, "outcome"),
    ],
)
def test_a_malformed_field_is_refused_by_name_and_nothing_is_stored(client, app_engine, changes, named):
    site = station(app_engine)
    before = counts(app_engine)
    answer = send(client, role_headers(app_engine, "inspector"), visit(site, **changes))
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith(f"{named}:"), answer.json()
    assert counts(app_engine) == before


@pytest.mark.parametrize(
    ("files", "status", "says"),
    [
        ([("photo", ("x.jpg", b"<html>not an image</html>", "image/jpeg"))], 415, "not a JPEG, PNG or WebP"),
        ([("photo", ("empty.png", b"", "image/png"))], 400, "empty"),
        ([("photo", (f"{n}.png", PNG, "image/png")) for n in range(photos.MAX_PHOTOS + 1)], 400, "more than"),
        ([("photo", ("big.jpg", JPEG + b"\x00" * photos.MAX_PHOTO_BYTES, "image/jpeg"))], 413, "exceeds"),
    ],
)
def test_photos_that_are_not_images_or_too_many_or_too_large_are_refused(
    client, app_engine, files, status, says
):
    before = counts(app_engine)
    answer = send(client, role_headers(app_engine, "inspector"), visit(station(app_engine)), files)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["detail"]
    assert counts(app_engine) == before


def test_a_closed_facility_is_not_inspected_and_a_photos_name_is_never_a_path(client, app_engine):
    with app_engine.begin() as conn:
        closed = conn.execute(
            text("SELECT id, code FROM treatment_plants WHERE status = 'closed' ORDER BY id LIMIT 1")
        ).one()
    before = counts(app_engine)
    fields = {**visit(station(app_engine)), "layer": "treatment_plants", "feature_id": str(closed.id)}
    fields.pop("checklist")
    refused = send(client, role_headers(app_engine, "inspector"), fields)
    assert refused.status_code == 400 and f"{closed.code} is closed" in refused.json()["detail"]
    assert counts(app_engine) == before
    # the name a phone gives a photo is not kept, and never names a file on the server
    hostile = [("photo", ("../../../../etc/passwd", PNG, "image/png"))]
    kept = send(client, role_headers(app_engine, "inspector"), visit(station(app_engine)), hostile)
    assert kept.status_code == 201
    assert kept.json()["photos"][0]["size_bytes"] == len(PNG)
    assert "passwd" not in json.dumps(kept.json())


def test_who_may_record_and_where(client, app_engine):
    site = station(app_engine)
    before = counts(app_engine)
    for role in ("viewer", "planner", "editor"):
        assert send(client, role_headers(app_engine, role), visit(site)).status_code == 403
    assert send(client, {}, visit(site)).status_code == 401
    elsewhere = "370782001" if site.town_code != "370782001" else "370782002"
    refused = send(client, role_headers(app_engine, "inspector", elsewhere), visit(site))
    assert refused.status_code == 403 and elsewhere in refused.json()["detail"]
    missing_key = client.post("/inspections", data=visit(site), headers=role_headers(app_engine, "inspector"))
    assert missing_key.status_code == 400 and "Idempotency-Key" in missing_key.json()["detail"]
    assert counts(app_engine) == before
    own_town = send(client, role_headers(app_engine, "inspector", site.town_code), visit(site))
    assert own_town.status_code == 201


def test_the_checklists_are_listed_in_both_languages(client, app_engine):
    zh = client.get("/inspections/checklists").json()
    en = client.get("/inspections/checklists?lang=en").json()
    assert [i["key"] for i in zh["checklists"]["livestock_farms"]][:3] == [
        "manure_facility_operating", "storage_not_overflowing", "no_discharge",
    ]  # fmt: skip
    assert en["checklists"]["public_toilets"][0] == {"key": "clean", "label": "clean"}
    assert zh["outcomes"] == ["ok", "defects", "out_of_service"]
    validate_answer(client.get("/openapi.json").json(), "get", "/inspections/checklists", en)
