"""Accounts: argon2 passwords, users with roles and towns, API tokens shown once and stored hashed,
refused when revoked, expired or their user disabled; and the `sanichain users|tokens` commands."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys

import pytest
from sqlalchemy import Engine, text

from service import cli
from service.accounts import authenticate_token, check_password, hash_password, tokens, users
from service.accounts.passwords import verify_password
from service.errors import BadParameter, Conflict, NotFound
from tests import worlds
from tests.queries import column, rows, scalar
from tests.test_cli import sanichain

TOWN = "370782101"
OTHER_TOWN = "370782102"
PASSWORD = "correct horse battery"


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """Two towns, no users."""
    outline = worlds.square(119.0, 36.0, 0.1)
    with empty_engine.begin() as conn:
        worlds.one_town(conn, outline, (119.05, 36.05))
        worlds.town(conn, worlds.square(119.1, 36.0, 0.1), code=OTHER_TOWN, name="乙镇")
    return empty_engine


def test_a_password_hash_is_argon2id_salted_and_verifies_only_the_password():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$") and first != second  # a salt of its own each time
    assert PASSWORD not in first
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password("correct horse battery!", first)
    assert not verify_password(PASSWORD, None)  # an unknown user: checked against a dummy, refused


def test_a_short_password_is_refused_naming_the_field():
    with pytest.raises(BadParameter) as caught:
        hash_password("short")
    assert caught.value.parameter == "password"


def test_users_add_list_role_disable(engine):
    with engine.begin() as conn:
        admin = users.add(conn, "root", "admin", PASSWORD)
        clerk = users.add(conn, "clerk", "editor", PASSWORD, town=TOWN)
    assert (admin.role, admin.town, admin.disabled) == ("admin", None, False)
    assert (clerk.role, clerk.town) == ("editor", TOWN)
    with engine.begin() as conn:
        assert [u.name for u in users.list_all(conn)] == ["clerk", "root"]
        moved = users.set_role(conn, "clerk", "inspector", town=OTHER_TOWN)
        assert (moved.role, moved.town) == ("inspector", OTHER_TOWN)
        assert users.set_role(conn, "clerk", "planner").town is None  # no --town: the whole city
        assert users.disable(conn, "clerk").disabled
    stored = column(engine, "SELECT password_hash FROM users")
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in stored)


def test_a_password_is_checked_by_name_and_a_wrong_one_or_a_disabled_user_refused(engine):
    with engine.begin() as conn:
        users.add(conn, "ann", "viewer", PASSWORD)
        assert check_password(conn, "ann", PASSWORD).name == "ann"
        assert check_password(conn, "ann", "wrong password") is None
        assert check_password(conn, "nobody", PASSWORD) is None
        users.disable(conn, "ann")
        assert check_password(conn, "ann", PASSWORD) is None


@pytest.mark.parametrize(
    ("call", "error", "parameter"),
    [
        (lambda c: users.add(c, "ann", "superuser", PASSWORD), BadParameter, "role"),
        (lambda c: users.add(c, "ann", "editor", PASSWORD, town="370782999"), BadParameter, "town"),
        (lambda c: users.add(c, " ", "editor", PASSWORD), BadParameter, "name"),
        (lambda c: users.add(c, "a b", "editor", PASSWORD), BadParameter, "name"),
        (lambda c: users.set_role(c, "ann", "root"), BadParameter, "role"),
        (lambda c: users.set_role(c, "nobody", "viewer"), NotFound, None),
        (lambda c: users.disable(c, "nobody"), NotFound, None),
        (lambda c: tokens.create(c, "nobody"), NotFound, None),
        (lambda c: tokens.create(c, "ann", expires_days=0), BadParameter, "expires_days"),
        (lambda c: tokens.revoke(c, 999), NotFound, None),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(engine, call, error, parameter):
    with engine.begin() as conn:
        users.add(conn, "ann", "viewer", PASSWORD)
    with pytest.raises(error) as caught, engine.begin() as conn:
        call(conn)
    if parameter:
        assert caught.value.parameter == parameter
        assert str(caught.value).startswith(f"{parameter}: ")
    assert rows(engine, "SELECT name, role, town_id FROM users") == [("ann", "viewer", None)]
    assert scalar(engine, "SELECT count(*) FROM api_tokens") == 0


def test_a_taken_name_is_a_conflict(engine):
    with engine.begin() as conn:
        users.add(conn, "ann", "viewer", PASSWORD)
    with pytest.raises(Conflict, match="name: a user named 'ann' already exists"), engine.begin() as conn:
        users.add(conn, "ann", "admin", PASSWORD)
    assert rows(engine, "SELECT role FROM users") == [("viewer",)]


def test_the_database_refuses_an_unknown_role_and_a_token_that_is_not_a_digest(engine):
    with pytest.raises(Exception, match="ck_users_role_known"), engine.begin() as conn:
        conn.execute(text("INSERT INTO users (name, password_hash, role) VALUES ('x', 'h', 'root')"))
    with engine.begin() as conn:
        users.add(conn, "ann", "viewer", PASSWORD)
    with pytest.raises(Exception, match="ck_api_tokens_token_hash_sha256"), engine.begin() as conn:
        conn.execute(text("INSERT INTO api_tokens (user_id, name, token_hash) VALUES (1, 'x', 'plain')"))


def test_a_token_is_shown_once_stored_as_its_sha256_and_authenticates(engine):
    with engine.begin() as conn:
        users.add(conn, "clerk", "editor", PASSWORD, town=TOWN)
        new = tokens.create(conn, "clerk", "survey script", expires_days=30)
    assert len(new.token) == 43 and new.expires_at is not None
    stored = rows(engine, "SELECT token_hash, name, last_used_at FROM api_tokens")
    assert stored == [(hashlib.sha256(new.token.encode()).hexdigest(), "survey script", None)]
    dump = scalar(engine, "SELECT string_agg(t::text, ' ') FROM api_tokens t")
    assert new.token not in dump
    with engine.begin() as conn:
        listed = tokens.list_all(conn, "clerk")
    assert [(t.id, t.user, t.state) for t in listed] == [(new.id, "clerk", "active")]
    assert not hasattr(listed[0], "token") and not hasattr(listed[0], "token_hash")
    with engine.begin() as conn:
        who = authenticate_token(conn, new.token)
    assert who is not None
    assert (who.name, who.role, who.town, who.token_id) == ("clerk", "editor", TOWN, new.id)
    assert scalar(engine, "SELECT last_used_at IS NOT NULL FROM api_tokens")


def test_unknown_malformed_revoked_expired_and_disabled_are_refused(engine):
    with engine.begin() as conn:
        users.add(conn, "ann", "viewer", PASSWORD)
        users.add(conn, "bob", "planner", PASSWORD)
        revoked = tokens.create(conn, "ann")
        expired = tokens.create(conn, "ann", expires_days=1)
        of_disabled = tokens.create(conn, "bob")
        kept = tokens.create(conn, "ann")
        tokens.revoke(conn, revoked.id)
        conn.execute(
            text("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": expired.id},
        )
        users.disable(conn, "bob")
    with engine.begin() as conn:
        for token in ("", "x" * 1000, kept.token + "x", revoked.token, expired.token, of_disabled.token):
            assert authenticate_token(conn, token) is None
        assert authenticate_token(conn, kept.token) is not None
        states = {t.id: t.state for t in tokens.list_all(conn)}
        with pytest.raises(Conflict, match="user: 'bob' is disabled"):
            tokens.create(conn, "bob")
    assert states == {
        revoked.id: "revoked",
        expired.id: "expired",
        of_disabled.id: "active",
        kept.id: "active",
    }
    assert column(engine, "SELECT id FROM api_tokens WHERE last_used_at IS NOT NULL") == [kept.id]


def test_revoking_twice_keeps_the_first_time(engine):
    with engine.begin() as conn:
        users.add(conn, "ann", "viewer", PASSWORD)
        new = tokens.create(conn, "ann")
        first = tokens.revoke(conn, new.id).revoked_at
    with engine.begin() as conn:
        assert tokens.revoke(conn, new.id).revoked_at == first


# -- the command line -------------------------------------------------------------------------------
def run(monkeypatch, capsys, url: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_users_and_tokens_end_to_end(engine, monkeypatch, capsys):
    url = engine.url.render_as_string(hide_password=False)
    code, out, _ = run(
        monkeypatch,
        capsys,
        url,
        "users",
        "add",
        "root",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0 and "root" in out
    code, _, _ = run(
        monkeypatch,
        capsys,
        url,
        "users",
        "add",
        "clerk",
        "--role",
        "editor",
        "--town",
        TOWN,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0
    with engine.connect() as conn:
        assert check_password(conn, "root", PASSWORD) is not None  # the newline is not part of it

    code, out, _ = run(monkeypatch, capsys, url, "users", "list")
    assert out.splitlines() == [f"clerk\teditor town {TOWN}", "root\tadmin"]

    code, out, err = run(monkeypatch, capsys, url, "tokens", "create", "clerk", "--expires-days", "7")
    assert code == 0
    assert out.count("\n") == 1 and out.endswith("\n")
    token = out.strip()
    assert len(token) == 43 and "shown once" in err and token not in err
    with engine.begin() as conn:
        who = authenticate_token(conn, token)
    assert who is not None and who.name == "clerk"

    code, out, _ = run(monkeypatch, capsys, url, "tokens", "list", "clerk")
    assert code == 0 and token not in out and out.startswith("1\tclerk\tapi\tapi\tactive")
    code, out, _ = run(monkeypatch, capsys, url, "tokens", "revoke", "1")
    assert code == 0
    with engine.begin() as conn:
        assert authenticate_token(conn, token) is None

    code, _, _ = run(monkeypatch, capsys, url, "users", "role", "clerk", "viewer")
    assert code == 0
    code, _, _ = run(monkeypatch, capsys, url, "users", "disable", "root")
    assert code == 0
    assert rows(engine, "SELECT name, role, town_id, disabled FROM users ORDER BY name") == [
        ("clerk", "viewer", None, False),
        ("root", "admin", None, True),
    ]


def test_cli_errors_are_one_line_and_change_nothing(engine, monkeypatch, capsys):
    url = engine.url.render_as_string(hide_password=False)
    code, _, err = run(
        monkeypatch,
        capsys,
        url,
        "users",
        "add",
        "ann",
        "--role",
        "editor",
        "--town",
        "370782999",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert code == 1 and err == "sanichain: error: town: no town with code '370782999'\n"
    code, _, err = run(monkeypatch, capsys, url, "tokens", "create", "nobody")
    assert code == 1 and err == "sanichain: error: user: no user named 'nobody'\n"
    code, _, err = run(
        monkeypatch,
        capsys,
        url,
        "users",
        "add",
        "ann",
        "--role",
        "viewer",
        "--password-stdin",
        stdin="short\n",
    )
    assert code == 1 and "password: must be at least 8 characters" in err
    with pytest.raises(SystemExit):  # argparse: an unknown role is not a choice
        run(monkeypatch, capsys, url, "users", "add", "ann", "--role", "root", "--password-stdin")
    assert "invalid choice: 'root'" in capsys.readouterr().err
    assert scalar(engine, "SELECT count(*) FROM users") == 0


def test_cli_prompts_twice_without_password_stdin(engine, monkeypatch, capsys):
    url = engine.url.render_as_string(hide_password=False)
    answers = iter([PASSWORD, PASSWORD + "?"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, _, err = run(monkeypatch, capsys, url, "users", "add", "ann", "--role", "viewer")
    assert code == 1 and "the two passwords differ" in err
    answers = iter([PASSWORD, PASSWORD])
    code, _, _ = run(monkeypatch, capsys, url, "users", "add", "ann", "--role", "viewer")
    assert code == 0
    assert scalar(engine, "SELECT count(*) FROM users") == 1


def test_tokens_create_as_a_process_prints_the_token_alone_on_one_line(engine):
    url = engine.url.render_as_string(hide_password=False)
    added = subprocess.run(
        [sys.executable, "-m", "service.cli", "users", "add", "bot", "--role", "viewer", "--password-stdin"],
        input=PASSWORD + "\n",
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    created = sanichain("tokens", "create", "bot", "--expires-days", "1", database_url=url)
    assert created.returncode == 0, created.stderr
    (token,) = created.stdout.splitlines()
    assert created.stdout == token + "\n" and len(token) == 43
    with engine.begin() as conn:
        assert authenticate_token(conn, token) is not None
