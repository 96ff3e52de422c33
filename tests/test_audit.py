"""The audit log: one entry per write, sign-in, sign-out and refusal (API and command line) naming who,
from where and under which request id; nothing secret in it; the database refusing to change or
remove an entry, whoever asks; GET /audit for admins only (filters, paging, CSV that a spreadsheet
cannot run); and the sign-in rate limit that counts failures from the log."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import psycopg2
import pytest
from fastapi.testclient import TestClient
from psycopg2 import sql
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from service.accounts import audit
from service.accounts.audit import COLUMNS
from service.api.app import create_app
from service.config import AuthSettings
from service.db import make_engine
from tests import worlds
from tests.accounts import PASSWORD, role_headers, role_token, user_name
from tests.conftest import PgServer
from tests.problems import assert_problem
from tests.queries import column, rows, scalar

TOWN = "370782101"  # the one town of worlds.chain
WRONG_PASSWORD = "not the password at all"
CLI_PASSWORD = "operators own secret 42"
OPERATOR = "ann-operator"  # the OS user the commands run as (LOGNAME)
FORMULA_AGENT = '=HYPERLINK("http://evil.example/","click")'
NON_ADMIN_ROLES = ("viewer", "inspector", "planner", "editor")
SCENARIO = {"name": "关闭二村收集点", "layer": "collection_points", "distance_m": 500, "remove": ["CP2"]}
SITING = {
    "layer": "collection_points",
    "model": "maximal_covering",
    "k": 1,
    "distance_m": 1000,
    "candidates": {"source": "villages"},
}


def pg_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def dsn(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


@pytest.fixture(scope="module")
def app_engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    """The world of tests/worlds.py in a database of this module's own (its log is written to)."""
    name = f"sanichain_test_audit_{uuid.uuid4().hex[:8]}"
    engine = make_engine(pg_server.create(name, migrated_template))
    with engine.begin() as conn:
        worlds.chain(conn)
    yield engine
    engine.dispose()
    pg_server.drop(name)


@dataclass
class Writes:
    """What the module's writes were: the responses by kind, the command lines' results, the secrets."""

    responses: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    saved_scenario: int | None = None
    cli_token_id: int | None = None


