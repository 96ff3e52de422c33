"""The database set-up of docker-compose.yml, for real: deploy/initdb.sql run by a superuser in a
throwaway cluster, then the migrations, the demo and the service as the role it creates, which is no
superuser and must sign in with its password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import psycopg2
import pytest

from service.config import REPO_ROOT
from service.localdb import LocalCluster
from tests.conftest import throwaway_cluster
from tests.service_process import running_service

pytestmark = pytest.mark.slow
INIT_SQL = REPO_ROOT / "deploy" / "initdb.sql"
PASSWORD = "a 'quoted' secret"


@dataclass
class Server:
    cluster: LocalCluster
    superuser_url: str

    def psql(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        assert self.cluster.bindir is not None
        return subprocess.run(
            [str(self.cluster.bindir / "psql"), "-X", "-v", "ON_ERROR_STOP=1", self.superuser_url, *args],
            env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def role_url(self, password: str = PASSWORD) -> str:
        from urllib.parse import quote

        return f"postgresql://sanichain:{quote(password, safe='')}@127.0.0.1:{self.cluster.port}/sanichain"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with throwaway_cluster() as cluster:
        # the role signs in with its password (scram), as in the container; the tests' superuser keeps trust
        hba = cluster.data_dir / "pg_hba.conf"
        hba.write_text("host all sanichain 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        url = cluster.ensure_database("sanichain").replace("postgresql+psycopg2://", "postgresql://")
        with closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_reload_conf()")
        yield Server(cluster, url)


def sanichain(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_init_script_refuses_to_run_without_a_password(server: Server):
    env = {k: v for k, v in os.environ.items() if k != "SANICHAIN_DB_PASSWORD"}
    result = subprocess.run(
        [str(server.cluster.bindir / "psql"), "-X", server.superuser_url, "-f", str(INIT_SQL)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "SANICHAIN_DB_PASSWORD is not set" in result.stderr
    roles = server.psql("-tAc", "SELECT count(*) FROM pg_roles WHERE rolname = 'sanichain'")
    assert roles.stdout.strip() == "0"


def test_the_role_made_by_the_init_script_migrates_loads_and_serves(server: Server):
    made = server.psql("-f", str(INIT_SQL), env={"SANICHAIN_DB_PASSWORD": PASSWORD})
    assert made.returncode == 0, made.stderr
    role = server.psql(
        "-tAc", "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'sanichain'"
    )
    assert role.stdout.strip() == "f|f|f"
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(server.role_url("wrong")).close()

    url = server.role_url()
    upgraded = sanichain(url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    loaded = sanichain(url, "demo", "load", "--if-empty")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout.strip().splitlines()[-1])["villages"] == 1249

    # what the role made is the role's: only the extension's own table is the superuser's
    others = server.psql(
        "-tAc",
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
        "WHERE schemaname = 'public' AND tableowner <> 'sanichain'",
    )
    assert others.stdout.strip() == "spatial_ref_sys"
    checked = sanichain(url, "db", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    with running_service(url) as base:
        with urllib.request.urlopen(base + "/health", timeout=10) as response:
            health = json.load(response)
        with urllib.request.urlopen(base + "/collections/villages/items?limit=2", timeout=10) as response:
            items = json.load(response)
    assert health["status"] == "ok" and health["database"] == "sanichain"
    assert items["numberReturned"] == 2
