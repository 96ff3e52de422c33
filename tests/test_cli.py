"""The `sanichain` command line, run as a user runs it: a real process against a real PostGIS."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import text

from service.db import make_engine


def sanichain(
    *args: str, database_url: str | None = None, **env_extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def count(url: str, table: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    engine.dispose()
    return int(n or 0)


def test_demo_load_is_idempotent_and_if_empty_skips_a_filled_inventory(empty_database_url):
    first = sanichain("demo", "load", database_url=empty_database_url)
    assert first.returncode == 0, first.stderr
    counts = json.loads(first.stdout)
    assert counts["villages"] == 1249 and counts["livestock_farms"] == 566 and counts["chain_links"] == 4339
    assert "loaded villages" in first.stderr  # progress lines
    second = sanichain("demo", "load", database_url=empty_database_url)
    assert second.returncode == 0 and json.loads(second.stdout) == counts
    assert count(empty_database_url, "villages") == 1249
    third = sanichain("demo", "load", "--if-empty", database_url=empty_database_url)
    assert third.returncode == 0 and "not loaded" in third.stdout


def test_demo_load_from_a_missing_directory_fails_in_one_line(empty_database_url, tmp_path):
    result = sanichain("demo", "load", "--dir", str(tmp_path / "nope"), database_url=empty_database_url)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no manifest.json" in result.stderr
    assert count(empty_database_url, "villages") == 0


def test_db_upgrade_check_and_downgrade(database_factory):
    url = database_factory()
    assert sanichain("db", "upgrade", database_url=url).returncode == 0
    check = sanichain("db", "check", database_url=url)
    assert check.returncode == 0 and "matches" in check.stdout
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE towns DROP COLUMN name_en"))
    engine.dispose()
    drift = sanichain("db", "check", database_url=url)
    assert drift.returncode == 1
    assert "name_en" in drift.stdout
    assert sanichain("db", "downgrade", database_url=url).returncode == 0
    assert sanichain("db", "upgrade", database_url=url).returncode == 0
    assert count(url, "villages") == 0


def test_commands_needing_a_database_say_how_to_get_one(tmp_path):
    result = sanichain("db", "upgrade", SANICHAIN_PG_DATA=str(tmp_path / "none"))
    assert result.returncode == 1
    assert "DATABASE_URL is not set and the local cluster is not running" in result.stderr


def test_generate_refuses_negative_sizes():
    result = sanichain("demo", "generate", "--villages", "-5", "-o", "/tmp/never")
    assert result.returncode == 2
    assert "--villages: must be >= 0, got -5" in result.stderr


def test_generate_then_load_a_small_scale_dataset(empty_database_url, tmp_path):
    out = tmp_path / "national"
    gen = sanichain(
        "demo", "generate", "--villages", "3000", "--farms", "4000", "--stations", "30", "-o", str(out)
    )
    assert gen.returncode == 0, gen.stderr
    assert json.loads(gen.stdout)["villages"] == 3000
    load = sanichain("demo", "load", "--dir", str(out), database_url=empty_database_url)
    assert load.returncode == 0, load.stderr
    assert count(empty_database_url, "villages") == 3000
    assert count(empty_database_url, "livestock_farms") == 4000
    again = sanichain("demo", "load", "--dir", str(out), database_url=empty_database_url)
    assert again.returncode == 1  # the scale set goes into an empty database only
    assert count(empty_database_url, "villages") == 3000
