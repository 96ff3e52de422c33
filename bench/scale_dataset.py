"""Benchmark of the national-scale dataset path, in turns with its anchors in the same sitting.

    .venv/bin/python bench/scale_dataset.py                       # full size: 500k villages, 1M farms
    .venv/bin/python bench/scale_dataset.py --villages 20000 --farms 40000 --stations 200 --runs 2

What it does, start to end:

1. starts a throwaway PostgreSQL cluster on a free port (shared_buffers=1GB, work_mem=64MB, like the
   anchors in /work/shared/bench-anchors), unless --server-url names a server to use instead;
2. times `sanichain demo generate` (wall, rows/s, output size, peak RSS of the process): 1 warm-up +
   --runs runs, median (min–max); it has no anchor;
3. runs `sanichain demo load` (the command as installed, DATABASE_URL in its environment) into a freshly
   created and migrated database in turns with each anchor on the same farms, one sitting per anchor:
     ogr2ogr    GDAL's CSV import of a lon/lat CSV derived from ours (anchor "d" of run_anchors.sh);
     floor      `psql \\copy` into a plain copy of `livestock_farms` (no constraints, no indexes);
     same_ddl   `psql \\copy` into a table with `livestock_farms`' full DDL whose GIST indexes are
                dropped first and built after the COPY (timed): the work the load does for the farms.
   A sitting is `harness.interleaved`: a warm-up of each side, then --runs pairs in rotated order (ours
   first, anchor first, …). The figure of ours is the load's farms part (its `copy livestock_farms`
   progress line to the next one: the COPY and the GIST builds), timestamped as the lines arrive; the
   whole load's wall time is kept beside it. Each pair's ratio (farms part ÷ anchor) and the load
   average after it are printed; the ratio quoted is the median (min–max) of the pairs' ratios;
4. unless --no-ladder: the floor with `livestock_farms`' generated columns, constraints, indexes and
   foreign key added one by one (anchor runs only, 1 warm-up + --runs each, in blocks: a breakdown of
   what the DDL costs, not compared with ours pair by pair).

Every timed figure is a whole child process: wall time from a monotonic clock around spawn .. reap, CPU
and peak RSS from wait4(). Untimed before every run, of either side: recreating (and migrating) the
database for the load, recreating the table for an anchor (ogr2ogr's dropped), then a CHECKPOINT. Both
sides write the same farms into the same server. Markdown tables go to stdout, all figures and every
run as JSON to --out. The cluster and the temporary files are removed at the end (Ctrl-C too).
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


def run_timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run `cmd` in its own session; time it and timestamp each stderr line as it arrives."""
    with tempfile.NamedTemporaryFile(prefix="sanichain-bench-run-", suffix=".json") as result:
        launcher = harness.launcher(Path(result.name), cmd)
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
    measure = repeat(Side("generate", "generate (all tables)", 0, cmd, fresh_dir, cwd=cwd), args.runs)
    measure.rows = sum(scale.read_manifest(data)["counts"].values())
    return measure


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


_CHECKS = "INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS"
_GIST_AFTER = f"CREATE INDEX ON {FLOOR_TABLE} USING gist (geom)"
GIST_OF_FARMS = "gist-of-farms"  # FloorVariant.after: livestock_farms' own GIST indexes, built after


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


