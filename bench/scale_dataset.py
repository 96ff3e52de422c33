"""Benchmark of the national-scale dataset path, with anchors measured in the same sitting.

    .venv/bin/python bench/scale_dataset.py                       # full size: 500k villages, 1M farms
    .venv/bin/python bench/scale_dataset.py --villages 20000 --farms 40000 --stations 200 --runs 1

What it does, start to end:

1. starts a throwaway PostgreSQL cluster on a free port (shared_buffers=1GB, work_mem=64MB, like the
   anchors in /work/shared/bench-anchors), unless --server-url names a server to use instead;
2. times `sanichain demo generate` (wall, rows/s, output size, peak RSS of the process);
3. times `sanichain demo load` into a freshly created and migrated database, per table too;
4. times the anchors on the same farms: `psql \\copy` into plain tables (the SQL floor, then with the
   constraints, indexes and the foreign key of `livestock_farms` added one by one) and GDAL's
   `ogr2ogr` CSV import (anchor "d" of run_anchors.sh) of a lon/lat CSV derived from ours.

Every timed figure is a whole child process: 1 warm-up + --runs counted runs, median (min–max);
wall time from a monotonic clock around spawn .. reap, CPU and peak RSS from wait4(). Untimed between
runs: recreating/migrating the database or table, and a CHECKPOINT. A Markdown table goes to stdout,
all figures as JSON to --out. The cluster and the temporary files are removed at the end (Ctrl-C too).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import harness
from psycopg2 import sql

from service.synthetic import national_scale as scale

DATABASE = "sanichain_bench"
FARMS = "livestock_farms"
FLOOR_TABLE = "farms_floor"
IMPORT_TABLE = "farm_import"  # the name anchor "d" imports into
SERVER_SETTINGS = ("shared_buffers", "work_mem", "fsync", "max_wal_size", "jit", "lc_collate")

# --- timing a child process --------------------------------------------------------------------


@dataclass
class Run:
    wall_s: float
    user_s: float
    sys_s: float
    peak_mib: float
    exit: int
    marks: list[tuple[float, str]] = field(default_factory=list)  # (seconds since spawn, stderr line)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


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


def run_timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run `cmd` in its own session; time it and timestamp each stderr line as it arrives."""
    with tempfile.NamedTemporaryFile(prefix="sanichain-bench-run-", suffix=".json") as result:
        launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, result.name, *cmd]
        proc = subprocess.Popen(
            launcher,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        assert proc.stderr is not None
        lines: list[tuple[float, str]] = []
        try:
            for raw in proc.stderr:
                lines.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip()))
            proc.wait()
        except BaseException:  # Ctrl-C included: leave nothing running
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            proc.stderr.close()
        text = Path(result.name).read_text(encoding="utf-8")
    if proc.returncode != 0 or not text:
        tail = " | ".join(line for _, line in lines[-5:])
        raise harness.BenchError(f"{cmd[0]} could not be run (launcher exit {proc.returncode}): {tail}")
    got = json.loads(text)
    return Run(
        wall_s=got["wall_s"],
        user_s=got["user_s"],
        sys_s=got["sys_s"],
        peak_mib=got["peak_kib"] / 1024,  # Linux reports KiB
        exit=got["exit"],
        marks=[(t - got["t0"], line) for t, line in lines],
    )


@dataclass
class Measure:
    key: str
    label: str
    rows: int
    runs: list[Run]
    warmup: Run
    cmd: list[str]
    loadavg: list[float] = field(default_factory=list)  # 1-minute load average after each counted run
    extra: dict[str, Any] = field(default_factory=dict)

    def stat(self, name: str) -> dict[str, float]:
        return harness.spread([getattr(r, name) for r in self.runs])

    def summary(self) -> dict[str, Any]:
        wall = self.stat("wall_s")
        return {
            "key": self.key,
            "label": self.label,
            "rows": self.rows,
            "cmd": self.cmd,
            "wall_s": wall,
            "rows_per_s": self.rows / wall["median"] if wall["median"] > 0 else None,
            "cpu_s": harness.spread([r.user_s + r.sys_s for r in self.runs]),
            "peak_mib": self.stat("peak_mib"),
            "warmup_wall_s": self.warmup.wall_s,
            "loadavg_1m": self.loadavg,
            **self.extra,
            "runs": [{k: v for k, v in asdict(r).items() if k != "marks"} for r in self.runs],
        }


