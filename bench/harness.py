"""What every benchmark shares: its PostgreSQL, the service under test, the clock, the machine, the JSON.

The scripts run as `.venv/bin/python bench/<name>.py` from the repository root and import this module
as `import harness` (their own folder is first on `sys.path`).

- `workdir`, `postgres`: a temporary folder and a throwaway cluster in it (or `--server-url`), removed
  at the end, Ctrl-C and SIGTERM (`stop_on_sigterm`) included;
- `served`, `running`: the service (or an anchor's server) in a child process on a free port, up until
  the block ends;
- `repeat`, `timed`, `interleaved`, `spread`: 1 warm-up + counted runs, median (min–max);
- `host`, `postgres_versions`, `loadavg`, `tool_version`: what the figures were measured on;
- `default_out`, `write_json`: where the results go.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Generic, TypeVar

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn
from sqlalchemy.engine import make_url

from service import migrate
from service.config import REPO_ROOT, sqlalchemy_url
from service.localdb import LocalCluster
from service.synthetic.national_scale import DEFAULT_SEED, libpq_url

T = TypeVar("T")
U = TypeVar("U")

OUT_DIR = Path("/tmp/sanichain-bench")
ANCHORS = Path("/work/shared/bench-anchors")
GEO_VENV = Path("/tmp/bench-geo-venv")
GEO_REQUIREMENTS = ANCHORS / "requirements-geo.txt"
# The anchors' run_anchors.sh runs its PostgreSQL with these; ours must match for the ratios to hold.
ANCHOR_SETTINGS = ("shared_buffers = 1GB", "work_mem = 64MB")
BUSY_PORTS = frozenset({5432, 55432, 55440})  # `make run`'s cluster and the anchors' servers


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


def say(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# --- work space and signals ---------------------------------------------------------------------


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=prefix))
    work.chmod(0o755)  # the cluster's postgres user (when we are root) must traverse it
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so that the cluster and the children are stopped too."""
    signal.signal(signal.SIGTERM, _interrupt)


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in BUSY_PORTS:
            return port


# --- PostgreSQL ---------------------------------------------------------------------------------


class Server:
    """A PostgreSQL server reached through any database URL on it; makes URLs for other databases."""

    def __init__(self, url: str, own: bool = False) -> None:
        self.base = make_url(sqlalchemy_url(url))
        self.own = own  # a throwaway cluster of ours, not --server-url

    @property
    def origin(self) -> str:
        return "own throwaway cluster" if self.own else "--server-url"

    def url(self, database: str) -> str:
        """SQLAlchemy URL (psycopg2 driver) of `database` on this server."""
        return self.base.set(database=database).render_as_string(hide_password=False)

    def libpq_url(self, database: str) -> str:
        return libpq_url(self.url(database))

    def dsn(self, database: str) -> str:
        """libpq key=value string, for psql and for ogr2ogr's PG: prefix."""
        return str(make_dsn(**parse_dsn(self.libpq_url(database))))

    @contextlib.contextmanager
    def cursor(self, database: str) -> Iterator[Any]:
        conn = psycopg2.connect(self.dsn(database))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def admin_database(self) -> str:
        return self.base.database or "postgres"

    def recreate(self, database: str, migrated: bool = True) -> str:
        """`database` dropped, created empty and (unless told otherwise) migrated; its URL."""
        self.drop(database)
        with self.cursor(self.admin_database()) as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        if migrated:
            migrate.upgrade(self.url(database))
        return self.url(database)

    def drop(self, database: str) -> None:
        with self.cursor(self.admin_database()) as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))

    def checkpoint(self) -> None:
        """Flush what earlier runs left dirty, so a run does not pay for its predecessor's writes."""
        with self.cursor(self.admin_database()) as cur, contextlib.suppress(psycopg2.Error):
            cur.execute("CHECKPOINT")  # needs superuser or pg_checkpoint; skipped without

    def one(self, database: str, query: str) -> Any:
        with self.cursor(database) as cur:
            cur.execute(query)
            row = cur.fetchone()
            return None if row is None else row[0]


