"""The browser's sign-in (/login, /logout) over HTTP: the session cookie and its attributes, the login
form's CSRF value, the page to return to kept on this site, refusals answered as pages, sign-out that
revokes, and the read policy sending browsers to the login page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.accounts import users
from service.api.login_page import LOGIN_CSRF_COOKIE, LOGIN_CSRF_SECONDS, local_path
from service.api.security import SESSION_COOKIE, csrf_token
from service.config import AuthSettings
from service.db import make_engine
from tests import worlds
from tests.accounts import PASSWORD
from tests.conftest import PgServer
from tests.problems import assert_problem
from tests.queries import rows

TOWN = "370782101"  # worlds.town's code
HTML = "text/html; charset=utf-8"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
THIRTY_DAYS_S = 30 * 86400  # SANICHAIN_SESSION_DAYS' default


@pytest.fixture(scope="module")
def accounts_template(pg_server: PgServer, migrated_template: str) -> Iterator[str]:
    """A town and two users, hashed once: each test copies this database (argon2 is slow on purpose)."""
    name = f"sanichain_test_login_{uuid.uuid4().hex[:8]}"
    engine = make_engine(pg_server.create(name, migrated_template))
    with engine.begin() as conn:
        worlds.one_town(conn, worlds.square(119.3, 35.9, 0.1), (119.35, 35.95))
        users.add(conn, "wang", "inspector", PASSWORD, TOWN)
        users.add(conn, "li", "planner", PASSWORD)
    engine.dispose()  # a template database takes no connections
    yield name
    pg_server.drop(name)


@pytest.fixture
def app_engine(pg_server: PgServer, accounts_template: str) -> Iterator[Engine]:
    """A database of each test's own: sign-ins write tokens and audit rows, and failures count."""
    name = f"sanichain_test_{uuid.uuid4().hex[:10]}"
    engine = make_engine(pg_server.create(name, accounts_template))
    yield engine
    engine.dispose()
    pg_server.drop(name)