def repeat(
    key: str,
    label: str,
    rows: int,
    cmd: list[str],
    runs: int,
    prepare: Callable[[], None],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Measure:
    """1 warm-up + `runs` counted runs of `cmd`, each after an untimed `prepare()`."""

    def one(run_label: str) -> tuple[Run, float]:
        harness.say(f"{key}: {run_label}")
        prepare()
        run = run_timed(cmd, env, cwd)
        if run.exit != 0:
            tail = " | ".join(line for _, line in run.marks[-5:])
            raise harness.BenchError(f"{key}: exit {run.exit}: {tail}")
        load = os.getloadavg()[0]
        harness.say(f"{key}: {run.wall_s:.2f} s, peak {run.peak_mib:.0f} MiB, load average {load:.2f}")
        return run, load

    (warmup, _), counted = harness.repeat(one, runs)
    return Measure(key, label, rows, [r for r, _ in counted], warmup, cmd, [load for _, load in counted])


# --- machine and versions ----------------------------------------------------------------------


def source_meta(server: harness.Server) -> dict[str, Any]:
    """Which code and schema were measured: git commit (and whether the tree was clean), migration."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "git_commit": git("rev-parse", "HEAD") or None,
        "git_dirty": bool(git("status", "--porcelain")),
        "alembic_revision": server.one(DATABASE, "SELECT version_num FROM alembic_version"),
    }


def machine_meta(server: harness.Server) -> dict[str, Any]:
    return {
        **harness.host(),
        "mem_gib": harness.mem_gib(),
        **harness.postgres_versions(server, DATABASE, SERVER_SETTINGS),
        "gdal": harness.tool_version("ogr2ogr", "--version"),
    }


# --- data --------------------------------------------------------------------------------------


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


_POINT = re.compile(r"^SRID=4326;POINT\((-?[0-9.]+) (-?[0-9.]+)\)$")


def write_lonlat_csv(src: Path, dst: Path) -> int:
    """The farms of our CSV as lon,lat + attributes (the shape ogr2ogr imports), streamed row by row."""
    rows = 0
    with src.open(encoding="utf-8", newline="") as fin, dst.open("w", encoding="utf-8", newline="") as fout:
        reader = csv.reader(fin)
        writer = csv.writer(fout, lineterminator="\n")
        header = next(reader)
        g = header.index("geom")
        writer.writerow(["lon", "lat", *header[:g], *header[g + 1 :]])
        for row in reader:
            point = _POINT.match(row[g])
            if point is None:
                raise harness.BenchError(f"{src}: row {rows + 1}: not a point EWKT: {row[g]!r}")
            writer.writerow([point[1], point[2], *row[:g], *row[g + 1 :]])
            rows += 1
    return rows


# --- the measures ------------------------------------------------------------------------------


def bench_generate(args: argparse.Namespace, data: Path, cwd: Path) -> Measure:
    cmd = [harness.sanichain_cmd(), "demo", "generate", "--villages", str(args.villages), "--farms"]
    cmd += [str(args.farms), "--stations", str(args.stations), "--seed", str(args.seed), "-o", str(data)]

    def fresh_dir() -> None:
        shutil.rmtree(data, ignore_errors=True)

    # The row count is known only afterwards: fill it in from the manifest.
    measure = repeat("generate", "generate (all tables)", 0, cmd, args.runs, fresh_dir, cwd=cwd)
    measure.rows = sum(scale.read_manifest(data)["counts"].values())
    return measure


def bench_load(server: harness.Server, data: Path, runs: int, cwd: Path) -> Measure:
    env = {**os.environ, "DATABASE_URL": server.url(DATABASE)}
    rows = sum(scale.read_manifest(data)["counts"].values())

    def fresh_database() -> None:
        server.recreate(DATABASE)
        server.checkpoint()

    cmd = [harness.sanichain_cmd(), "demo", "load", "--dir", str(data)]
    label = "load (all tables, one transaction, + ANALYZE)"
    return repeat("load", label, rows, cmd, runs, fresh_database, env, cwd)


_COPY_MARK = re.compile(r"^copy (\w+) \(")


def load_phases(run: Run) -> dict[str, float]:
    """Seconds per phase of one load, from its progress lines: startup, each table's COPY, ANALYZE."""
    points: list[tuple[float, str]] = []
    for t, line in run.marks:
        text = line.strip()
        copy = _COPY_MARK.match(text)
        if copy:
            points.append((t, copy[1]))
        elif text in ("analyze", "committed"):
            points.append((t, text))
    if not points:
        raise harness.BenchError("load printed no progress lines: cannot split its time per table")
    phases = {"startup": points[0][0]}
    for (t0, name), (t1, _) in itertools.pairwise(points):
        phases["analyze+commit" if name == "analyze" else name] = t1 - t0
    phases["exit"] = run.wall_s - points[-1][0]
    return phases


_GIST_AFTER = f"CREATE INDEX ON {FLOOR_TABLE} USING gist (geom)"
_CHECKS = "INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS"


@dataclass(frozen=True)
class FloorVariant:
    """A copy of livestock_farms' table (LIKE …) that the farms CSV is COPYed into with psql."""

    key: str
    label: str
    like: str  # LIKE options
    generated: bool = False  # keep the generated columns
    drop_indexes: str = ""  # drop the copied indexes whose definition contains this text
    foreign_key: bool = False
    after: tuple[str, ...] = ()  # statements after the COPY, inside the timed run
    keys_after: bool = False  # livestock_farms' keys, FKs and indexes, created after the COPY (timed)


FLOOR_VARIANTS = (
    FloorVariant("floor", "COPY floor: plain table, no constraints/indexes", "INCLUDING DEFAULTS"),
    FloorVariant(
        "floor_gist", "COPY floor + GIST built afterwards", "INCLUDING DEFAULTS", after=(_GIST_AFTER,)
    ),
    FloorVariant(
        "floor_generated", "floor + generated columns", "INCLUDING DEFAULTS INCLUDING GENERATED", True
    ),
    FloorVariant("floor_checks", "floor + generated + CHECK constraints", _CHECKS, True),
    FloorVariant(
        "floor_btrees", "… + pk, unique code, town_id btrees in COPY", "INCLUDING ALL", True, "gist"
    ),
    FloorVariant("floor_gist_geom", "… + GIST (geom) in COPY", "INCLUDING ALL", True, "::geography"),
    FloorVariant("floor_indexes", "… + GIST ((geom::geography)) in COPY", "INCLUDING ALL", True),
    FloorVariant(
        "floor_fk", "… + FK to towns (= livestock_farms' DDL)", "INCLUDING ALL", True, foreign_key=True
    ),
    FloorVariant(
        "floor_deferred", "same DDL, keys/indexes/FK built after COPY", _CHECKS, True, keys_after=True
    ),
)


def floor_ddl(variant: FloorVariant, generated_columns: list[str]) -> list[sql.Composable]:
    table = sql.Identifier(FLOOR_TABLE)
    ddl: list[sql.Composable] = [
        sql.SQL("DROP TABLE IF EXISTS {}").format(table),
        sql.SQL("CREATE TABLE {} (LIKE {} {})").format(table, sql.Identifier(FARMS), sql.SQL(variant.like)),
    ]
    if not variant.generated:
        # Without INCLUDING GENERATED, LIKE copies generated columns as plain ones: drop them.
        drops = [sql.SQL("DROP COLUMN {}").format(sql.Identifier(c)) for c in generated_columns]
        ddl.append(sql.SQL("ALTER TABLE {} {}").format(table, sql.SQL(", ").join(drops)))
    if variant.foreign_key:
        ddl.append(sql.SQL("ALTER TABLE {} ADD FOREIGN KEY (town_id) REFERENCES towns (id)").format(table))
    return ddl


def keys_and_indexes_of(server: harness.Server, table: str) -> tuple[str, ...]:
    """`table`'s primary/unique/foreign keys and other indexes, as DDL on the floor table."""
    with server.cursor(DATABASE) as cur:
        cur.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " AND contype IN ('p', 'u', 'f') ORDER BY contype DESC, conname",
            (table,),
        )
        keys = [f"ALTER TABLE {FLOOR_TABLE} ADD {r[0]}" for r in cur.fetchall()]
        cur.execute(
            "SELECT i.indisunique, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid = %s::regclass"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            " ORDER BY i.indexrelid",
            (table,),
        )
        # pg_get_indexdef: "CREATE [UNIQUE] INDEX name ON table USING method (…)"; keep the part after USING.
        indexes = [
            f"CREATE {'UNIQUE ' if unique else ''}INDEX ON {FLOOR_TABLE} USING {text.split(' USING ', 1)[1]}"
            for unique, text in cur.fetchall()
        ]
    return (*keys, *indexes)


