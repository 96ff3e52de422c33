"""POST /imports and its jobs against a real PostGIS: a dry run's report, its confirmation writing the
features with their history, a rejected row named by its number with nothing written, and the upload's
refusals (anonymous, wrong role, too large declared or streamed, unknown fields) leaving no file.

Files are generated here. The refusals that must happen before the body is read run against the real
service over a socket that never sends the body.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service.api.app import create_app
from service.config import ImportJobSettings
from tests import worlds
from tests.accounts import role_headers
from tests.problems import assert_problem
from tests.service_process import running_service

HEADER = "编码,名称,畜种,存栏(头),单位,经度,纬度,状态\n"
GOOD = (
    "LF-001,王家庄生猪养殖场,生猪,1.2万头,m3,119.401,36.002,运行\n"
    "LF-002,鑫旺奶牛场（二期）,奶牛,850,m3,119.3505,35.9876,在建\n"
)
BAD = "LF-003,无坐标养殖场,生猪,600,m3,,,运行\n"  # no coordinates: rejected


def farms_csv(body: str = GOOD, encoding: str = "gbk") -> bytes:
    return (HEADER + body).encode(encoding)


def build_world(engine: Engine) -> None:
    with engine.begin() as conn:
        worlds.one_town(conn, worlds.square(119.2, 35.8, 0.4), (119.4, 36.0))


@pytest.fixture
def world(empty_engine: Engine) -> Engine:
    build_world(empty_engine)
    return empty_engine


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    return tmp_path / "imports"


@pytest.fixture
def api(world: Engine, upload_dir: Path) -> Iterator[TestClient]:
    app = create_app(world)
    app.state.import_settings = ImportJobSettings(dir=upload_dir, max_bytes=1_000_000, wait_s=0)
    with TestClient(app) as c:
        yield c


def post_import(
    client: TestClient, headers: dict[str, str], data: bytes, name: str = "farms.csv", **fields: str
) -> Any:
    form = {"layer": "livestock_farms", **fields}
    return client.post("/imports", files={"file": (name, data, "text/csv")}, data=form, headers=headers)


def finished(client: TestClient, headers: dict[str, str], location: str) -> dict[str, Any]:
    """The job once done or failed (polled as a client would)."""
    deadline = time.monotonic() + 60
    while True:
        job = client.get(location, headers=headers)
        assert job.status_code == 200, job.text
        body: dict[str, Any] = job.json()
        if body["status"] in ("done", "failed"):
            return body
        assert time.monotonic() < deadline, f"import still {body['status']}: {body['progress']}"
        time.sleep(0.1)


def farms(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(text("SELECT code, name, head_count FROM livestock_farms ORDER BY code"))
        ]


def audit_actions(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT action, target_id FROM audit_log WHERE action LIKE 'import.%' ORDER BY id")
        )
        return [tuple(r) for r in rows]


# -- dry run, confirmation ------------------------------------------------------------------------


def test_a_dry_run_reports_the_rows_it_would_write_and_writes_nothing(api, world, upload_dir):
    editor = role_headers(world, "editor")
    answer = post_import(api, editor, farms_csv(), dry_run="true", encoding="gbk")
    assert answer.status_code == 202, answer.text
    location = answer.headers["location"]
    assert location.endswith(f"/imports/{answer.json()['id']}")
    job = finished(api, editor, location)
    assert job["status"] == "done" and job["dry_run"] is True
    assert job["file_name"] == "farms.csv" and job["layer"] == "livestock_farms"
    assert job["options"]["encoding"] == "gbk" and job["options"]["valid_rows_only"] is False
    summary = job["report"]["summary"]
    assert (summary["rows_read"], summary["created"], summary["rejected"]) == (2, 2, 0)
    assert job["report"]["rejected"] == []
    assert job["links"]["confirm"] == location + "/confirm"
    assert job["confirmable_until"] is not None
    assert farms(world) == []  # a dry run writes nothing
    assert audit_actions(world) == [("import.upload", str(job["id"]))]
    kept = list(upload_dir.iterdir())
    assert len(kept) == 1 and kept[0].suffix == ".csv"  # the file waits for its confirmation


def test_confirming_a_dry_run_writes_its_features_with_history_once(api, world, upload_dir):
    editor = role_headers(world, "editor")
    dry = finished(api, editor, post_import(api, editor, farms_csv(), dry_run="true").headers["location"])
    confirmed = api.post(dry["links"]["confirm"], json={"valid_rows_only": False}, headers=editor)
    assert confirmed.status_code == 202, confirmed.text
    job = finished(api, editor, confirmed.headers["location"])
    assert job["status"] == "done", job["error"]
    assert job["dry_run"] is False and job["confirms"] == dry["id"]
    assert job["report"]["summary"]["created"] == 2
    assert farms(world) == [("LF-001", "王家庄生猪养殖场", 12000), ("LF-002", "鑫旺奶牛场（二期）", 850)]
    with world.connect() as conn:
        history = conn.execute(
            text("SELECT operation, version FROM feature_history WHERE layer = 'livestock_farms'")
        ).all()
    assert sorted(tuple(h) for h in history) == [("create", 1), ("create", 1)]
    actions = audit_actions(world)
    assert [a for a, _ in actions] == ["import.upload", "import.confirm", "import.run"]
    assert actions[1] == ("import.confirm", str(job["id"]))
    assert list(upload_dir.iterdir()) == []  # imported: the file is gone
    # the dry run now names its confirmation, and cannot be confirmed again
    again = api.get(dry["links"]["self"], headers=editor).json()
    assert again["confirmed_by"] == job["id"] and "confirm" not in again["links"]
    twice = api.post(dry["links"]["confirm"], json={"valid_rows_only": False}, headers=editor)
    assert "already confirmed" in assert_problem(twice, 409)["detail"]
    assert len(farms(world)) == 2


def test_a_dry_run_is_not_confirmed_after_the_layer_changed(api, world):
    editor = role_headers(world, "editor")
    dry = finished(api, editor, post_import(api, editor, farms_csv(), dry_run="true").headers["location"])
    with world.begin() as conn:  # someone else's edit meanwhile
        worlds.farm(conn, "LF-900", (119.45, 36.05), "pig", 800)
    refused = api.post(dry["links"]["confirm"], json={"valid_rows_only": False}, headers=editor)
    assert "changed since dry run" in assert_problem(refused, 409)["detail"]
    assert len(farms(world)) == 1  # only the other edit


def test_another_editor_neither_sees_nor_confirms_a_dry_run_but_an_admin_may(api, world):
    editor = role_headers(world, "editor")
    dry = finished(api, editor, post_import(api, editor, farms_csv(), dry_run="true").headers["location"])
    with world.begin() as conn:
        from service.accounts import tokens, users

        users.add(conn, "second-editor", "editor", "a long enough password")
        other = {"Authorization": f"Bearer {tokens.create(conn, 'second-editor').token}"}
    assert_problem(api.get(dry["links"]["self"], headers=other), 404)
    assert_problem(api.post(dry["links"]["confirm"], json={"valid_rows_only": False}, headers=other), 404)
    admin = role_headers(world, "admin")
    assert api.get(dry["links"]["self"], headers=admin).json()["id"] == dry["id"]


def test_a_confirmation_must_say_whether_rejected_rows_are_left_out(api, world):
    editor = role_headers(world, "editor")
    dry = finished(api, editor, post_import(api, editor, farms_csv(), dry_run="true").headers["location"])
    for body in ({}, {"valid_rows_only": "yes"}, {"valid_rows_only": True, "force": True}):
        refused = api.post(dry["links"]["confirm"], json=body, headers=editor)
        assert assert_problem(refused, 400)["parameter"] in ("valid_rows_only", "force")


# -- rejected rows ----------------------------------------------------------------------------------


def test_a_bad_row_is_named_by_its_number_with_its_problem_and_nothing_is_written(api, world):
    editor = role_headers(world, "editor")
    answer = post_import(api, editor, farms_csv(GOOD + BAD))
    job = finished(api, editor, answer.headers["location"])
    assert job["status"] == "done"
    report = job["report"]
    assert report["rejected_count"] == 1
    [rejected] = report["rejected"]
    assert rejected["row"] == 4  # the file's line: header on line 1
    assert "coordinates" in rejected["problem"]
    assert report["summary"]["written"] is False
    assert farms(world) == []  # all or nothing
    csv = api.get(job["links"]["rejected_csv"], headers=editor)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    assert "无坐标养殖场" in csv.content.decode("utf-8-sig")
    assert "王家庄" not in csv.content.decode("utf-8-sig")  # only the rejected rows


def test_a_dry_run_with_rejected_rows_is_confirmed_only_for_its_valid_rows(api, world):
    editor = role_headers(world, "editor")
    answer = post_import(api, editor, farms_csv(GOOD + BAD), dry_run="true")
    dry = finished(api, editor, answer.headers["location"])
    assert dry["report"]["rejected_count"] == 1
    refused = api.post(dry["links"]["confirm"], json={"valid_rows_only": False}, headers=editor)
    assert "valid_rows_only" in assert_problem(refused, 409)["detail"]
    confirmed = api.post(dry["links"]["confirm"], json={"valid_rows_only": True}, headers=editor)
    job = finished(api, editor, confirmed.headers["location"])
    assert job["status"] == "done" and job["options"]["valid_rows_only"] is True
    assert [code for code, _, _ in farms(world)] == ["LF-001", "LF-002"]


def test_a_file_that_cannot_be_read_ends_its_job_as_failed_with_the_reason(api, world):
    editor = role_headers(world, "editor")
    answer = post_import(api, editor, b"just some words\nand more\n")
    job = finished(api, editor, answer.headers["location"])
    assert job["status"] == "failed" and job["report"] is None
    assert job["error"]["parameter"] == "file" and "header" in job["error"]["detail"]


# -- refusals of the upload -----------------------------------------------------------------------


def test_unknown_form_fields_are_a_400_naming_them_and_leave_no_file(api, world, upload_dir):
    editor = role_headers(world, "editor")
    answer = post_import(api, editor, farms_csv(), colour="red", size="xl")
    body = assert_problem(answer, 400)
    assert body["parameter"] == "colour" and "colour, size" in body["detail"]
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"layer": "rivers"}, "layer"),
        ({"crs": "EPSG:999999"}, "crs"),
        ({"encoding": "klingon"}, "encoding"),
        ({"upsert_by": "name"}, "upsert_by"),
        ({"dry_run": "perhaps"}, "dry_run"),
        ({"mapping": "[1, 2]"}, "mapping"),
    ],
)
def test_bad_options_are_a_400_naming_the_field_and_leave_no_file(api, world, upload_dir, fields, parameter):
    answer = post_import(api, role_headers(world, "editor"), farms_csv(), **fields)
    assert assert_problem(answer, 400)["parameter"] == parameter
    assert list(upload_dir.iterdir()) == []


def test_a_form_without_a_file_or_not_multipart_is_a_400(api, world):
    editor = role_headers(world, "editor")
    no_file = api.post("/imports", files={"layer": (None, "livestock_farms")}, headers=editor)
    assert assert_problem(no_file, 400)["parameter"] == "file"
    as_json = api.post("/imports", json={"layer": "livestock_farms"}, headers=editor)
    assert assert_problem(as_json, 400)["parameter"] == "Content-Type"


def test_an_inspector_is_refused_with_403(api, world, upload_dir):
    answer = post_import(api, role_headers(world, "inspector"), farms_csv())
    assert "inspector" in assert_problem(answer, 403)["detail"]
    assert not upload_dir.exists()


def test_the_openapi_document_describes_the_upload_and_its_answers(api):
    doc = api.get("/openapi.json").json()
    upload = doc["paths"]["/imports"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"file", "layer", "crs", "encoding", "sheet", "mapping", "dry_run"} <= set(form["properties"])
    assert {"202", "400", "401", "403", "409", "413"} <= set(upload["responses"])
    assert "Location" in upload["responses"]["202"]["headers"]
    job = doc["paths"]["/imports/{job_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert job["schema"] == {"$ref": "#/components/schemas/ImportJobDocument"}
    assert upload["x-sanichain-roles"] == ["editor", "admin"]


# -- before the body: the real service, a socket that sends headers only ----------------------------

LIMIT = 100_000


@pytest.fixture(scope="module")
def service(pg_server, migrated_template, tmp_path_factory) -> Iterator[tuple[str, Engine, Path]]:
    from service.db import make_engine

    name = f"sanichain_test_imports_{int(time.time() * 1000) % 10**9}"
    url = pg_server.create(name, migrated_template)
    engine = make_engine(url)
    build_world(engine)
    directory = tmp_path_factory.mktemp("imports")
    env = {"SANICHAIN_IMPORT_DIR": str(directory), "SANICHAIN_IMPORT_MAX_BYTES": str(LIMIT)}
    with running_service(url, env=env) as base:
        yield base, engine, directory
    engine.dispose()
    pg_server.drop(name)


def complete(answer: bytes) -> bool:
    """Whether `answer` holds the whole response (headers, and the body its Content-Length gives)."""
    if b"\r\n\r\n" not in answer:
        return False
    headers, _, body = answer.partition(b"\r\n\r\n")
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def raw_request(base: str, head: str, body_chunks: Iterable[bytes] = ()) -> tuple[int, bytes]:
    """Send `head` (and the chunks, one by one, while no answer came), then read the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head.encode("latin-1"))
        answer = b""
        sock.setblocking(False)
        for chunk in body_chunks:
            with contextlib.suppress(BlockingIOError):
                answer += sock.recv(65536)
            if answer:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, BlockingIOError):
                break
            time.sleep(0.002)
        sock.setblocking(True)
        sock.settimeout(20)
        while not complete(answer):
            got = sock.recv(65536)
            if not got:
                break
            answer += got
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def head(base: str, headers: dict[str, str], length: int | None) -> str:
    host = base.removeprefix("http://")
    lines = [
        "POST /imports HTTP/1.1",
        f"Host: {host}",
        "Content-Type: multipart/form-data; boundary=XyZ",
        *(f"{k}: {v}" for k, v in headers.items()),
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


@pytest.mark.parametrize(
    ("role", "status", "said"), [(None, 401, b"sign in"), ("inspector", 403, b"inspector")]
)
def test_anonymous_and_wrong_role_uploads_are_refused_before_the_body_is_read(service, role, status, said):
    base, engine, directory = service
    headers = role_headers(engine, role) if role else {}
    started = time.monotonic()
    answer_status, answer = raw_request(base, head(base, headers, 2_000_000_000))  # 2 GB announced, none sent
    assert answer_status == status and said in answer, answer
    assert time.monotonic() - started < 10
    assert list(directory.iterdir()) == []


def test_a_declared_length_over_the_limit_is_a_413_at_once(service):
    base, engine, directory = service
    editor = role_headers(engine, "editor")
    status, answer = raw_request(base, head(base, editor, 2_000_000_000))
    assert status == 413, answer
    assert b"SANICHAIN_IMPORT_MAX_BYTES" in answer
    assert list(directory.iterdir()) == []


def test_a_chunked_upload_growing_past_the_limit_is_a_413_and_its_partial_file_is_deleted(service):
    base, engine, directory = service
    editor = role_headers(engine, "editor")
    part = (
        b'--XyZ\r\nContent-Disposition: form-data; name="layer"\r\n\r\nlivestock_farms\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + farms_csv()
    )
    rows = b"LF-9,x,\xc9\xfa\xd6\xed,1,m3,119.4,36.0,\xd4\xcb\xd0\xd0\n" * 200  # ~7 kB per chunk

    def chunked() -> Iterator[bytes]:
        for piece in [part] + [rows] * 100:  # ~700 kB: far past the 100 kB limit
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

    status, answer = raw_request(base, head(base, editor, None), chunked())
    assert status == 413, answer
    time.sleep(0.5)
    assert list(directory.iterdir()) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM imports")).scalar() == 0


# -- keeping: uploads expire, dead jobs end ----------------------------------------------------------


def test_an_expired_dry_run_upload_is_deleted_and_its_confirmation_is_a_409(api, world, upload_dir):
    editor = role_headers(world, "editor")
    dry = finished(api, editor, post_import(api, editor, farms_csv(), dry_run="true").headers["location"])
    assert len(list(upload_dir.iterdir())) == 1
    with world.begin() as conn:  # a day and an hour later
        conn.execute(
            text("UPDATE imports SET finished_at = finished_at - interval '25 hours' WHERE id = :id"),
            {"id": dry["id"]},
        )
    # the next upload's housekeeping lets the old file go
    other = post_import(api, editor, b"not a farm file", name="other.csv")
    assert finished(api, editor, other.headers["location"])["status"] == "failed"
    assert list(upload_dir.iterdir()) == []
    refused = api.post(dry["links"]["confirm"], json={"valid_rows_only": False}, headers=editor)
    assert "no longer kept" in assert_problem(refused, 409)["detail"]
    assert "confirm" not in api.get(dry["links"]["self"], headers=editor).json()["links"]


def test_a_job_whose_process_ended_is_marked_failed_by_the_next_upload(api, world):
    editor = role_headers(world, "editor")
    dry = finished(api, editor, post_import(api, editor, farms_csv(), dry_run="true").headers["location"])
    with world.begin() as conn:  # as a process that died mid-import leaves it
        conn.execute(
            text(
                "UPDATE imports SET status = 'running', finished_at = NULL, "
                "heartbeat_at = now() - interval '10 minutes' WHERE id = :id"
            ),
            {"id": dry["id"]},
        )
    post_import(api, editor, farms_csv(), dry_run="true")
    job = api.get(dry["links"]["self"], headers=editor).json()
    assert job["status"] == "failed" and "process" in job["error"]["detail"]


def test_an_upload_whose_client_goes_away_leaves_no_file(service):
    base, engine, directory = service
    editor = role_headers(engine, "editor")
    part = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="half.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + farms_csv() * 100
    )
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head(base, editor, LIMIT - 1000).encode("latin-1") + part)  # half of what it announced
        deadline = time.monotonic() + 10
        while not list(directory.glob("incoming-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(directory.glob("incoming-*")), "the upload was being received"
    deadline = time.monotonic() + 10  # the connection closed mid-body
    while list(directory.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(directory.iterdir()) == []
