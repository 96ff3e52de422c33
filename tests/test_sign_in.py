"""Signing in through the API: the OAuth2 password flow, bearer tokens of every kind, and their refusal
the moment they are revoked, expired or their user disabled. Nothing secret is echoed back."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from service.accounts import tokens, users
from service.config import AuthSettings
from tests.accounts import PASSWORD, role_headers, role_token, user_name
from tests.problems import assert_problem

ME = "/auth/me"


def sign_in(client, name: str, password: str):
    return client.post("/auth/token", data={"username": name, "password": password, "grant_type": "password"})


def test_the_password_flow_issues_a_bearer_token_that_signs_in(client, app_engine):
    role_token(app_engine, "inspector")  # the user exists
    issued = sign_in(client, user_name("inspector"), PASSWORD)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 480 * 60
    me = client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me == {"name": "test-inspector", "role": "inspector", "town": None, "signed_in_with": "access"}
    with app_engine.connect() as conn:
        lifetime = conn.execute(
            text("SELECT expires_at - created_at FROM api_tokens WHERE token_hash = :h"),
            {"h": tokens.digest(body["access_token"])},
        ).scalar()
    assert lifetime.total_seconds() == pytest.approx(480 * 60, abs=5)


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(client, app_engine):
    role_token(app_engine, "viewer")
    wrong = assert_problem(sign_in(client, user_name("viewer"), "not the password"), 401)
    unknown = assert_problem(sign_in(client, "nobody-at-all", "not the password"), 401)
    assert wrong["detail"] == unknown["detail"] == "wrong user name or password"
    assert "not the password" not in str(wrong) + str(unknown)


def test_a_revoked_token_is_refused_on_the_next_request(client, app_engine):
    token = role_token(app_engine, "viewer")
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get(ME, headers=bearer).json()["name"] == "test-viewer"
    with app_engine.begin() as conn:
        (info,) = [
            t for t in tokens.list_all(conn, "test-viewer") if t.state == "active" and t.label == "tests"
        ]
        tokens.revoke(conn, info.id)
    refused = assert_problem(client.get(ME, headers=bearer), 401)
    assert "not valid" in refused["detail"] and token not in str(refused)
    # a bad token is refused even on a route open to anonymous readers: the client meant to sign in
    assert_problem(client.get("/collections", headers=bearer), 401)


def test_an_expired_token_and_a_disabled_users_token_are_refused(client, app_engine):
    with app_engine.begin() as conn:
        users.add(conn, "short-lived", "viewer", PASSWORD)
        expired = tokens.create(conn, "short-lived", "expiring", 1)
        conn.execute(
            text("UPDATE api_tokens SET expires_at = now() - interval '1 s' WHERE id = :id"),
            {"id": expired.id},
        )
        users.add(conn, "leaver", "editor", PASSWORD)
        leaver = tokens.create(conn, "leaver").token
    assert_problem(client.get(ME, headers={"Authorization": f"Bearer {expired.token}"}), 401)
    assert client.get(ME, headers={"Authorization": f"Bearer {leaver}"}).status_code == 200
    with app_engine.begin() as conn:
        users.disable(conn, "leaver")
    assert_problem(client.get(ME, headers={"Authorization": f"Bearer {leaver}"}), 401)
    assert_problem(sign_in(client, "leaver", PASSWORD), 401)


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "bearer " + "x" * 5000, "Bearer a b"],
)
def test_malformed_authorization_headers_are_a_401(client, header):
    body = assert_problem(client.get(ME, headers={"Authorization": header}), 401)
    assert "x" * 100 not in body["detail"]


@pytest.mark.parametrize("name", ["access_token", "token", "api_key", "password"])
@pytest.mark.parametrize(
    "path", ["/collections", "/collections/transfer_stations/items", "/planning/scenarios"]
)
def test_a_secret_in_the_url_is_refused_and_not_echoed(client, name, path):
    body = assert_problem(client.get(path, params={name: "s3cret-value"}), 400, name)
    assert "s3cret-value" not in str(body)


def test_sign_out_with_a_bearer_token_revokes_that_token_only(client, app_engine):
    role_token(app_engine, "planner")
    first = sign_in(client, user_name("planner"), PASSWORD).json()["access_token"]
    second = sign_in(client, user_name("planner"), PASSWORD).json()["access_token"]
    out = client.post("/auth/logout", headers={"Authorization": f"Bearer {first}"})
    assert out.json() == {"signed_out": "test-planner", "revoked": True}
    assert_problem(client.get(ME, headers={"Authorization": f"Bearer {first}"}), 401)
    assert client.get(ME, headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_the_read_policy_closes_layers_to_anonymous_clients_but_never_sign_in_or_health(client, app_engine):
    assert client.get("/collections").status_code == 200  # open by default
    client.app.state.auth_settings = AuthSettings(SANICHAIN_READ_POLICY="signed-in")
    assert_problem(client.get("/collections"), 401)
    assert_problem(client.get("/collections/transfer_stations/items"), 401)
    assert_problem(client.get("/export/transfer_stations.geojson"), 401)
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    viewer = role_headers(app_engine, "viewer")
    items = client.get("/collections/transfer_stations/items", headers=viewer)
    assert items.status_code == 200 and items.json()["numberReturned"] > 0


def test_me_needs_a_sign_in_whatever_the_read_policy(client):
    assert_problem(client.get(ME), 401)


def test_the_openapi_document_offers_the_password_flow(client):
    doc = client.get("/openapi.json").json()
    scheme = doc["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "auth/token"
    scenarios = doc["paths"]["/planning/scenarios"]["post"]
    assert {"OAuth2PasswordBearer": []} in scenarios["security"]
    assert set(scenarios["responses"]) >= {"401", "403"}


def test_a_name_with_a_nul_character_is_a_wrong_name_audited_as_a_failure(client, app_engine):
    refused = assert_problem(sign_in(client, "test-\x00viewer", "not the password"), 401)
    assert refused["detail"] == "wrong user name or password"
    with app_engine.connect() as conn:
        failed = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'sign_in' AND outcome = 'failed' "
                 "AND user_name = 'test-\N{REPLACEMENT CHARACTER}viewer'")
        ).scalar()
    assert failed == 1