def set_cookies(response: Any) -> dict[str, dict[str, str]]:
    """Each Set-Cookie of a response: its value and attributes (names lower-cased; flags map to "")."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        found[name] = {"value": value}
        for attribute in attributes:
            key, _, setting = attribute.partition("=")
            found[name][key.lower()] = setting
    return found


def form_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def sign_in(client: TestClient, name: str = "wang", password: str = PASSWORD, next_path: str = "/") -> Any:
    """The login page opened, then its form posted as a browser would (the redirect not followed)."""
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200, page.text
    fields = {"username": name, "password": password, "next": next_path, "csrf_token": form_token(page.text)}
    return client.post("/login", data=fields, follow_redirects=False)


@pytest.fixture
def signed_in(client: TestClient) -> Iterator[TestClient]:
    response = sign_in(client)
    assert response.status_code == 303, response.text
    yield client


def sign_ins(engine: Engine) -> list[tuple[str | None, str]]:
    return [
        (row.user_name, row.outcome)
        for row in rows(
            engine, "SELECT user_name, outcome FROM audit_log WHERE action = 'sign_in' ORDER BY id"
        )
    ]


# -- the page -------------------------------------------------------------------------------------
def test_the_login_page_is_a_phone_form_carrying_its_login_csrf_value_in_a_strict_cookie(client):
    response = client.get("/login", params={"next": "/collections?f=html"})
    assert response.status_code == 200
    assert response.headers["content-type"] == HTML
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert '<html lang="zh-CN">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<form method="post" action="/login">' in page and "登录" in page and "Sign in" in page
    assert 'name="username"' in page and 'type="password"' in page
    assert '<input type="hidden" name="next" value="/collections?f=html">' in page
    cookie = set_cookies(response)[LOGIN_CSRF_COOKIE]
    assert form_token(page) == cookie["value"] and len(cookie["value"]) == 43
    assert {k: v for k, v in cookie.items() if k != "value"} == {
        "httponly": "",
        "max-age": str(LOGIN_CSRF_SECONDS),
        "path": "/login",
        "samesite": "strict",
    }
    # a second tab gets the same value, so the first tab's form still works
    again = client.get("/login")
    assert form_token(again.text) == cookie["value"]


def test_the_login_page_never_offers_an_outside_address_to_return_to(client):
    page = client.get("/login", params={"next": "//evil.example/x"}).text
    assert '<input type="hidden" name="next" value="/">' in page


# -- signing in -----------------------------------------------------------------------------------
def test_signing_in_sets_an_httponly_lax_session_cookie_for_the_session_days_and_goes_to_next(
    client, app_engine
):
    response = sign_in(client, next_path="/collections")
    assert response.status_code == 303
    assert response.headers["location"] == "/collections"
    cookies = set_cookies(response)
    session = cookies[SESSION_COOKIE]
    assert len(session["value"]) == 43
    # http://testserver is neither https nor loopback: no Secure under the default `auto`
    assert {k: v for k, v in session.items() if k != "value"} == {
        "httponly": "",
        "max-age": str(THIRTY_DAYS_S),
        "path": "/",
        "samesite": "lax",
    }
    assert cookies[LOGIN_CSRF_COOKIE]["max-age"] == "0"  # the pre-session value is spent
    assert sign_ins(app_engine) == [("wang", "ok")]
    entry = rows(app_engine, "SELECT role, route, address, detail FROM audit_log WHERE action = 'sign_in'")[0]
    assert (entry.role, entry.route, entry.address) == ("inspector", "POST /login", "testclient")
    assert entry.detail == {"kind": "session"}


@pytest.mark.parametrize(
    ("base_url", "setting", "secure"),
    [
        ("http://localhost", "auto", True),  # browsers keep Secure cookies on loopback over http
        ("http://127.0.0.1", "auto", True),
        ("https://testserver", "auto", True),
        ("http://testserver", "auto", False),
        ("http://testserver", "always", True),
        ("http://localhost", "never", False),
    ],
)
def test_the_session_cookie_is_secure_on_https_and_loopback_or_as_configured(
    client, base_url, setting, secure
):
    client.app.state.auth_settings = AuthSettings(SANICHAIN_COOKIE_SECURE=setting, SANICHAIN_SESSION_DAYS=7)
    client.base_url = base_url
    page = client.get("/login")
    login_cookie = set_cookies(page)[LOGIN_CSRF_COOKIE]
    assert ("secure" in login_cookie) is secure
    fields = {"username": "wang", "password": PASSWORD, "next": "/", "csrf_token": form_token(page.text)}
    # a Secure cookie is not sent back over http by the test client's jar: sent by hand, as a browser would
    client.cookies.clear()
    response = client.post(
        "/login",
        data=fields,
        headers={"Cookie": f"{LOGIN_CSRF_COOKIE}={login_cookie['value']}"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    session = set_cookies(response)[SESSION_COOKIE]
    assert ("secure" in session) is secure
    assert session["max-age"] == str(7 * 86400)
    assert (session["httponly"], session["path"], session["samesite"]) == ("", "/", "lax")


def test_the_session_cookie_signs_the_browser_in_and_gives_the_pages_their_csrf_token(signed_in):
    session = signed_in.cookies[SESSION_COOKIE]
    me = signed_in.get("/auth/me")
    assert me.status_code == 200
    assert me.json() == {
        "name": "wang",
        "role": "inspector",
        "town": TOWN,
        "signed_in_with": "session",
        "csrf_token": csrf_token(session),
    }


def test_a_cookie_write_without_the_csrf_header_is_refused_and_with_it_passes(signed_in):
    session = signed_in.cookies[SESSION_COOKIE]
    refused = signed_in.post("/auth/logout")
    assert_problem(refused, 403, None, "CSRF")  # an API route: still a problem document
    assert signed_in.get("/auth/me").status_code == 200  # nothing happened
    forged = signed_in.post("/auth/logout", headers={"X-CSRF-Token": csrf_token(session + "x")})
    assert_problem(forged, 403, None, "CSRF")
    done = signed_in.post("/auth/logout", headers={"X-CSRF-Token": csrf_token(session)})
    assert done.status_code == 200
    assert done.json() == {"signed_out": "wang", "revoked": True}


def test_a_wrong_password_or_an_unknown_user_is_the_same_401_page_and_sets_no_session(client, app_engine):
    wrong = sign_in(client, password="not the password")
    unknown = sign_in(client, name="nobody")
    for response, name in ((wrong, "wang"), (unknown, "nobody")):
        assert response.status_code == 401
        assert response.headers["content-type"] == HTML
        assert "wrong user name or password" in response.text and "用户名或密码错误" in response.text
        assert f'name="username" value="{name}"' in response.text  # typed again only the password
        assert "not the password" not in response.text
        assert SESSION_COOKIE not in set_cookies(response)
        assert LOGIN_CSRF_COOKIE in set_cookies(response)  # the form shown again works
    # never which of the two was wrong
    assert wrong.text.replace('value="wang"', "") == unknown.text.replace('value="nobody"', "")
    assert sign_ins(app_engine) == [("wang", "failed"), ("nobody", "failed")]
    assert SESSION_COOKIE not in client.cookies
    assert_problem(client.get("/auth/me"), 401)


def test_signing_in_again_after_a_wrong_password_from_the_page_shown_works(client, app_engine):
    wrong = sign_in(client, password="nope", next_path="/collections")
    assert 'name="next" value="/collections"' in wrong.text
    fields = {"username": "wang", "password": PASSWORD, "next": "/collections"}
    again = client.post(
        "/login", data={**fields, "csrf_token": form_token(wrong.text)}, follow_redirects=False
    )
    assert again.status_code == 303 and again.headers["location"] == "/collections"
    assert sign_ins(app_engine) == [("wang", "failed"), ("wang", "ok")]


def test_too_many_failed_sign_ins_is_a_429_page_with_retry_after(client, app_engine):
    client.app.state.auth_settings = AuthSettings(
        SANICHAIN_LOGIN_FAILURES_PER_ACCOUNT=2, SANICHAIN_LOGIN_FAILURE_WINDOW_MINUTES=10
    )
    assert sign_in(client, password="nope").status_code == 401
    assert sign_in(client, password="nope").status_code == 401
    limited = sign_in(client)  # the right password, too late
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "600"
    assert limited.headers["content-type"] == HTML
    assert "too many failed sign-ins" in limited.text and "登录失败次数过多" in limited.text
    assert SESSION_COOKIE not in set_cookies(limited)
    assert sign_ins(app_engine) == [("wang", "failed"), ("wang", "failed"), ("wang", "refused")]


@pytest.mark.parametrize(
    ("cookie", "field"),
    [(None, None), ("known", None), (None, "known"), ("known", "forged")],
    ids=["neither", "cookie-only", "field-only", "forged-field"],
)
def test_a_missing_or_forged_login_csrf_value_is_a_403_page_before_any_password_check(
    client, app_engine, cookie, field
):
    value = form_token(client.get("/login").text)
    client.cookies.clear()
    headers = {"Cookie": f"{LOGIN_CSRF_COOKIE}={value}"} if cookie else {}
    fields = {"username": "wang", "password": PASSWORD, "next": "/"}
    if field is not None:
        fields["csrf_token"] = value if field == "known" else value[:-1] + ("A" if value[-1] != "A" else "B")
    response = client.post("/login", data=fields, headers=headers, follow_redirects=False)
    assert response.status_code == 403
    assert response.headers["content-type"] == HTML
    assert "the sign-in form expired or did not come from this site" in response.text
    assert SESSION_COOKIE not in set_cookies(response)
    assert sign_ins(app_engine) == []  # refused before the password was looked at


@pytest.mark.parametrize(
    "outside",
    ["https://evil.example", "//evil.example", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)",
     "evil.example/collections", "", "/" + "a" * 2000],
)  # fmt: skip
def test_a_next_that_is_not_a_local_path_lands_on_the_root(client, outside):
    response = sign_in(client, next_path=outside)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_a_local_next_with_its_query_is_kept():
    kept = "/collections/villages/items?f=html&limit=10"
    assert local_path(kept) == kept
    assert local_path("/maps/city") == "/maps/city"


# -- signed in, signing out -----------------------------------------------------------------------
def test_the_login_page_of_a_signed_in_browser_names_the_user_and_offers_sign_out(signed_in):
    session = signed_in.cookies[SESSION_COOKIE]
    page = signed_in.get("/login", params={"next": "/maps/city"})
    assert page.status_code == 200
    text = re.sub(r"<[^>]+>", "", page.text)
    assert f"Signed in as wang (inspector, {TOWN})" in text
    assert '<form method="post" action="/logout">' in page.text
    assert form_token(page.text) == csrf_token(session)
    assert 'href="/maps/city"' in page.text
    assert 'name="password"' not in page.text


def test_a_user_without_a_town_is_named_with_the_role_alone(client):
    sign_in(client, name="li")
    text = re.sub(r"<[^>]+>", "", client.get("/login").text)
    assert "Signed in as li (planner)" in text


def test_sign_out_without_the_sessions_csrf_token_is_a_403_and_the_session_stays(signed_in, app_engine):
    for fields in ({}, {"csrf_token": "forged"}, {"csrf_token": csrf_token("another session")}):
        response = signed_in.post("/logout", data=fields, follow_redirects=False)
        assert response.status_code == 403
        assert response.headers["content-type"] == HTML
        assert "Signed in as" in re.sub(r"<[^>]+>", "", response.text)  # the button offered again
        assert SESSION_COOKIE not in set_cookies(response)
    assert signed_in.get("/auth/me").json()["name"] == "wang"
    assert rows(app_engine, "SELECT id FROM audit_log WHERE action = 'sign_out'") == []


def test_sign_out_revokes_the_session_deletes_the_cookie_and_is_audited(signed_in, app_engine):
    session = signed_in.cookies[SESSION_COOKIE]
    response = signed_in.post("/logout", data={"csrf_token": csrf_token(session)}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    deleted = set_cookies(response)[SESSION_COOKIE]
    assert (deleted["value"], deleted["max-age"], deleted["path"]) == ('""', "0", "/")
    assert SESSION_COOKIE not in signed_in.cookies
    # the old cookie, presented again, signs no one in
    signed_in.cookies.set(SESSION_COOKIE, session)
    assert_problem(signed_in.get("/auth/me"), 401)
    assert 'name="password"' in signed_in.get("/login").text
    revoked = rows(app_engine, "SELECT revoked_at FROM api_tokens WHERE kind = 'session'")
    assert len(revoked) == 1 and revoked[0].revoked_at is not None
    entry = rows(app_engine, "SELECT user_name, outcome, route FROM audit_log WHERE action = 'sign_out'")
    assert [tuple(e) for e in entry] == [("wang", "ok", "POST /logout")]


def test_sign_out_with_a_session_that_already_ended_is_a_401_page_that_clears_the_cookie(signed_in):
    session = signed_in.cookies[SESSION_COOKIE]
    signed_in.post("/auth/logout", headers={"X-CSRF-Token": csrf_token(session)})
    signed_in.cookies.set(SESSION_COOKIE, session)
    response = signed_in.post("/logout", data={"csrf_token": csrf_token(session)}, follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["content-type"] == HTML
    assert "not signed in" in response.text and 'name="password"' in response.text
    assert set_cookies(response)[SESSION_COOKIE]["max-age"] == "0"


def test_a_disabled_users_session_is_refused_at_once(signed_in, app_engine):
    assert signed_in.get("/auth/me").status_code == 200
    with app_engine.begin() as conn:
        users.disable(conn, "wang")
    assert_problem(signed_in.get("/auth/me"), 401)
    assert 'name="password"' in signed_in.get("/login").text  # the page offers to sign in again


def test_other_routes_keep_their_problem_documents(client):
    wrong = client.post("/auth/token", data={"username": "wang", "password": "nope"})
    assert_problem(wrong, 401, None, "wrong user name or password")
    assert wrong.headers["www-authenticate"] == "Bearer"


# -- the read policy ------------------------------------------------------------------------------
def test_with_reads_closed_a_browser_is_sent_to_the_login_page_and_back(client):
    client.app.state.auth_settings = AuthSettings(SANICHAIN_READ_POLICY="signed-in")
    closed = client.get("/collections", headers=BROWSER, follow_redirects=False)
    assert closed.status_code == 303
    location = urlsplit(closed.headers["location"])
    assert location.path == "/login" and parse_qs(location.query) == {"next": ["/collections"]}
    assert_problem(client.get("/collections", headers={"Accept": "application/json"}), 401, None, "sign in")
    response = sign_in(client, next_path=parse_qs(location.query)["next"][0])
    assert response.headers["location"] == "/collections"
    page = client.get("/collections", headers=BROWSER)
    assert page.status_code == 200 and page.headers["content-type"] == HTML
    assert "Collections" in page.text
    assert client.get("/collections", headers={"Accept": "application/json"}).json()["collections"]