def drop_indexes(cur: Any, table: str, matching: str) -> None:
    """Drop `table`'s indexes whose definition contains `matching` (e.g. "gist", "::geography")."""
    cur.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass"
        " AND strpos(pg_get_indexdef(indexrelid), %s) > 0",
        (table, matching),
    )
    for (name,) in cur.fetchall():
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))


def generated_columns_of(server: harness.Server, table: str) -> list[str]:
    with server.cursor(DATABASE) as cur:
        cur.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attgenerated = 's'"
            " AND NOT attisdropped ORDER BY attnum",
            (table,),
        )
        return [r[0] for r in cur.fetchall()]


def bench_floor(
    server: harness.Server, variant: FloorVariant, csv_path: Path, rows: int, runs: int
) -> Measure:
    generated = generated_columns_of(server, FARMS)
    columns = ", ".join(scale.COLUMNS[FARMS])
    copy = f"\\copy {FLOOR_TABLE} ({columns}) FROM '{csv_path}' WITH (FORMAT csv, HEADER)"
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", server.dsn(DATABASE), "-c", copy]
    after = variant.after + (keys_and_indexes_of(server, FARMS) if variant.keys_after else ())
    for statement in after:
        cmd += ["-c", statement]

    def fresh_table() -> None:
        with server.cursor(DATABASE) as cur:
            for statement in floor_ddl(variant, generated):
                cur.execute(statement)
            if variant.drop_indexes:
                drop_indexes(cur, FLOOR_TABLE, variant.drop_indexes)
        server.checkpoint()

    measure = repeat(variant.key, variant.label, rows, cmd, runs, fresh_table)
    measure.extra["table_after_run"] = describe_table(server, FLOOR_TABLE)
    return measure


