"""`make run` on a machine where PostgreSQL/PostGIS cannot be installed: one clear line, non-zero exit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from service.config import REPO_ROOT


@pytest.fixture
def failing_apt(tmp_path: Path) -> dict[str, str]:
    """An environment whose apt-get always fails, as on a machine without package access."""
    stub = tmp_path / "bin"
    stub.mkdir()
    for tool in ("apt-get", "sudo"):
        (stub / tool).write_text("#!/bin/sh\necho 'E: Unable to locate package' >&2\nexit 100\n")
        (stub / tool).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env["PATH"] = f"{stub}:{env['PATH']}"
    return env


def setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "setup.sh"), "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def refusal(env: dict[str, str]) -> str:
    """The one line setup prints when it stops with exit status 1."""
    result = setup(env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_postgresql_that_apt_cannot_install_is_one_line_and_exit_1(failing_apt, tmp_path):
    line = refusal({**failing_apt, "SANICHAIN_PG_ROOT": str(tmp_path / "no-postgresql")})
    assert line.startswith("sanichain: PostgreSQL is missing and could not be installed with apt-get")
    assert "or set DATABASE_URL" in line


def test_missing_postgis_names_the_package_to_install(failing_apt, tmp_path):
    line = refusal({**failing_apt, "SANICHAIN_PG_SHARE": str(tmp_path / "no-share")})
    assert "PostGIS for PostgreSQL" in line
    assert "-postgis-3" in line


def test_make_run_stops_at_the_same_line(failing_apt, tmp_path):
    env = {**failing_apt, "SANICHAIN_PG_ROOT": str(tmp_path / "no-postgresql")}
    result = subprocess.run(
        ["make", "-s", "run"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "sanichain: PostgreSQL is missing and could not be installed with apt-get" in result.stderr
    assert "serving on" not in result.stderr


def test_with_database_url_no_postgresql_is_needed(failing_apt, tmp_path):
    env = {
        **failing_apt,
        "SANICHAIN_PG_ROOT": str(tmp_path / "no-postgresql"),
        "DATABASE_URL": "postgresql://u@db.invalid/x",
    }
    result = setup(env)
    assert result.returncode == 0, result.stderr


def test_missing_pgrouting_names_the_package_to_install(failing_apt, tmp_path):
    root = Path(os.environ.get("SANICHAIN_PG_ROOT", "/usr/lib/postgresql"))
    majors = [p.parent.parent.name for p in root.glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    major = max(majors, key=int)
    extension = tmp_path / "share" / major / "extension"
    extension.mkdir(parents=True)
    (extension / "postgis.control").write_text("")  # PostGIS there, pgRouting not
    line = refusal({**failing_apt, "SANICHAIN_PG_SHARE": str(tmp_path / "share")})
    assert f"pgRouting for PostgreSQL {major} is missing" in line
    assert f"postgresql-{major}-pgrouting" in line