FLOOR = FloorVariant("floor", "COPY floor: plain table, no constraints/indexes", "INCLUDING DEFAULTS")
# What `demo load` does for the farms: the full DDL, its GIST indexes dropped and built after the COPY.
SAME_DDL = FloorVariant(
    "same_ddl",
    "same DDL as livestock_farms, its GIST built after COPY (= the load's farms work)",
    "INCLUDING ALL",
    True,
    "USING gist",
    foreign_key=True,
    after=(GIST_OF_FARMS,),
)
LADDER = (
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
    return (*keys, *indexes_of(server, table))


def indexes_of(server: harness.Server, table: str, matching: str = "") -> tuple[str, ...]:
    """`table`'s indexes that back no constraint (those whose definition contains `matching`), as DDL
    on the floor table."""
    with server.cursor(DATABASE) as cur:
        cur.execute(
            "SELECT i.indisunique, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid = %s::regclass"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            " AND strpos(pg_get_indexdef(i.indexrelid), %s) > 0"
            " ORDER BY i.indexrelid",
            (table, matching),
        )
        # pg_get_indexdef: "CREATE [UNIQUE] INDEX name ON table USING method (…)"; keep the part after USING.
        return tuple(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX ON {FLOOR_TABLE} USING {text.split(' USING ', 1)[1]}"
            for unique, text in cur.fetchall()
        )


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


def drop_tables(server: harness.Server, *tables: str) -> None:
    with server.cursor(DATABASE) as cur:
        for table in tables:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a command, its untimed reset, and what it writes."""

    key: str
    label: str
    rows: int
    cmd: list[str]
    prepare: Callable[[], None]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    table: str = ""  # the table it writes, described after the sitting ("" = the whole database)


class Schema:
    """What the anchors need to know of `livestock_farms` in the migrated schema (read once)."""

    def __init__(self, server: harness.Server) -> None:
        self.generated = generated_columns_of(server, FARMS)
        self.keys_and_indexes = keys_and_indexes_of(server, FARMS)
        self.gist = indexes_of(server, FARMS, "USING gist")


def floor_side(
    server: harness.Server, variant: FloorVariant, schema: Schema, csv_path: Path, rows: int
) -> Side:
    columns = ", ".join(scale.COLUMNS[FARMS])
    copy = f"\\copy {FLOOR_TABLE} ({columns}) FROM '{csv_path}' WITH (FORMAT csv, HEADER)"
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", server.dsn(DATABASE), "-c", copy]
    after: list[str] = []
    for statement in variant.after:
        after += schema.gist if statement == GIST_OF_FARMS else [statement]
    if variant.keys_after:
        after += schema.keys_and_indexes
    for statement in after:
        cmd += ["-c", statement]

    def fresh_table() -> None:
        with server.cursor(DATABASE) as cur:
            for statement in floor_ddl(variant, schema.generated):
                cur.execute(statement)
            if variant.drop_indexes:
                drop_indexes(cur, FLOOR_TABLE, variant.drop_indexes)
        server.checkpoint()

    return Side(variant.key, variant.label, rows, cmd, fresh_table, table=FLOOR_TABLE)


def ogr2ogr_side(server: harness.Server, lonlat: Path, rows: int) -> Side:
    cmd = ["ogr2ogr", "-f", "PostgreSQL", f"PG:{server.dsn(DATABASE)}", str(lonlat)]
    cmd += ["-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat", "-a_srs", "EPSG:4326"]
    cmd += ["-nln", IMPORT_TABLE, "-overwrite", "--config", "PG_USE_COPY", "YES"]

    def no_table() -> None:  # -overwrite would drop it inside the timed run: drop it beforehand
        drop_tables(server, IMPORT_TABLE)
        server.checkpoint()

    label = "ogr2ogr CSV import (anchor d: PG_USE_COPY, pk + GIST)"
    return Side("ogr2ogr", label, rows, cmd, no_table, table=IMPORT_TABLE)


def load_side(server: harness.Server, data: Path, rows: int, cwd: Path) -> Side:
    def fresh_database() -> None:
        server.recreate(DATABASE)
        server.checkpoint()

    cmd = [harness.sanichain_cmd(), "demo", "load", "--dir", str(data)]
    env = {**os.environ, "DATABASE_URL": server.url(DATABASE)}
    label = "sanichain demo load (all tables, one transaction, + ANALYZE)"
    return Side("load", label, rows, cmd, fresh_database, env, cwd)


def run_side(side: Side, run_label: str) -> tuple[Run, float]:
    """`side` once: its untimed reset, then its command timed; (the run, 1-minute load average after)."""
    harness.say(f"{side.key}: {run_label}")
    side.prepare()
    run = run_timed(side.cmd, side.env, side.cwd)
    if run.exit != 0:
        tail = " | ".join(line for _, line in run.marks[-5:])
        raise harness.BenchError(f"{side.key}: exit {run.exit}: {tail}")
    load = os.getloadavg()[0]
    harness.say(f"{side.key}: {run.wall_s:.2f} s, peak {run.peak_mib:.0f} MiB, load average {load:.2f}")
    return run, load


def repeat(side: Side, runs: int) -> Measure:
    """1 warm-up + `runs` counted runs of `side`, in a block."""
    (warmup, _), counted = harness.repeat(lambda label: run_side(side, label), runs)
    measure = Measure(side.key, side.label, side.rows, [r for r, _ in counted], warmup, side.cmd)
    measure.loadavg = [load for _, load in counted]
    return measure


def farms_part(run: Run) -> float:
    """The load's farms part: from its `copy livestock_farms` line to the next (COPY + GIST builds)."""
    return load_phases(run)[FARMS]


def sitting(ours: Side, anchor: Side, runs: int, server: harness.Server) -> dict[str, Any]:
    """Ours and `anchor` in turns (`harness.interleaved`: a warm-up of each, then `runs` pairs in
    rotated order). The resets happen inside each turn but outside its process's clock, so a pair's
    figures are the processes' own: the load's farms part (and whole wall) and the anchor's wall."""
    got_ours: list[tuple[Run, float]] = []
    got_anchor: list[tuple[Run, float]] = []
    written: dict[str, list[str]] = {}  # the anchor's table after its last turn (the load drops it)

    def anchor_turn() -> None:
        got_anchor.append(run_side(anchor, "turn"))
        if anchor.table:
            written.update(describe_table(server, anchor.table))

    turns = harness.interleaved(lambda: got_ours.append(run_side(ours, "turn")), anchor_turn, runs)
    (ours_warmup, _), *ours_runs = got_ours
    (anchor_warmup, _), *anchor_runs = got_anchor
    pairs = []
    for pair, (o, _), (a, _) in zip(turns.pairs, ours_runs, anchor_runs, strict=True):
        farms = farms_part(o)
        pairs.append(
            {
                "order": pair.row()["order"],
                "ours_farms_s": round(farms, 3),
                "ours_load_s": round(o.wall_s, 3),
                "anchor_s": round(a.wall_s, 3),
                "ratio": round(farms / a.wall_s, 3) if a.wall_s else None,
                "loadavg": pair.loadavg,
            }
        )
        harness.say(
            f"{ours.key} vs {anchor.key}: pair {len(pairs)}: ratio {pairs[-1]['ratio']}, {pair.loadavg}"
        )
    ours_measure = Measure(ours.key, ours.label, ours.rows, [o for o, _ in ours_runs], ours_warmup, ours.cmd)
    ours_measure.loadavg = [load for _, load in ours_runs]
    anchor_measure = Measure(
        anchor.key, anchor.label, anchor.rows, [a for a, _ in anchor_runs], anchor_warmup, anchor.cmd
    )
    anchor_measure.loadavg = [load for _, load in anchor_runs]
    if written:
        anchor_measure.extra["table_after_run"] = written
    return {
        "anchor": anchor.key,
        "label": anchor.label,
        "ours_farms_s": harness.spread([p["ours_farms_s"] for p in pairs]),
        "ours_load_s": harness.spread([p["ours_load_s"] for p in pairs]),
        "anchor_s": harness.spread([p["anchor_s"] for p in pairs]),
        "ratio": harness.spread([p["ratio"] for p in pairs]),
        "warmup_s": {
            "ours_farms": farms_part(ours_warmup),
            "ours_load": ours_warmup.wall_s,
            "anchor": anchor_warmup.wall_s,
        },
        "pairs": pairs,
        "load_phases": [load_phases(o) for o, _ in ours_runs],
        "measures": {"ours": ours_measure.summary(), "anchor": anchor_measure.summary()},
    }


# --- report ------------------------------------------------------------------------------------


def fmt_spread(s: dict[str, float]) -> str:
    return f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})"


