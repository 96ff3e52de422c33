"""Passwords and tokens never reach the service's log, its error bodies or the audit log, whichever
way they were sent (form body, Authorization header, or wrongly in the URL)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from sqlalchemy import text

from service.accounts import users
from service.db import make_engine
from tests.service_process import running_service

PASSWORD = "Very-Secret-Password-42"


def call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_no_password_or_token_appears_in_the_log_bodies_or_audit(empty_database_url, tmp_path: Path):
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        users.add(conn, "logged-clerk", "planner", PASSWORD)
    log_path = tmp_path / "service.log"
    bodies: list[str] = []
    with log_path.open("w") as log, running_service(empty_database_url, log=log) as base:
        form = urllib.parse.urlencode({"username": "logged-clerk", "password": PASSWORD}).encode()
        status, body = call(base + "/auth/token", form)
        assert status == 200
        token = json.loads(body)["access_token"]
        wrong = urllib.parse.urlencode({"username": "logged-clerk", "password": PASSWORD + "x"}).encode()
        bodies.append(call(base + "/auth/token", wrong)[1])
        bodies.append(call(base + "/auth/me", headers={"Authorization": f"Bearer {token}"})[1])
        bodies.append(call(base + "/auth/me", headers={"Authorization": f"Bearer {token}x"})[1])
        status, body = call(base + "/collections?" + urllib.parse.urlencode({"access_token": token}))
        assert status == 400
        bodies.append(body)
        bodies.append(call(base + "/collections?" + urllib.parse.urlencode({"password": PASSWORD}))[1])
    logged = log_path.read_text()
    assert "GET /collections?access_token=%5Bredacted%5D" in logged or "access_token=[redacted]" in logged
    assert '"method": "POST", "route": "/auth/token"' in logged  # the log is really read
    with engine.connect() as conn:
        audit_text = " ".join(conn.execute(text("SELECT CAST(a AS text) FROM audit_log a")).scalars())
    engine.dispose()
    assert "logged-clerk" in audit_text
    for secret in (PASSWORD, token):
        assert secret not in logged
        assert secret not in audit_text
        assert not any(secret in body for body in bodies)