def describe_table(server: harness.Server, table: str) -> dict[str, list[str]]:
    """What the table had after its last run: index and constraint definitions (for the record)."""
    with server.cursor(DATABASE) as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname", (table,))
        indexes = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " ORDER BY conname",
            (table,),
        )
        constraints = [r[0] for r in cur.fetchall()]
    return {"indexes": indexes, "constraints": constraints}


def bench_ogr2ogr(server: harness.Server, lonlat: Path, rows: int, runs: int) -> Measure:
    cmd = ["ogr2ogr", "-f", "PostgreSQL", f"PG:{server.dsn(DATABASE)}", str(lonlat)]
    cmd += ["-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat", "-a_srs", "EPSG:4326"]
    cmd += ["-nln", IMPORT_TABLE, "-overwrite", "--config", "PG_USE_COPY", "YES"]
    label = "ogr2ogr CSV import (anchor d: PG_USE_COPY, pk + GIST)"
    return repeat("ogr2ogr_import", label, rows, cmd, runs, server.checkpoint)


def drop_tables(server: harness.Server, *tables: str) -> None:
    with server.cursor(DATABASE) as cur:
        for table in tables:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


# --- report ------------------------------------------------------------------------------------


def fmt_spread(s: dict[str, float]) -> str:
    return f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})"