def fmt_rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 and rows else "–"


def pooled_phases(sittings: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each phase of the load over every counted load run of every sitting: median (min–max)."""
    runs = [phases for s in sittings for phases in s["load_phases"]]
    return {name: harness.spread([p[name] for p in runs]) for name in runs[0]} if runs else {}


def summary_rows(
    generate: dict[str, Any], sittings: list[dict[str, Any]], counts: dict[str, int]
) -> list[str]:
    """Generate, then each sitting's medians and its pairs' ratio; then the load's phases, pooled."""
    lines = ["| measure | rows | wall s, median (min–max) | rows/s | peak RSS MiB | CPU s (process) |"]
    lines.append("|---|---:|---|---:|---:|---:|")

    def row(m: dict[str, Any], label: str = "") -> str:
        return (
            f"| {label or m['label']} | {m['rows']:,} | {fmt_spread(m['wall_s'])} "
            f"| {fmt_rate(m['rows'], m['wall_s']['median'])} | {m['peak_mib']['median']:.0f} "
            f"| {m['cpu_s']['median']:.2f} |"
        )

    lines.append(row(generate))
    for s in sittings:
        ours, anchor = s["measures"]["ours"], s["measures"]["anchor"]
        farms = counts.get(FARMS, 0)
        lines.append(f"| **in turns with {s['anchor']}** | | | | | |")
        lines.append(row(ours, "&nbsp;&nbsp;" + ours["label"]))
        lines.append(
            f"| &nbsp;&nbsp;load: farms part (COPY + GIST builds) | {farms:,} "
            f"| {fmt_spread(s['ours_farms_s'])} | {fmt_rate(farms, s['ours_farms_s']['median'])} | | |"
        )
        lines.append(row(anchor, "&nbsp;&nbsp;" + anchor["label"]))
        lines.append(
            f"| &nbsp;&nbsp;**farms part ÷ {s['anchor']}, pairs' median (min–max)** | "
            f"| {fmt_spread(s['ratio'])} | | | |"
        )
    phases = pooled_phases(sittings)
    if phases:
        lines += ["", "The load's phases over all its counted runs (every sitting):", ""]
        lines += ["| phase | rows | s, median (min–max) | rows/s |", "|---|---:|---|---:|"]
        for name, s in phases.items():
            rows = counts.get(name, 0)
            label = f"copy {name}" if name in counts else name
            lines.append(f"| {label} | {rows:,} | {fmt_spread(s)} | {fmt_rate(rows, s['median'])} |")
    return lines


def pair_rows(s: dict[str, Any]) -> list[str]:
    lines = [f"Load in turns with {s['label']}:", ""]
    lines.append(
        f"| pair | order | ours: farms part s | ours: whole load s | {s['anchor']} s "
        "| ratio (farms ÷ anchor) | load average |"
    )
    lines.append("|---:|---|---:|---:|---:|---:|---|")
    for n, p in enumerate(s["pairs"], 1):
        lines.append(
            f"| {n} | {p['order']} | {p['ours_farms_s']:.2f} | {p['ours_load_s']:.2f} | {p['anchor_s']:.2f} "
            f"| {p['ratio']:.2f} | {p['loadavg']} |"
        )
    r = s["ratio"]
    lines.append(f"| | | | | | **{r['median']:.2f}** ({r['min']:.2f}–{r['max']:.2f}) median | |")
    return lines


def ladder_rows(ladder: list[dict[str, Any]]) -> list[str]:
    if not ladder:
        return []
    lines = ["The DDL step by step (psql \\copy of the farms, anchor runs only, in blocks):", ""]
    lines += ["| measure | rows | wall s, median (min–max) | rows/s | load avg |", "|---|---:|---|---:|---:|"]
    for m in ladder:
        lines.append(
            f"| {m['label']} | {m['rows']:,} | {fmt_spread(m['wall_s'])} "
            f"| {fmt_rate(m['rows'], m['wall_s']['median'])} | {statistics.median(m['loadavg_1m']):.1f} |"
        )
    return lines


def report(results: dict[str, Any]) -> list[str]:
    lines = summary_rows(results["generate"], results["sittings"], results["counts"])
    for s in results["sittings"]:
        lines += ["", *pair_rows(s)]
    if results["ladder"]:
        lines += ["", *ladder_rows(results["ladder"])]
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.dataset_options(ap)
    ap.add_argument(
        "--runs", type=int, default=3, help="pairs per sitting (and counted runs per block), after 1 warm-up"
    )
    ap.add_argument(
        "--no-ladder", action="store_true", help="skip the floor's DDL step by step (anchor runs only)"
    )
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
    source = source_meta(server)
    schema = Schema(server)  # the migrated schema, still empty
    harness.say("writing the lon/lat CSV for ogr2ogr (untimed)")
    lonlat = work / "farms_lonlat.csv"
    farms = write_lonlat_csv(data / f"{FARMS}.csv", lonlat)
    ours = load_side(server, data, sum(counts.values()), work)
    anchors = [
        ogr2ogr_side(server, lonlat, farms),
        floor_side(server, FLOOR, schema, data / f"{FARMS}.csv", farms),
        floor_side(server, SAME_DDL, schema, data / f"{FARMS}.csv", farms),
    ]
    sittings = []
    for anchor in anchors:
        harness.say(f"sitting: load in turns with {anchor.key}, {args.runs} pairs after a warm-up of each")
        sittings.append(sitting(ours, anchor, args.runs, server))
        drop_tables(server, FLOOR_TABLE, IMPORT_TABLE)
    # The database holds the last load: its size, and the ladder's LIKE and FK need it.
    sizes = {
        "generated_bytes": dir_bytes(data),
        "farms_csv_bytes": (data / f"{FARMS}.csv").stat().st_size,
        "farms_lonlat_csv_bytes": lonlat.stat().st_size,
        "database_bytes_after_load": server.one(DATABASE, f"SELECT pg_database_size('{DATABASE}')"),
        "farms_table_bytes": server.one(DATABASE, f"SELECT pg_total_relation_size('{FARMS}')"),
    }
    ladder = []
    if not args.no_ladder:
        for variant in LADDER:
            measure = repeat(floor_side(server, variant, schema, data / f"{FARMS}.csv", farms), args.runs)
            measure.extra["table_after_run"] = describe_table(server, FLOOR_TABLE)
            ladder.append(measure.summary())
        drop_tables(server, FLOOR_TABLE)
    results = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_meta(server),
        "source": source,
        "counts": counts,
        "sizes": sizes,
        "generate": generate.summary(),
        "sittings": sittings,
        "load_phases": pooled_phases(sittings),
        "ladder": ladder,
    }
    results["table"] = report(results)
    return results


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
