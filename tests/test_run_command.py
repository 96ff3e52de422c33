"""`sanichain run` (what `make run` starts): own cluster, migrations, demo data, service, clean stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import free_port, postgres_reachable_dir

pytestmark = pytest.mark.slow


def run_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT", "TEST_DATABASE_URL")}
    env.update(extra)
    return env


def start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "run"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_healthy(proc: subprocess.Popen[str], port: int, timeout_s: float) -> float:
    start_t = time.monotonic()
    while time.monotonic() - start_t < timeout_s:
        if proc.poll() is not None:
            raise AssertionError(f"sanichain run exited early:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start_t
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError(
        f"no healthy service within {timeout_s} s:\n{proc.stdout.read() if proc.stdout else ''}"
    )


def stop(proc: subprocess.Popen[str], sig: signal.Signals) -> str:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    return out


def cluster_accepts(port: int) -> bool:
    try:
        psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2
        ).close()
        return True
    except psycopg2.OperationalError:
        return False


def village_stamp(port: int) -> tuple[int, object]:
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="sanichain")
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), max(created_at) FROM villages")
        row = cur.fetchone()
    conn.close()
    assert row is not None
    return row[0], row[1]


@pytest.fixture
def cluster_home():
    home = postgres_reachable_dir()
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_run_starts_its_own_postgis_serves_demo_and_stops_everything_on_signals(cluster_home: Path):
    pg_port, http_port = free_port(), free_port()
    env = run_env(
        SANICHAIN_PG_DATA=str(cluster_home / "pg"), SANICHAIN_PG_PORT=str(pg_port), PORT=str(http_port),
        SANICHAIN_WORKERS="2",  # the workers stop on the signal too, before the cluster
    )  # fmt: skip

    first = start(env)
    wait_healthy(first, http_port, timeout_s=240)
    count, created = village_stamp(pg_port)
    assert count == 1249
    out = stop(first, signal.SIGTERM)
    assert "with 2 worker processes" in out
    assert "stopping the local PostGIS cluster" in out
    assert not cluster_accepts(pg_port)
    assert not (cluster_home / "pg" / "postmaster.pid").exists()

    # reuses cluster and data: quick, nothing reloaded (one worker: the time is the reuse's, not the
    # workers' imports competing for the cores)
    second = start({**env, "SANICHAIN_WORKERS": "1"})
    seconds = wait_healthy(second, http_port, timeout_s=60)
    assert village_stamp(pg_port) == (count, created)
    out = stop(second, signal.SIGINT)  # Ctrl-C
    assert "loading the demo dataset" not in out
    assert not cluster_accepts(pg_port)
    assert seconds < 30


def test_run_with_database_url_uses_that_database_and_starts_no_cluster(
    empty_database_url, cluster_home: Path
):
    http_port = free_port()
    env = run_env(
        DATABASE_URL=empty_database_url, PORT=str(http_port), SANICHAIN_PG_DATA=str(cluster_home / "unused")
    )
    proc = start(env)
    wait_healthy(proc, http_port, timeout_s=120)
    out = stop(proc, signal.SIGTERM)
    assert "using DATABASE_URL" in out
    assert "loaded 1 cities, 14 towns" in out
    assert not (cluster_home / "unused").exists()


def test_run_without_postgresql_says_what_is_missing_in_one_line(cluster_home: Path):
    env = run_env(SANICHAIN_PG_BINDIR=str(cluster_home / "no-postgres-here"), PORT=str(free_port()))
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "initdb, pg_ctl) not found in" in lines[0]
    assert "apt-get install postgresql" in lines[0]