def sanichain(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    env.update(DATABASE_URL=url, LOGNAME=OPERATOR)  # getpass.getuser() reads LOGNAME first
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (args, done.stderr)
    return done


@pytest.fixture(scope="module")
def writes(app_engine: Engine) -> Writes:
    """Every kind of audited write, once, against this module's world."""
    done = Writes()
    with TestClient(create_app(app_engine)) as client:
        api_writes(client, app_engine, done)
    command_writes(app_engine, done)
    return done


def api_writes(client: TestClient, app_engine: Engine, done: Writes) -> None:
    def as_role(role: str, agent: str) -> dict[str, str]:
        return {**role_headers(app_engine, role), "User-Agent": agent}

    planner, editor = as_role("planner", "audit-test planner"), as_role("editor", "audit-test editor")
    r = done.responses
    r["scenario"] = client.post("/planning/scenarios", json=SCENARIO, headers=planner)
    r["scenario saved"] = client.post("/planning/scenarios", json={**SCENARIO, "save": True}, headers=planner)
    done.saved_scenario = r["scenario saved"].json()["id"]
    r["siting"] = client.post("/planning/siting", json=SITING, headers=planner)
    r["propose"] = client.post("/chain/assignments", json={"stream": "domestic_waste"}, headers=planner)
    r["apply"] = client.post(
        "/chain/assignments", json={"stream": "domestic_waste", "apply": True}, headers=editor
    )
    r["refused"] = client.post("/planning/scenarios", json=SCENARIO, headers=as_role("viewer", "audit-test"))
    sign_in = {"username": user_name("inspector"), "password": PASSWORD}
    role_token(app_engine, "inspector")  # the user exists
    r["sign_in failed"] = client.post(
        "/auth/token",
        data={**sign_in, "password": WRONG_PASSWORD},
        headers={"User-Agent": FORMULA_AGENT},
    )
    r["sign_in"] = client.post("/auth/token", data=sign_in, headers={"User-Agent": "audit-test browser"})
    access = r["sign_in"].json()["access_token"]
    r["sign_out"] = client.post(
        "/auth/logout", headers={"Authorization": f"Bearer {access}", "User-Agent": "audit-test browser"}
    )
    for response in r.values():
        assert response.status_code in (200, 401, 403), response.text
    done.secrets += [PASSWORD, WRONG_PASSWORD, access]


def command_writes(app_engine: Engine, done: Writes) -> None:
    url = pg_url(app_engine)
    c = done.commands
    c["users add"] = sanichain(
        url, "users", "add", "clerk", "--role", "editor", "--town", TOWN, "--password-stdin",
        stdin=CLI_PASSWORD + "\n",
    )  # fmt: skip
    c["users role"] = sanichain(url, "users", "role", "clerk", "planner")
    c["users disable"] = sanichain(url, "users", "disable", "clerk")
    c["tokens create"] = sanichain(url, "tokens", "create", user_name("viewer"), "--label", "survey")
    done.cli_token_id = scalar(app_engine, "SELECT max(id) FROM api_tokens WHERE name = 'survey'")
    c["tokens revoke"] = sanichain(url, "tokens", "revoke", str(done.cli_token_id))

    done.secrets += [
        CLI_PASSWORD,
        c["tokens create"].stdout.strip(),
        *(role_token(app_engine, role) for role in ("planner", "editor", "viewer", "inspector")),
    ]


def entry_of(engine: Engine, response: Any) -> dict[str, Any]:
    """The one audit entry of a response's request (by its X-Request-ID)."""
    request_id = response.headers["x-request-id"]
    found = rows(engine, "SELECT * FROM audit_log WHERE request_id = :r", r=request_id)
    assert len(found) == 1, (request_id, found)
    return dict(found[0]._mapping)


def who_and_where(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["user_name"], row["role"], row["route"], row["address"], row["user_agent"]


# -- one entry per write ---------------------------------------------------------------------------
def test_a_scenario_played_is_one_entry_saved_or_not(app_engine, writes):
    where = ("test-planner", "planner", "POST /planning/scenarios", "testclient", "audit-test planner")
    played = entry_of(app_engine, writes.responses["scenario"])
    saved = entry_of(app_engine, writes.responses["scenario saved"])
    for row in (played, saved):
        assert who_and_where(row) == where
        assert (row["action"], row["outcome"], row["layer"]) == ("scenario.play", "ok", "collection_points")
        assert row["detail"]["name"] == "关闭二村收集点" and row["detail"]["request"]["remove"] == ["CP2"]
    assert (played["target_id"], played["detail"]["saved"]) == (None, False)
    assert (saved["target_id"], saved["detail"]["saved"]) == (str(writes.saved_scenario), True)
    assert played["request_id"] != saved["request_id"]


def test_a_siting_run_is_one_entry(app_engine, writes):
    assert writes.responses["siting"].status_code == 200, writes.responses["siting"].text
    row = entry_of(app_engine, writes.responses["siting"])
    assert who_and_where(row) == (
        "test-planner", "planner", "POST /planning/siting", "testclient", "audit-test planner"
    )  # fmt: skip
    assert (row["action"], row["outcome"], row["layer"]) == ("siting.run", "ok", "collection_points")
    assert row["detail"] == {"model": "maximal_covering", "k": 1, "distance_m": 1000}


def test_an_assignment_proposed_and_applied_are_one_entry_each(app_engine, writes):
    proposed = entry_of(app_engine, writes.responses["propose"])
    applied = entry_of(app_engine, writes.responses["apply"])
    assert who_and_where(proposed) == (
        "test-planner", "planner", "POST /chain/assignments", "testclient", "audit-test planner"
    )  # fmt: skip
    assert who_and_where(applied) == (
        "test-editor", "editor", "POST /chain/assignments", "testclient", "audit-test editor"
    )  # fmt: skip
    assert (proposed["action"], proposed["layer"]) == ("chain.propose", None)
    assert (applied["action"], applied["layer"]) == ("chain.assign", "chain_links")
    result = writes.responses["apply"].json()
    assert applied["detail"]["applied"] == result["applied"] and proposed["detail"]["applied"] == 0
    assert proposed["detail"]["stream"] == "domestic_waste"


def test_sign_in_ok_and_failed_and_sign_out_are_one_entry_each(app_engine, writes):
    r = writes.responses
    assert (r["sign_in failed"].status_code, r["sign_in"].status_code, r["sign_out"].status_code) == (
        401, 200, 200,
    )  # fmt: skip
    failed, ok = entry_of(app_engine, r["sign_in failed"]), entry_of(app_engine, r["sign_in"])
    out = entry_of(app_engine, r["sign_out"])
    assert (failed["action"], failed["outcome"], failed["user_name"], failed["role"]) == (
        "sign_in", "failed", "test-inspector", None,
    )  # fmt: skip
    assert (failed["route"], failed["address"], failed["user_agent"]) == (
        "POST /auth/token", "testclient", FORMULA_AGENT,
    )  # fmt: skip
    assert who_and_where(ok) == (
        "test-inspector", "inspector", "POST /auth/token", "testclient", "audit-test browser"
    )  # fmt: skip
    assert (ok["action"], ok["outcome"], ok["detail"]) == ("sign_in", "ok", {"kind": "access"})
    assert who_and_where(out) == (
        "test-inspector", "inspector", "POST /auth/logout", "testclient", "audit-test browser"
    )  # fmt: skip
    assert (out["action"], out["outcome"]) == ("sign_out", "ok")
    assert out["target_id"] == ok["target_id"]  # the token signed out is the one signed in


def test_a_refusal_by_role_is_one_entry_naming_the_permission(app_engine, writes):
    response = writes.responses["refused"]
    assert_problem(response, 403, None, "viewer", "plan")
    row = entry_of(app_engine, response)
    assert who_and_where(row) == (
        "test-viewer",
        "viewer",
        "POST /planning/scenarios",
        "testclient",
        "audit-test",
    )
    assert (row["action"], row["outcome"]) == ("plan", "refused")
    assert row["detail"]["reason"] == response.json()["detail"]


def cli_entries(engine: Engine) -> dict[str, dict[str, Any]]:
    found = rows(engine, "SELECT * FROM audit_log WHERE route LIKE 'sanichain %' ORDER BY id")
    return {row.route.removeprefix("sanichain "): dict(row._mapping) for row in found}


def test_each_accounts_command_is_one_entry_of_the_operator(app_engine, writes):
    found = cli_entries(app_engine)
    assert list(found) == list(writes.commands)  # in the order they ran
    assert scalar(app_engine, "SELECT count(*) FROM audit_log WHERE route LIKE 'sanichain %'") == 5
    for command, row in found.items():
        assert (row["user_name"], row["user_id"], row["role"], row["outcome"]) == (
            f"cli:{OPERATOR}", None, None, "ok",
        ), command  # fmt: skip
        assert (row["address"], row["user_agent"], row["request_id"]) == (None, None, None)
        assert row["action"] == command.replace(" ", ".")
    summary = {
        command: (row["layer"], row["target_id"], row["before"], row["after"])
        for command, row in found.items()
    }
    token = str(writes.cli_token_id)
    assert summary["users add"] == (
        "users",
        "clerk",
        None,
        {"role": "editor", "town": TOWN, "disabled": False},
    )
    assert summary["users role"] == (
        "users", "clerk", {"role": "editor", "town": TOWN}, {"role": "planner", "town": None}
    )  # fmt: skip
    assert summary["users disable"] == ("users", "clerk", {"disabled": False}, {"disabled": True})
    layer, target, before, after = summary["tokens create"]
    assert (layer, target, before) == ("api_tokens", token, None)
    assert (after["user"], after["label"], after["expires_at"]) == ("test-viewer", "survey", None)
    assert summary["tokens revoke"] == ("api_tokens", token, {"state": "active"}, {"state": "revoked"})
    assert found["tokens revoke"]["detail"] == {"user": "test-viewer", "label": "survey"}


def test_a_command_that_fails_leaves_no_entry(app_engine, writes):
    before = scalar(app_engine, "SELECT count(*) FROM audit_log")
    env = {**os.environ, "DATABASE_URL": pg_url(app_engine), "LOGNAME": OPERATOR}
    failed = subprocess.run(
        [sys.executable, "-m", "service.cli", "users", "disable", "nobody"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 1 and "no user named 'nobody'" in failed.stderr
    assert scalar(app_engine, "SELECT count(*) FROM audit_log") == before


def test_no_password_or_token_is_anywhere_in_the_log(app_engine, writes):
    assert all(len(secret) >= 8 for secret in writes.secrets)
    dump = scalar(app_engine, "SELECT string_agg(a::text, ' ') FROM audit_log a")
    assert scalar(app_engine, "SELECT count(*) FROM audit_log") >= 13
    assert [secret for secret in writes.secrets if secret in dump] == []


# -- the database refuses to change the log --------------------------------------------------------
def snapshot(engine: Engine) -> list[str]:
    return column(engine, "SELECT a::text FROM audit_log a ORDER BY id")


CHANGES = (
    "UPDATE audit_log SET outcome = 'failed', user_name = 'someone else'",
    "DELETE FROM audit_log WHERE action = 'sign_in'",
    "TRUNCATE audit_log",
)


def refused(url: str, statement: str) -> psycopg2.Error:
    with closing(psycopg2.connect(dsn(url))) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.Error) as caught:
            cur.execute(statement)
        conn.rollback()
    return caught.value


@pytest.mark.parametrize("statement", CHANGES)
def test_the_tables_owner_cannot_change_or_remove_an_entry(app_engine, writes, statement):
    before = snapshot(app_engine)
    owner = "SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'audit_log'"
    assert scalar(app_engine, owner)
    error = refused(pg_url(app_engine), statement)
    assert error.pgcode == "42501" and "audit_log is append-only" in str(error)
    assert snapshot(app_engine) == before


@pytest.fixture
def clerk_url(app_engine: Engine) -> Iterator[str]:
    """An ordinary role (no superuser, not the owner) that may read, insert, update, delete and
    truncate audit_log by its grants: only the trigger stands in its way."""
    role, password = f"audit_clerk_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    ident = sql.Identifier(role)
    database = sql.Identifier(app_engine.url.database or "")
    with closing(psycopg2.connect(dsn(pg_url(app_engine)))) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(password)))
        cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, ident))
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        cur.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON audit_log TO {}").format(ident)
        )
    yield (
        make_url(pg_url(app_engine))
        .set(username=role, password=password)
        .render_as_string(hide_password=False)
    )
    with closing(psycopg2.connect(dsn(pg_url(app_engine)))) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute(sql.SQL("DROP OWNED BY {}").format(ident))  # its grants
        cur.execute(sql.SQL("DROP ROLE {}").format(ident))


