"""Backup and restore of the whole database: the inventory, its history, the audit log, accounts, imports,
inspections and their photos (kept in the database, D105), with PostgreSQL's own pg_dump / pg_restore.

`backup(url, file)` writes a custom-format dump and, beside it, `FILE.manifest.json`: every table's row
count and a checksum of its rows. `restore(url, file)` loads the dump into an empty database in one
transaction and compares the same figures with the manifest; a difference is an error, not a warning.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from service.db import make_engine
from service.errors import BadParameter, Conflict, Unavailable
from service.localdb import ClusterError, find_bindir
from service.models import Base

MANIFEST_SUFFIX = ".manifest.json"


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that carries it."""
    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    parts = {
        "host": parsed.host or "",
        "port": str(parsed.port or ""),
        "user": parsed.username or "",
        "dbname": parsed.database or "",
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v), env


def _program(name: str) -> str:
    """pg_dump / pg_restore of the newest installed PostgreSQL (a dump reads older servers)."""
    try:
        candidate = find_bindir() / name
        if candidate.exists():
            return str(candidate)
    except ClusterError:  # no server installed here (a client-only machine): PATH decides
        pass
    found = shutil.which(name)
    if found is None:
        raise Unavailable(f"{name} is not installed (Debian: apt install postgresql-client)")
    return found


def fingerprint(url: str) -> dict[str, dict[str, Any]]:
    """Each of the service's tables: its row count and an md5 of its rows in primary-key order."""
    engine = make_engine(url)
    figures: dict[str, dict[str, Any]] = {}
    try:
        with engine.connect() as conn:
            for name, table in sorted(Base.metadata.tables.items()):
                order = ", ".join(c.name for c in table.primary_key.columns) or "1"
                rows_text = f"string_agg(t::text, E'\\n' ORDER BY {order})"
                rows, digest = conn.execute(
                    text(f"SELECT count(*), md5(coalesce({rows_text}, '')) FROM {name} t")
                ).one()
                figures[name] = {"rows": int(rows), "md5": str(digest)}
    finally:
        engine.dispose()
    return figures


def backup(url: str, file: Path) -> dict[str, dict[str, Any]]:
    """Dump the database to `file` and write its manifest; answers the manifest's tables."""
    dsn, env = _libpq(url)
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    done = subprocess.run(
        [_program("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}", dsn],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise Unavailable(f"pg_dump failed: {done.stderr.strip()}")
    tables = fingerprint(url)  # after the dump: nothing writes during a scheduled backup
    partial.replace(file)
    manifest = {"format": "pg_dump custom", "tables": tables}
    Path(str(file) + MANIFEST_SUFFIX).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return tables


def _ours_present(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            present = set(
                conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
            )
    finally:
        engine.dispose()
    return sorted(present & set(Base.metadata.tables))


def restore(url: str, file: Path) -> dict[str, dict[str, Any]]:
    """Restore `file` into the empty database at `url` (one transaction: all or nothing), then check
    every table against the manifest written with the dump."""
    if not file.is_file():
        raise BadParameter("FILE", f"{file} is not a file")
    manifest_path = Path(str(file) + MANIFEST_SUFFIX)
    if not manifest_path.is_file():
        raise BadParameter(
            "FILE", f"{manifest_path} is missing: it holds the figures the restore is checked against"
        )
    present = _ours_present(url)
    if present:
        raise Conflict(
            f"the database is not empty (it has {', '.join(present[:3])}…): restore into an empty one"
        )
    dsn, env = _libpq(url)
    done = subprocess.run(
        [_program("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
         f"--dbname={dsn}", str(file)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise Unavailable(f"pg_restore failed, nothing restored: {done.stderr.strip()}")
    expected = json.loads(manifest_path.read_text(encoding="utf-8"))["tables"]
    found = fingerprint(url)
    differing = sorted(name for name in expected if expected[name] != found.get(name))
    if differing:
        raise Conflict(f"restored, but these tables differ from the backup: {', '.join(differing)}")
    return found