def fmt_rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 and rows else "–"


def table_rows(
    measures: list[Measure], phases: dict[str, dict[str, float]], counts: dict[str, int]
) -> list[str]:
    lines = [
        "| measure | rows | wall s, median (min–max) | rows/s | peak RSS MiB | CPU s (process) | load avg |"
    ]
    lines.append("|---|---:|---|---:|---:|---:|---:|")
    for m in measures:
        wall = m.stat("wall_s")
        cpu = statistics.median(r.user_s + r.sys_s for r in m.runs)
        rate = fmt_rate(m.rows, wall["median"])
        lines.append(
            f"| {m.label} | {m.rows:,} | {fmt_spread(wall)} | {rate} "
            f"| {m.stat('peak_mib')['median']:.0f} | {cpu:.2f} | {statistics.median(m.loadavg):.1f} |"
        )
        if m.key == "load":
            for name, s in phases.items():
                rows = counts.get(name, 0)
                label = f"copy {name}" if name in counts else name
                rate = fmt_rate(rows, s["median"]) if rows else "–"
                lines.append(f"| &nbsp;&nbsp;load: {label} | {rows:,} | {fmt_spread(s)} | {rate} | | | |")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.dataset_options(ap)
    ap.add_argument("--runs", type=int, default=3, help="counted runs per figure, after 1 warm-up")
    harness.server_option(ap, DATABASE)
    ap.add_argument("--out", type=Path, default=None, help="JSON results (default /tmp/sanichain-bench/…)")
    args = ap.parse_args(argv)
    if args.runs < 1 or min(args.villages, args.farms, args.stations) < 0:
        ap.error("--runs must be >= 1 and the counts >= 0")
    return args


def run_all(args: argparse.Namespace, work: Path, server: harness.Server) -> dict[str, Any]:
    data = work / "data"
    generate = bench_generate(args, data, work)
    counts: dict[str, int] = scale.read_manifest(data)["counts"]
    load = bench_load(server, data, args.runs, work)
    source = source_meta(server)
    per_run = [load_phases(r) for r in load.runs]
    phases = {name: harness.spread([p[name] for p in per_run]) for name in per_run[0]}
    sizes = {
        "generated_bytes": dir_bytes(data),
        "farms_csv_bytes": (data / f"{FARMS}.csv").stat().st_size,
        "database_bytes_after_load": server.one(DATABASE, f"SELECT pg_database_size('{DATABASE}')"),
        "farms_table_bytes": server.one(DATABASE, f"SELECT pg_total_relation_size('{FARMS}')"),
    }
    harness.say("writing the lon/lat CSV for ogr2ogr (untimed)")
    lonlat = work / "farms_lonlat.csv"
    farms = write_lonlat_csv(data / f"{FARMS}.csv", lonlat)
    sizes["farms_lonlat_csv_bytes"] = lonlat.stat().st_size
    anchors = [bench_floor(server, v, data / f"{FARMS}.csv", farms, args.runs) for v in FLOOR_VARIANTS]
    anchors.append(bench_ogr2ogr(server, lonlat, farms, args.runs))
    drop_tables(server, FLOOR_TABLE, IMPORT_TABLE)
    measures = [generate, load, *anchors]
    return {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_meta(server),
        "source": source,
        "counts": counts,
        "sizes": sizes,
        "measures": [m.summary() for m in measures],
        "load_phases": phases,
        "table": table_rows(measures, phases, counts),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out or harness.default_out("scale_dataset")
    harness.stop_on_sigterm()
    try:
        with (
            harness.workdir("sanichain-bench-") as work,
            harness.postgres(work, args.server_url, drop=[DATABASE]) as server,
        ):
            server.recreate(DATABASE)
            results = run_all(args, work, server)
    except (harness.BenchError, scale.ScaleDataError) as exc:
        print(f"scale_dataset: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scale_dataset: interrupted", file=sys.stderr)
        return 130
    harness.write_json(out, results)
    print("\n".join(results["table"]))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