def test_an_ordinary_role_with_every_grant_cannot_change_or_remove_an_entry(app_engine, writes, clerk_url):
    with closing(psycopg2.connect(dsn(clerk_url))) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (False,)
        cur.execute("INSERT INTO audit_log (action, route) VALUES ('probe', 'by hand') RETURNING id")
        conn.commit()  # appending is what its grants allow
    before = snapshot(app_engine)
    assert before[-1].startswith("(") and "probe" in before[-1]
    for statement in CHANGES:
        error = refused(clerk_url, statement)
        assert error.pgcode == "42501" and "audit_log is append-only" in str(error), statement
    assert snapshot(app_engine) == before


# -- GET /audit ------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["open", "signed-in"])
def test_the_log_is_not_for_anonymous_users_whatever_the_read_policy(client, policy):
    client.app.state.auth_settings = AuthSettings(SANICHAIN_READ_POLICY=policy)
    assert_problem(client.get("/audit"), 401, None, "sign in")
    assert_problem(client.get("/audit?f=csv"), 401)


@pytest.mark.parametrize(("role", "town"), [*((r, None) for r in NON_ADMIN_ROLES), ("admin", TOWN)])
def test_the_log_is_refused_to_every_role_but_a_city_wide_admin(client, app_engine, role, town):
    response = client.get("/audit", headers=role_headers(app_engine, role, town))
    assert_problem(response, 403, None, "read audit")
    row = entry_of(app_engine, response)
    assert (row["user_name"], row["action"], row["outcome"], row["route"]) == (
        user_name(role, town), "read_audit", "refused", "GET /audit",
    )  # fmt: skip


