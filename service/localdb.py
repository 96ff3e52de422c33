"""A private PostgreSQL + PostGIS cluster under the repository, for `sanichain run` and the tests.

initdb and pg_ctl refuse to run as root, so as root every server command runs as the `postgres`
system user (created by the Debian packages) in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from psycopg2 import sql

from service.config import LocalClusterSettings, settings

INSTALL_HINT = (
    "install PostgreSQL with PostGIS (Debian/Ubuntu: sudo apt-get install postgresql "
    "postgresql-<version>-postgis-3) or set DATABASE_URL to an existing PostGIS database"
)


class ClusterError(RuntimeError):
    """The local cluster cannot be set up; the message says what is missing and how to fix it."""


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bindir(override: Path | None = None) -> Path:
    """The directory holding initdb/pg_ctl/postgres, newest installed major version first."""
    candidates: list[Path] = []
    if override is not None:
        candidates.append(Path(override))
    else:
        candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    where = f" in {override}" if override is not None else ""
    raise ClusterError(f"PostgreSQL server programs (initdb, pg_ctl) not found{where}: {INSTALL_HINT}")


def check_postgis_installed(bindir: Path) -> None:
    """On the Debian layout (/usr/lib/postgresql/N/bin) PostGIS lives in /usr/share/postgresql/N."""
    major = bindir.parent.name
    if bindir.parent.parent != Path("/usr/lib/postgresql"):
        return  # another layout: CREATE EXTENSION will tell
    control = Path("/usr/share/postgresql") / major / "extension" / "postgis.control"
    if not control.exists():
        raise ClusterError(
            f"PostGIS is not installed for PostgreSQL {major}: sudo apt-get install "
            f"postgresql-{major}-postgis-3 (or set DATABASE_URL to an existing PostGIS database)"
        )


def _can_postgres_reach(path: Path) -> bool:
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-w", str(path)], capture_output=True, check=False
    )
    return result.returncode == 0


@dataclass
class LocalCluster:
    data_dir: Path
    port: int
    bindir: Path | None = None
    throwaway: bool = False  # tests: no fsync, nothing worth keeping
    started_here: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.bindir = find_bindir(self.bindir)
        check_postgis_installed(self.bindir)

    @classmethod
    def configured(cls) -> LocalCluster:
        """The cluster of `sanichain run`, where the settings (SANICHAIN_PG_*) put it."""
        local = settings(LocalClusterSettings)
        return cls(local.data_dir, local.port, local.bindir)

    # -- commands ---------------------------------------------------------------------------
    def _cmd(self, program: str, *args: str) -> list[str]:
        assert self.bindir is not None
        cmd = [str(self.bindir / program), *args]
        if is_root():
            if shutil.which("runuser") is None:
                raise ClusterError("running as root needs runuser (util-linux) to start PostgreSQL")
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return cmd

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self._cmd(program, *args), capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise ClusterError(
                f"{program} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}"
            )
        return result

    # -- lifecycle ----------------------------------------------------------------------------
    def _prepare_dir(self) -> None:
        if is_root():
            try:
                import pwd

                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ClusterError(
                    f"no 'postgres' system user to run the cluster as root: {INSTALL_HINT}"
                ) from exc
            self.data_dir.mkdir(parents=True, exist_ok=True)
            os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
            if not _can_postgres_reach(self.data_dir):
                # e.g. a checkout under /root (0700): keep the cluster where postgres can live
                digest = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:10]
                fallback = Path("/var/lib/sanichain") / digest / "pg"
                print(f"sanichain: {self.data_dir} is not reachable by the postgres user; using {fallback}")
                self.data_dir = fallback
                fallback.mkdir(parents=True, exist_ok=True)
                os.chown(fallback, pw.pw_uid, pw.pw_gid)
            self.data_dir.chmod(0o700)
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        self._prepare_dir()
        if self.initialized:
            return
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        )
        settings = [
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            "max_connections = 100",
            "shared_buffers = 256MB",
            "work_mem = 32MB",
        ]
        if self.throwaway:
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# sanichain local cluster\n" + "\n".join(settings) + "\n")

    @property
    def running(self) -> bool:
        if not self.initialized:
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def start(self) -> None:
        """Initialise when new, start when stopped; a running cluster is reused as it is."""
        self.init()
        if self.running:
            return
        log = self.data_dir / "server.log"
        result = self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port}",
            check=False,
        )
        if result.returncode != 0:
            tail = ""
            with contextlib.suppress(OSError):
                tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1]
            raise ClusterError(
                f"PostgreSQL did not start on port {self.port}: {tail or result.stderr.strip()}"
            )
        self.started_here = True
        self._wait_accepting()

    def _wait_accepting(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                psycopg2.connect(self.dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends sessions and checkpoints; `immediate` kills the server as a power cut would
        (crash recovery from the WAL at the next start)."""
        if self.running:
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- databases ----------------------------------------------------------------------------
    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def ensure_database(self, database: str) -> str:
        conn = psycopg2.connect(self.dsn("postgres"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        finally:
            conn.close()
        return self.url(database)