@contextlib.contextmanager
def postgres(
    work: Path,
    server_url: str | None = None,
    *,
    drop: Sequence[str] = (),
    settings: Sequence[str] = ANCHOR_SETTINGS,
    throwaway: bool = False,
) -> Iterator[Server]:
    """A cluster of our own in `work` (with `settings`), or the server of `server_url` (a role with
    CREATEDB). At the end the cluster is removed, or the databases in `drop` are dropped from that
    server: nothing is left behind either way."""
    if server_url:
        server = Server(server_url)
        try:
            yield server
        finally:
            say("cleaning up")
            for database in drop:
                with contextlib.suppress(psycopg2.Error):
                    server.drop(database)
        return
    say("starting a throwaway cluster")
    cluster = LocalCluster(work / "pg", free_port(), throwaway=throwaway)
    try:
        cluster.init()
        if settings:
            with (cluster.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write("\n# benchmark settings\n" + "\n".join(settings) + "\n")
        cluster.start()
        yield Server(cluster.url("postgres"), own=True)
    finally:
        say("cleaning up")
        cluster.destroy()


# Linux keeps a process's peak RSS across exec, so a child forked from this (large) interpreter would
# report at least our own size. A minimal launcher (python -I -S, about 8 MiB) spawns the command and
# reports wait4()'s figures for it; its own start-up is outside the timed span.
_LAUNCHER = """
import json, os, sys, time
result, cmd = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, ru = os.wait4(pid, 0)
t1 = time.monotonic()
with open(result, "w") as fh:
    json.dump({"t0": t0, "wall_s": t1 - t0, "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
               "peak_kib": ru.ru_maxrss, "exit": os.waitstatus_to_exitcode(status)}, fh)
"""


def launcher(result: Path, cmd: Sequence[str]) -> list[str]:
    """The command line that runs `cmd` under the launcher, which writes its figures (JSON: t0, wall_s,
    user_s, sys_s, peak_kib, exit) to `result`."""
    return [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result), *cmd]


# --- the service and the anchors' servers -------------------------------------------------------


def sanichain_cmd() -> str:
    beside = Path(sys.executable).parent / "sanichain"
    found = str(beside) if beside.exists() else shutil.which("sanichain")
    if not found:
        raise BenchError("the `sanichain` command is not installed (pip install -e .)")
    return found


@dataclass(frozen=True)
class Running:
    base: str  # http://127.0.0.1:port
    pid: int  # the server's main process (its workers are children)


@contextlib.contextmanager
def running(
    cmd: list[str], port: int, env: dict[str, str], probe: str, log: Path, timeout_s: float = 90
) -> Iterator[Running]:
    """`cmd` (listening on `port`) in its own session, once GET `probe` answers; stopped at the end."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(base + probe, timeout=5) as r:
                r.read()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-500:]
                raise BenchError(f"{Path(cmd[0]).name} did not come up: {tail}")
            time.sleep(0.2)
        yield Running(base, proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def served(
    database_url: str, log: Path, env: dict[str, str] | None = None, workers: int | None = None
) -> contextlib.AbstractContextManager[Running]:
    """The service on `database_url`: `sanichain serve` (the app and server `make run` runs), or with
    `workers` uvicorn's own worker processes over the app factory, as the anchors' servers run."""
    port = free_port()
    if workers is None:
        cmd = [sanichain_cmd(), "serve", "--port", str(port)]
    else:
        uvicorn = str(Path(sys.executable).parent / "uvicorn")
        cmd = [uvicorn, "--factory", "service.api.app:create_app", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    return running(cmd, port, {**os.environ, "DATABASE_URL": database_url, **(env or {})}, "/health", log)


def anchor_venv(venv: Path, requirements: Path, program: str = "python") -> Path:
    """`program` of an anchor's own venv, made from its pinned requirements when missing."""
    path = venv / "bin" / program
    if not path.exists():
        say(f"creating {venv} (pip install -r {requirements})")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)]
        subprocess.run(pip, check=True)
    return path


def geo_python() -> Path:
    """Python of the geopandas anchors (the anchors' pinned stack, no sanichain installed)."""
    return anchor_venv(GEO_VENV, GEO_REQUIREMENTS)


# --- timing -------------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def repeat(run: Callable[[str], T], runs: int) -> tuple[T, list[T]]:
    """1 warm-up + `runs` counted calls of `run(label)` ("warm-up", "run 1/3", …): (warm-up, counted)."""
    warmup = run("warm-up")
    return warmup, [run(f"run {i}/{runs}") for i in range(1, runs + 1)]


@dataclass
class Timed(Generic[T]):
    warmup_s: float
    seconds: list[float]  # of the counted runs
    result: T  # what the last counted run returned

    @property
    def spread(self) -> dict[str, float]:
        return spread(self.seconds)