def admin_get(client: TestClient, engine: Engine, path: str) -> Any:
    response = client.get(path, headers=role_headers(engine, "admin"))
    assert response.status_code == 200, response.text
    return response


def test_an_entry_reads_back_as_written(client, app_engine, writes):
    siting = writes.responses["siting"]
    (entry,) = admin_get(client, app_engine, "/audit?action=siting.run").json()["entries"]
    assert set(entry) == set(COLUMNS)
    assert entry["request_id"] == siting.headers["x-request-id"]
    assert entry["detail"] == {"model": "maximal_covering", "k": 1, "distance_m": 1000}
    at = datetime.fromisoformat(entry["at"])
    assert at.tzinfo is not None and abs(datetime.now(UTC) - at) < timedelta(hours=1)
    stored = entry_of(app_engine, siting)
    assert entry["id"] == stored["id"] and entry["route"] == stored["route"] == "POST /planning/siting"


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("user=test-planner", "user_name = 'test-planner'"),
        ("user=cli:" + OPERATOR, f"user_name = 'cli:{OPERATOR}'"),
        ("layer=users", "layer = 'users'"),
        ("action=sign_in", "action = 'sign_in'"),
        ("action=sign_in&user=test-inspector", "action = 'sign_in' AND user_name = 'test-inspector'"),
        ("user=nobody", "false"),
    ],
)
def test_filters_answer_exactly_the_matching_entries(client, app_engine, writes, query, where):
    expected = column(app_engine, f"SELECT id FROM audit_log WHERE {where} ORDER BY id")
    entries = admin_get(client, app_engine, f"/audit?{query}&limit=10000").json()["entries"]
    assert [e["id"] for e in entries] == expected
    if query == "layer=users":
        assert [e["action"] for e in entries] == ["users.add", "users.role", "users.disable"]


def test_since_and_until_bound_the_entries_by_time(client, app_engine, writes):
    ids_at = rows(app_engine, "SELECT id, at FROM audit_log ORDER BY id")
    middle_id, middle_at = ids_at[len(ids_at) // 2]

    def ids(query: str) -> list[int]:
        return [
            e["id"] for e in admin_get(client, app_engine, f"/audit?{query}&limit=10000").json()["entries"]
        ]

    since = middle_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert ids(f"since={since}") == [i for i, at in ids_at if at >= middle_at]
    assert ids(f"until={since}") == [i for i, at in ids_at if at < middle_at]
    assert middle_id in ids(f"since={since}") and middle_id not in ids(f"until={since}")
    today = datetime.now(UTC).date()
    all_ids = [i for i, _ in ids_at]
    assert ids(f"since={today}")[: len(all_ids)] == all_ids  # a date is its whole day, UTC
    assert ids(f"until={today}")[: len(all_ids)] == all_ids
    assert ids(f"since={today + timedelta(days=1)}") == []
    assert ids(f"until={today - timedelta(days=1)}") == []
    in_beijing = middle_at.astimezone(timezone(timedelta(hours=8))).isoformat()
    assert in_beijing.endswith("+08:00")
    assert ids(f"since={quote(in_beijing)}") == [i for i, at in ids_at if at >= middle_at]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-02-30", "since"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("cursor=bm9wZQ", "cursor"),
        ("f=xlsx", "f"),
        ("user=" + "x" * 201, "user"),
        ("colour=red", "colour"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(client, app_engine, query, parameter):
    response = client.get(f"/audit?{query}", headers=role_headers(app_engine, "admin"))
    assert_problem(response, 400, parameter)


def test_paging_with_the_next_link_returns_every_entry_once_oldest_first(client, app_engine, writes):
    expected = column(app_engine, "SELECT id FROM audit_log ORDER BY id")
    seen: list[int] = []
    url: str | None = "/audit?limit=4"
    pages = 0
    while url is not None:
        page = admin_get(client, app_engine, url).json()
        assert len(page["entries"]) <= 4
        seen += [e["id"] for e in page["entries"]]
        links = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url = links[0] if links else None
        assert url is None or (url.startswith("http://testserver/audit?") and "limit=4" in url)
        pages += 1
    assert seen[: len(expected)] == expected and len(seen) == len(set(seen))
    assert pages == -(-len(seen) // 4)


def test_csv_has_every_column_and_entry_and_no_live_formula(client, app_engine, writes):
    day = datetime.now(UTC)
    response = admin_get(client, app_engine, "/audit?f=csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    days = {f"{d:%Y%m%d}" for d in (day, datetime.now(UTC))}
    assert response.headers["content-disposition"] in {f'attachment; filename="audit-{d}.csv"' for d in days}
    header, *records = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert header == list(COLUMNS)
    by_id = {int(r[0]): dict(zip(COLUMNS, r, strict=True)) for r in records}
    assert sorted(by_id)[: scalar(app_engine, "SELECT count(*) FROM audit_log")] == column(
        app_engine, "SELECT id FROM audit_log ORDER BY id"
    )
    failed = by_id[entry_of(app_engine, writes.responses["sign_in failed"])["id"]]
    assert failed["user_agent"] == "'" + FORMULA_AGENT  # shown as text, never run
    assert (failed["action"], failed["outcome"], failed["user_name"]) == (
        "sign_in",
        "failed",
        "test-inspector",
    )
    siting = by_id[entry_of(app_engine, writes.responses["siting"])["id"]]
    assert siting["detail"] == '{"distance_m":1000.0,"k":1,"model":"maximal_covering"}'  # compact JSON
    assert (
        siting["before"] == "" and siting["request_id"] == writes.responses["siting"].headers["x-request-id"]
    )
    assert datetime.fromisoformat(siting["at"]).tzinfo is not None
    assert not any(cell.startswith(("=", "+", "@")) for r in records for cell in r)


def test_csv_takes_the_filters_too(client, app_engine, writes):
    response = admin_get(client, app_engine, "/audit?f=csv&layer=api_tokens")
    _, *records = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r[COLUMNS.index("action")], r[COLUMNS.index("target_id")]) for r in records] == [
        ("tokens.create", str(writes.cli_token_id)),
        ("tokens.revoke", str(writes.cli_token_id)),
    ]


# -- the command line reads the log -----------------------------------------------------------------
def test_sanichain_audit_prints_entries_tab_separated_or_as_csv(app_engine, writes):
    url = pg_url(app_engine)
    lines = sanichain(url, "audit", "--layer", "users").stdout.splitlines()
    cells = [line.split("\t") for line in lines]
    assert [len(c) for c in cells] == [len(COLUMNS)] * 3
    assert [(c[COLUMNS.index("action")], c[COLUMNS.index("user_name")]) for c in cells] == [
        ("users.add", f"cli:{OPERATOR}"),
        ("users.role", f"cli:{OPERATOR}"),
        ("users.disable", f"cli:{OPERATOR}"),
    ]
    assert cells[2][COLUMNS.index("after")] == '{"disabled":true}'
    since = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert sanichain(url, "audit", "--since", since).stdout == ""
    out = sanichain(url, "audit", "--action", "sign_in", "--user", "test-inspector", "--csv").stdout
    header, *records = list(csv.reader(io.StringIO(out)))
    assert header == list(COLUMNS)
    assert sorted(r[COLUMNS.index("outcome")] for r in records) == ["failed", "ok"]
    assert "'" + FORMULA_AGENT in [r[COLUMNS.index("user_agent")] for r in records]


def test_sanichain_audit_names_a_bad_date(app_engine):
    env = {**os.environ, "DATABASE_URL": pg_url(app_engine)}
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "audit", "--since", "last week"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stderr.startswith("sanichain: error: since: not an ISO 8601 date")


def test_parse_instant_reads_dates_and_date_times():
    assert audit.parse_instant("since", "2026-12-03") == datetime(2026, 12, 3, tzinfo=UTC)
    assert audit.parse_instant("until", "2026-12-03", day_end=True) == datetime(2026, 12, 4, tzinfo=UTC)
    assert audit.parse_instant("since", "2026-12-03T08:00:00+08:00") == datetime(2026, 12, 3, tzinfo=UTC)
    assert audit.parse_instant("since", "2026-12-03T08:00") == datetime(2026, 12, 3, 8, tzinfo=UTC)
    assert audit.parse_instant("since", None) is None


# -- the sign-in rate limit, counted from the log ---------------------------------------------------
@pytest.fixture
def sign_in_client(empty_engine: Engine) -> Iterator[TestClient]:
    """A fresh database (no failures counted yet) with users ann and bob, and low limits."""
    with empty_engine.begin() as conn:
        from service.accounts import users

        users.add(conn, "ann", "viewer", PASSWORD)
        users.add(conn, "bob", "viewer", PASSWORD)
    with TestClient(create_app(empty_engine)) as client:
        client.app.state.auth_settings = AuthSettings(
            SANICHAIN_LOGIN_FAILURES_PER_ACCOUNT=3, SANICHAIN_LOGIN_FAILURES_PER_ADDRESS=5
        )
        yield client


def sign_in(client: TestClient, name: str, password: str) -> Any:
    return client.post("/auth/token", data={"username": name, "password": password})


def test_three_wrong_passwords_lock_the_account_even_for_the_right_one(sign_in_client, empty_engine):
    for _ in range(3):
        assert_problem(
            sign_in(sign_in_client, "ann", WRONG_PASSWORD), 401, None, "wrong user name or password"
        )
    locked = sign_in(sign_in_client, "ann", PASSWORD)
    assert_problem(locked, 429, None, "too many failed sign-ins")
    assert locked.headers["retry-after"] == str(15 * 60)  # the window
    row = entry_of(empty_engine, locked)
    assert (row["action"], row["outcome"], row["user_name"], row["detail"]) == (
        "sign_in", "refused", "ann", {"reason": "rate limit"},
    )  # fmt: skip
    assert (row["route"], row["address"]) == ("POST /auth/token", "testclient")
    assert column(empty_engine, "SELECT outcome FROM audit_log WHERE user_name = 'ann' ORDER BY id") == [
        "failed", "failed", "failed", "refused",
    ]  # fmt: skip
    assert sign_in(sign_in_client, "bob", PASSWORD).status_code == 200  # another account: 3 < 5 here


def test_the_address_limit_counts_every_account_unknown_names_included(sign_in_client, empty_engine):
    for name in ("ann", "ann", "ghost", "nobody"):  # four failures from this address
        assert sign_in(sign_in_client, name, WRONG_PASSWORD).status_code == 401
    assert sign_in(sign_in_client, "bob", PASSWORD).status_code == 200
    assert sign_in(sign_in_client, "ghost", WRONG_PASSWORD).status_code == 401  # the fifth
    for name in ("bob", "ann"):
        response = sign_in(sign_in_client, name, PASSWORD)
        assert response.status_code == 429 and response.headers["retry-after"] == "900", name


def test_failures_for_an_unknown_name_lock_that_name(sign_in_client, empty_engine):
    for _ in range(3):
        assert sign_in(sign_in_client, "ghost", WRONG_PASSWORD).status_code == 401
    assert sign_in(sign_in_client, "ghost", PASSWORD).status_code == 429
    assert sign_in(sign_in_client, "ann", PASSWORD).status_code == 200
    assert column(empty_engine, "SELECT outcome FROM audit_log WHERE user_name = 'ghost' ORDER BY id") == [
        "failed", "failed", "failed", "refused",
    ]  # fmt: skip