def _clocked(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def timed(fn: Callable[[], T], runs: int) -> Timed[T]:
    """Wall time of `fn()`: 1 warm-up + `runs` counted calls."""
    (warmup, _), counted = repeat(lambda _label: _clocked(fn), runs)
    return Timed(warmup, [s for s, _ in counted], counted[-1][1])


@dataclass
class Pair:
    """One turn of an interleaved sitting: both sides once, in the order given by `anchor_first`."""

    ours_s: float
    anchor_s: float
    anchor_first: bool
    loadavg: str  # 1/5/15-minute load averages after the pair

    @property
    def ratio(self) -> float:
        return self.ours_s / self.anchor_s if self.anchor_s else float("nan")

    def row(self) -> dict[str, Any]:
        return {
            "ours_s": round(self.ours_s, 4),
            "anchor_s": round(self.anchor_s, 4),
            "ratio": round(self.ratio, 3),
            "order": "anchor, ours" if self.anchor_first else "ours, anchor",
            "loadavg": self.loadavg,
        }


@dataclass
class Sitting(Generic[T, U]):
    ours: Timed[T]
    anchor: Timed[U]
    pairs: list[Pair]

    def ratios(self) -> dict[str, float]:
        """The spread of the pairs' ratios (ours ÷ anchor): the figure to quote, not a ratio of medians."""
        return spread([p.ratio for p in self.pairs])


def interleaved(ours: Callable[[], T], anchor: Callable[[], U], runs: int) -> Sitting[T, U]:
    """Ours and the anchor in turns after a warm-up of each, the order rotated every pair (A B, B A,
    A B, …) so that neither side always runs on a cache the other warmed, and a change of load on the
    machine during the sitting falls on both sides alike. Each pair's ratio and load average is kept."""
    ours_warmup, _ = _clocked(ours)
    anchor_warmup, _ = _clocked(anchor)
    pairs: list[Pair] = []
    last_ours: Any = None
    last_anchor: Any = None
    for i in range(runs):
        anchor_first = i % 2 == 1
        if anchor_first:
            (b, last_anchor), (a, last_ours) = _clocked(anchor), _clocked(ours)
        else:
            (a, last_ours), (b, last_anchor) = _clocked(ours), _clocked(anchor)
        pairs.append(Pair(a, b, anchor_first, loadavg()))
    return Sitting(
        Timed(ours_warmup, [p.ours_s for p in pairs], last_ours),
        Timed(anchor_warmup, [p.anchor_s for p in pairs], last_anchor),
        pairs,
    )


def fmt_s(s: dict[str, float]) -> str:
    """A spread of seconds as "median (min–max)", in ms below one second."""

    def one(v: float) -> str:
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"

    return f"{one(s['median'])} ({one(s['min'])}–{one(s['max'])})"


def fmt(s: dict[str, float], unit: str = "s", scale_by: float = 1.0) -> str:
    """A spread as "median unit (min–max)", three significant digits, scaled (e.g. 1000 for ms)."""
    return f"{s['median'] * scale_by:.3g} {unit} ({s['min'] * scale_by:.3g}–{s['max'] * scale_by:.3g})"


# --- the machine --------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def mem_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (2 cores: above 2 means others compete for the CPU)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def host() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def tool_version(*cmd: str) -> str:
    """First line of a tool's version output ("" when the tool is missing)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else ""


def postgres_versions(server: Server, database: str, settings: Sequence[str]) -> dict[str, Any]:
    return {
        "postgresql": server.one(database, "SELECT version()"),
        "postgis": server.one(database, "SELECT postgis_full_version()"),
        "server": server.origin,
        "settings": {name: server.one(database, f"SHOW {name}") for name in settings},
    }


# --- options and results ------------------------------------------------------------------------------------


def dataset_options(
    ap: argparse.ArgumentParser, villages: int = 500_000, farms: int = 1_000_000, stations: int = 5_000
) -> None:
    """Size of the synthetic national-scale set (`service.synthetic.national_scale`)."""
    ap.add_argument("--villages", type=int, default=villages)
    ap.add_argument("--farms", type=int, default=farms)
    ap.add_argument("--stations", type=int, default=stations)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)


def server_option(ap: argparse.ArgumentParser, *databases: str) -> None:
    ap.add_argument(
        "--server-url",
        help=f"use this server instead of an own cluster (role needs CREATEDB; database(s) "
        f"{', '.join(databases)} are created and dropped there)",
    )


def default_out(name: str) -> Path:
    return OUT_DIR / f"{name}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"


def write_json(out: Path, results: Any) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
