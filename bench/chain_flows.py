"""Benchmark of the chain computation (flows + integrity + indicators), with a pandas reference.

    .venv/bin/python bench/chain_flows.py                       # full size: 500k villages, 1M farms
    .venv/bin/python bench/chain_flows.py --villages 20000 --farms 40000 --stations 200 --runs 1

What it does, start to end:

1. starts a throwaway PostgreSQL cluster on a free port (shared_buffers=1GB, work_mem=64MB, like the
   anchors in /work/shared/bench-anchors), unless --server-url names a server to use instead;
2. demo: loads the Zhucheng demo into a migrated database and times `flows.compute` +
   `integrity.check` + `indicators.compute` in one transaction (in-process), then `GET /indicators`
   and `GET /chain/integrity` through `sanichain serve` in a child process (sequential requests);
3. national: `scale.generate` + `scale.load` into a fresh migrated database, then builds the chain in
   SQL (untimed): one collection point per village, every source and facility linked to the nearest
   facility of the next stage (KNN `<->`), VACUUM ANALYZE;
4. times `flows.compute` + `integrity.check` in one transaction (1 warm-up + --runs), with the SQL
   time of every statement (which rule costs what), and EXPLAIN ANALYZE of the costliest ones;
5. runs bench/chain_flows_pandas.py (geopandas venv, child process) on the same databases and checks
   that its totals equal ours (1e-6 relative) and its findings per rule too (except `cycle`).

A Markdown table goes to stdout, everything as JSON to --out. The cluster and the temporary files are
removed at the end (Ctrl-C too).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import harness
import psycopg2
from sqlalchemy import Engine, event, text

from service.chain import flows, indicators, integrity
from service.chain.parameters import (
    ALLOWED_SKIPS,
    FEEDING_DAYS,
    MANURE_KG_PER_HEAD_DAY,
    STAGES,
    ChainParameters,
)
from service.config import REPO_ROOT, sqlalchemy_url
from service.db import make_engine
from service.demo import loader
from service.synthetic import national_scale as scale

DEMO_DB = "sanichain_chain_demo"
NATIONAL_DB = "sanichain_chain_national"
PANDAS_SCRIPT = Path(__file__).resolve().parent / "chain_flows_pandas.py"
OTHER_BENCHMARKS = "bench/scale_dataset.py|bench/features"
REL_TOL = 1e-6


def other_benchmarks() -> list[str]:
    """Command lines of other benchmark processes now running (pgrep never reports itself)."""
    out = subprocess.run(["pgrep", "-af", OTHER_BENCHMARKS], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if line.strip()]


def wait_idle(enabled: bool, limit_s: float = 1800) -> list[str]:
    """With --wait-idle, wait (up to 30 min) until no other benchmark runs; return what still runs."""
    busy = other_benchmarks()
    deadline = time.monotonic() + limit_s
    while enabled and busy and time.monotonic() < deadline:
        harness.say(f"waiting for another benchmark to finish: {busy[0][:100]}")
        time.sleep(20)
        busy = other_benchmarks()
    if busy:
        harness.say(f"WARNING: measuring while another benchmark runs: {busy[0][:100]}")
    return busy


# --- per-statement clock ------------------------------------------------------------------------

_TEMP_TABLE = re.compile(
    r"CREATE TEMP TABLE (\w+)|(ANALYZE|DROP TABLE IF EXISTS) pg_temp\.(\w+)|CREATE INDEX"
)
_INSERT = re.compile(r"^\s*INSERT INTO (\w+)")


def _label(statement: str) -> str:
    """Which part of the chain computation issued the statement (found on the Python stack)."""
    frames: list[tuple[str, str]] = []
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("service.chain."):
            frames.append((module.rsplit(".", 1)[1], frame.f_code.co_name))
        frame = frame.f_back
    if not frames:
        return "other"
    module, _ = frames[-1]
    if module == "flows":
        m = _TEMP_TABLE.search(statement)
        if m and m.group(1):
            return f"flows: {m.group(1)}"
        inserted = _INSERT.match(statement)
        if inserted:  # the levels' arrivals, the facilities' links added to the first hops (D121)
            return f"flows: {inserted.group(1)} (insert)"
        return "flows: ANALYZE/DROP/ALTER/INDEX/VIEW"
    if module == "integrity" and len(frames) >= 2:
        return f"integrity: {frames[-2][1].lstrip('_')}"  # the rule function `check` called
    return f"{module}: {frames[0][1]}"


@dataclass
class Statement:
    label: str
    seconds: float
    statement: str
    parameters: Any


@dataclass
class StatementClock:
    """SQL time per statement (execute + fetch by psycopg2), recorded while `on`."""

    engine: Engine
    on: bool = False
    records: list[Statement] = field(default_factory=list)

    def __post_init__(self) -> None:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cur: Any, _stmt: str, _params: Any, _ctx: Any, _many: bool) -> None:
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def _after(self, conn: Any, _cur: Any, stmt: str, params: Any, _ctx: Any, _many: bool) -> None:
        elapsed = time.perf_counter() - conn.info["bench_t0"].pop()
        if self.on:
            self.records.append(Statement(_label(stmt), elapsed, stmt, params))

    def take(self) -> list[Statement]:
        records, self.records = self.records, []
        return records


def by_label(records: list[Statement]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in records:
        out[r.label] = out.get(r.label, 0.0) + r.seconds
    return out


# --- the timed computation ----------------------------------------------------------------------


@dataclass
class InProcess:
    runs: list[dict[str, float]]
    sql: list[dict[str, float]]  # per run: label -> SQL seconds
    findings_by_rule: dict[str, int]
    last_statements: list[Statement]

    def phase(self, name: str) -> dict[str, float]:
        return harness.spread([r[name] for r in self.runs])

    def sql_spread(self) -> dict[str, dict[str, float]]:
        labels = sorted({k for run in self.sql for k in run})
        return {k: harness.spread([run.get(k, 0.0) for run in self.sql]) for k in labels}


ChainRun = tuple[dict[str, float], list[integrity.Finding], list[Statement]]
PandasRun = tuple[float, dict[str, Any]]  # wall time of the child process, its JSON line


def chain_run(
    engine: Engine, clock: StatementClock, params: ChainParameters, with_indicators: bool, key: str
) -> Callable[[str], ChainRun]:
    """One run: flows.compute + integrity.check (+ indicators.compute), one transaction, rolled back."""

    def one(label: str) -> ChainRun:
        clock.take()
        clock.on = True
        with engine.connect() as conn, conn.begin():
            t0 = time.perf_counter()
            flows.compute(conn, params)
            t1 = time.perf_counter()
            findings = integrity.check(conn, params)
            t2 = time.perf_counter()
            if with_indicators:
                indicators.compute(conn)
            t3 = time.perf_counter()
            conn.rollback()
        clock.on = False
        statements = clock.take()
        phases = {
            "flows_s": t1 - t0,
            "integrity_s": t2 - t1,
            "flows_integrity_s": t2 - t0,
            "indicators_s": t3 - t2,
            "total_s": t3 - t0,
        }
        harness.say(
            f"{key}: {label}: flows {phases['flows_s']:.3f} s, "
            f"integrity {phases['integrity_s']:.3f} s, indicators {phases['indicators_s']:.3f} s, "
            f"{len(findings)} findings"
        )
        return phases, findings, statements

    return one


def in_process(counted: list[ChainRun]) -> InProcess:
    _, findings, statements = counted[-1]
    summary = integrity.report(findings)["summary"]["by_rule"]
    return InProcess([c[0] for c in counted], [by_label(c[2]) for c in counted], summary, statements)


def our_totals(engine: Engine, params: ChainParameters) -> dict[str, Any]:
    """The figures the pandas side prints, from our temporary tables (untimed)."""
    with engine.connect() as conn, conn.begin():
        flows.compute(conn, params)
        streams = flows.stream_totals(conn)
        row = conn.execute(
            text(
                """
                SELECT (SELECT sum(inflow_t_per_day) FROM chain_facility WHERE layer = 'treatment_plants'),
                       (SELECT sum(inflow_t_per_day) FROM chain_facility),
                       (SELECT sum(inflow_t_per_day ^ 2) FROM chain_facility),
                       (SELECT sum(flow_t_per_day) FROM chain_link_flow),
                       (SELECT sum(ST_Length(geom::geography)) FROM chain_links)
                """
            )
        ).one()
        conn.rollback()
    return {
        "generated": {s.stream: s.generated_t_per_day for s in streams},
        "unconnected": {s.stream: s.unconnected_t_per_day for s in streams},
        "delivered": {s.stream: s.delivered_t_per_day for s in streams},
        "plant_inflow": float(row[0] or 0),
        "facility_inflow": float(row[1] or 0),
        "facility_inflow_sq": float(row[2] or 0),
        "link_flow": float(row[3] or 0),
        "link_length_m": float(row[4] or 0),
    }


# The tables flows.compute() makes with the planner's sequential scans off (`flows.in_window_order`):
# explained without that setting, their plan would not be the one that ran.
WINDOW_ORDERED = ("chain_source_hop", "chain_facility_step")


def explain(engine: Engine, params: ChainParameters, statements: list[Statement]) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the given statements, after a fresh flows.compute (untimed)."""
    plans: dict[str, str] = {}
    with engine.connect() as conn, conn.begin():
        flows.compute(conn, params)
        for s in statements:
            temp = re.match(r"flows: (chain_\w+)$", s.label)
            # A temporary table is made again under EXPLAIN, then put back as it was with the views
            # over it (D123) that dropping it takes along.
            saved = conn.begin_nested() if temp else None
            if temp:
                conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{temp.group(1)} CASCADE"))
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            cur = dbapi.cursor()
            ordered = temp is not None and temp.group(1) in WINDOW_ORDERED
            try:
                with flows.in_window_order(conn) if ordered else contextlib.nullcontext():
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + s.statement, s.parameters)
                plans[s.label] = "\n".join(r[0] for r in cur.fetchall())
            finally:
                cur.close()
                if saved is not None:
                    saved.rollback()
        conn.rollback()
    return plans


# --- HTTP through a real server -----------------------------------------------------------------


def time_requests(base: str, path: str, n: int) -> dict[str, Any]:
    """1 warm-up + n sequential GETs; wall time per request including reading the body."""
    req = urllib.request.Request(base + path, headers={"Accept": "application/json"})

    def get() -> int:
        with urllib.request.urlopen(req, timeout=600) as r:
            body = r.read()
            if r.status != 200:
                raise harness.BenchError(f"GET {path}: HTTP {r.status}")
        return len(body)

    got = harness.timed(get, n)
    return {"path": path, "requests": n, "seconds": got.spread, "bytes": got.result}


# --- the pandas reference -----------------------------------------------------------------------


def reference_params(params: ChainParameters) -> dict[str, Any]:
    """Everything the pandas side needs, from the same source as the SQL side."""
    return {
        **params.model_dump(),
        "species": [
            {"species": sp, "manure_kg": kg, "feeding_days": FEEDING_DAYS.get(sp)}
            for sp, kg in MANURE_KG_PER_HEAD_DAY.items()
        ],
        "stages": [
            {"stream": s, "layer": layer, "stage": n}
            for s, layers in STAGES.items()
            for layer, n in layers.items()
        ],
        "allowed_skips": [list(a) for a in sorted(ALLOWED_SKIPS)],
    }


def pandas_run(url: str, params: ChainParameters, key: str) -> tuple[list[str], Callable[[str], PandasRun]]:
    """The pandas reference's command and one run of it: a child process; phase times from its JSON
    line, wall time from here."""
    cmd = [
        str(harness.geo_python()),
        str(PANDAS_SCRIPT),
        "--url",
        sqlalchemy_url(url),
        "--params",
        json.dumps(reference_params(params)),
    ]

    def one(label: str) -> tuple[float, dict[str, Any]]:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise harness.BenchError(f"{key}: pandas reference failed: {proc.stderr.strip()[-800:]}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        t = out["times"]
        harness.say(
            f"{key}: {label}: process {wall:.2f} s, load "
            f"{t['load_s']:.2f} s, flows {t['flows_s']:.2f} s, integrity {t['integrity_s']:.2f} s"
        )
        return wall, out

    return cmd, one


def pandas_summary(cmd: list[str], counted: list[PandasRun]) -> dict[str, Any]:
    walls = [wall for wall, _ in counted]
    outs = [out for _, out in counted]
    names = outs[0]["times"].keys()
    return {
        "cmd": [*cmd[:5], "<params JSON>"],
        "process_s": harness.spread(walls),
        "times": {n: harness.spread([o["times"][n] for o in outs]) for n in names},
        "last": outs[-1],
    }


def interleaved_sitting(
    engine: Engine,
    clock: StatementClock,
    params: ChainParameters,
    url: str,
    runs: int,
    key: str,
    with_indicators: bool = False,
) -> tuple[InProcess, dict[str, Any], list[dict[str, Any]]]:
    """Ours and pandas in turns (A B, B A, …) after a warm-up of each: each pair's ratios of ours
    (flows + integrity) to pandas' in-memory flows + integrity and to its whole process."""
    ours_one = chain_run(engine, clock, params, with_indicators, f"{key} in-process")
    cmd, pandas_one = pandas_run(url, params, f"{key} pandas")
    ours_runs: list[ChainRun] = []
    pandas_runs: list[PandasRun] = []

    def ours() -> None:
        ours_runs.append(ours_one(f"run {len(ours_runs)}"))

    def anchor() -> None:
        pandas_runs.append(pandas_one(f"run {len(pandas_runs)}"))

    sitting = harness.interleaved(ours, anchor, runs)
    ours_counted, pandas_counted = ours_runs[1:], pandas_runs[1:]  # the first of each was the warm-up
    pairs = []
    for pair, (phases, _, _), (wall, out) in zip(sitting.pairs, ours_counted, pandas_counted, strict=True):
        in_memory = out["times"]["flows_s"] + out["times"]["integrity_s"]
        pairs.append(
            {
                **pair.row(),
                "ours_flows_integrity_s": round(phases["flows_integrity_s"], 3),
                "pandas_in_memory_s": round(in_memory, 3),
                "pandas_process_s": round(wall, 3),
                "ours_vs_pandas_in_memory": round(phases["flows_integrity_s"] / in_memory, 3),
                "ours_vs_pandas_process": round(phases["flows_integrity_s"] / wall, 3),
            }
        )
    return in_process(ours_counted), pandas_summary(cmd, pandas_counted), pairs


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    rows: list[dict[str, Any]] = []
    ok = True
    for name, value in ours.items():
        if isinstance(value, dict):
            items = [(f"{name}.{k}", v, theirs.get(name, {}).get(k, 0.0)) for k, v in value.items()]
        else:
            items = [(name, value, theirs.get(name, 0.0))]
        for label, a, b in items:
            rel = abs(a - b) / max(abs(a), abs(b)) if max(abs(a), abs(b)) > 0 else 0.0
            good = rel <= REL_TOL and not math.isnan(rel)
            ok = ok and good
            rows.append({"figure": label, "ours": a, "pandas": b, "rel_diff": rel, "equal": good})
    return rows, ok


def compare_findings(ours: dict[str, int], theirs: dict[str, int]) -> list[dict[str, Any]]:
    rules = sorted(set(ours) | set(theirs) | set(integrity.RULES))
    return [
        {
            "rule": r,
            "ours": ours.get(r, 0),
            "pandas": None if r == "cycle" else theirs.get(r, 0),
            "equal": r == "cycle" or ours.get(r, 0) == theirs.get(r, 0),
        }
        for r in rules
    ]


# --- the national chain, built set-based --------------------------------------------------------

# One collection point per village, in its town; offset ~100–400 m, and every 50th ~3.1–3.9 km away so
# that link_too_long (> 3 km) has something to find. Capacity 2 t/d: the biggest villages exceed it.
# Links: each source/facility to the nearest operational facility of the next stage (planar KNN on
# lon/lat, `<->`). Their lines are drawn here, set-based, exactly as the chain_links_geom trigger draws
# them (ST_MakeLine(source, target)); the per-row trigger is off during the bulk insert only.
CHAIN_SETUP: tuple[tuple[str, str], ...] = (
    (
        "collection points (1 per village)",
        """
        INSERT INTO collection_points (code, name, status, capacity, capacity_unit, town_id, village_id, geom)
        SELECT 'CP' || lpad(v.id::text, 8, '0'), '合成收集点 ' || v.id, 'operational', 2, 't/d',
               v.town_id, v.id, ST_Translate(v.geom, r * cos(v.id), r * sin(v.id))
        FROM villages v
        CROSS JOIN LATERAL (SELECT CASE WHEN v.id % 50 = 0 THEN 0.035
                                        ELSE 0.001 + (v.id % 7) * 0.0005 END AS r) o
        """,
    ),
    ("trigger chain_links_geom off", "ALTER TABLE chain_links DISABLE TRIGGER chain_links_geom"),
    (
        "links village → its collection point (domestic_waste)",
        """
        INSERT INTO chain_links (stream, source_village_id, target_collection_point_id, geom)
        SELECT 'domestic_waste', v.id, c.id, ST_MakeLine(v.geom, c.geom)
        FROM collection_points c JOIN villages v ON v.id = c.village_id
        """,
    ),
    (
        "links collection point → nearest transfer station",
        """
        INSERT INTO chain_links (stream, source_collection_point_id, target_transfer_station_id, geom)
        SELECT 'domestic_waste', c.id, n.id, ST_MakeLine(c.geom, n.geom) FROM collection_points c
        CROSS JOIN LATERAL (SELECT t.id, t.geom FROM transfer_stations t WHERE t.status = 'operational'
                            ORDER BY t.geom <-> c.geom LIMIT 1) n
        """,
    ),
    (
        "links transfer station → nearest treatment plant",
        """
        INSERT INTO chain_links (stream, source_transfer_station_id, target_treatment_plant_id, geom)
        SELECT 'domestic_waste', s.id, n.id, ST_MakeLine(s.geom, n.geom) FROM transfer_stations s
        CROSS JOIN LATERAL (SELECT p.id, p.geom FROM treatment_plants p WHERE p.status = 'operational'
                            ORDER BY p.geom <-> s.geom LIMIT 1) n
        WHERE s.status = 'operational'
        """,
    ),
    (
        "links village → nearest manure centre (fecal_sludge)",
        """
        INSERT INTO chain_links (stream, source_village_id, target_manure_center_id, geom)
        SELECT 'fecal_sludge', v.id, n.id, ST_MakeLine(v.geom, n.geom) FROM villages v
        CROSS JOIN LATERAL (SELECT m.id, m.geom FROM manure_centers m WHERE m.status = 'operational'
                            ORDER BY m.geom <-> v.geom LIMIT 1) n
        """,
    ),
    (
        "links manure centre → nearest biogas centre (both streams)",
        """
        INSERT INTO chain_links (stream, source_manure_center_id, target_biogas_center_id, geom)
        SELECT s.stream, m.id, n.id, ST_MakeLine(m.geom, n.geom) FROM manure_centers m
        CROSS JOIN LATERAL (SELECT b.id, b.geom FROM biogas_centers b WHERE b.status = 'operational'
                            ORDER BY b.geom <-> m.geom LIMIT 1) n
        CROSS JOIN (VALUES ('fecal_sludge'), ('manure')) s(stream)
        WHERE m.status = 'operational'
        """,
    ),
    (
        "links operational farm → nearest manure centre (manure)",
        """
        INSERT INTO chain_links (stream, source_farm_id, target_manure_center_id, geom)
        SELECT 'manure', f.id, n.id, ST_MakeLine(f.geom, n.geom) FROM livestock_farms f
        CROSS JOIN LATERAL (SELECT m.id, m.geom FROM manure_centers m WHERE m.status = 'operational'
                            ORDER BY m.geom <-> f.geom LIMIT 1) n
        WHERE f.status = 'operational'
        """,
    ),
    ("trigger chain_links_geom on", "ALTER TABLE chain_links ENABLE TRIGGER chain_links_geom"),
    # what autovacuum does after a load: statistics, and the visibility map that lets the covering
    # source index answer the out-degree window without visiting the table (D121)
    ("VACUUM ANALYZE", "VACUUM ANALYZE"),
)


def build_chain(server: harness.Server) -> list[dict[str, Any]]:
    steps = []
    with server.cursor(NATIONAL_DB) as cur:
        for label, statement in CHAIN_SETUP:
            t0 = time.perf_counter()
            cur.execute(statement)
            elapsed = time.perf_counter() - t0
            rows = cur.rowcount if statement.lstrip().startswith("INSERT") else None
            harness.say(
                f"setup: {label}: " + (f"{rows:,} rows, " if rows is not None else "") + f"{elapsed:.1f} s"
            )
            steps.append({"step": label, "rows": rows, "seconds": elapsed})
        cur.execute("SELECT count(*) FROM chain_links WHERE geom IS NULL")
        missing = cur.fetchone()[0]
    if missing:
        raise harness.BenchError(f"setup: {missing} chain links without a line")
    return steps


# --- sections -----------------------------------------------------------------------------------


def demo_section(
    server: harness.Server, args: argparse.Namespace, params: ChainParameters, work: Path
) -> dict[str, Any]:
    harness.say("demo: database, migrate, load gis_data/zhucheng")
    server.recreate(DEMO_DB)
    url = server.url(DEMO_DB)
    engine = make_engine(url)
    try:
        counts = loader.load(engine, REPO_ROOT / "gis_data" / "zhucheng")
        clock = StatementClock(engine)
        ours, pandas, pairs = interleaved_sitting(
            engine, clock, params, url, args.demo_runs, "demo", with_indicators=True
        )
        totals = our_totals(engine, params)
    finally:
        engine.dispose()
    http: list[dict[str, Any]] = []
    with harness.served(url, work / "serve-demo.log") as service:
        for path in ("/indicators", "/chain/integrity"):
            harness.say(f"demo: GET {path} × {args.http_requests}")
            http.append(time_requests(service.base, path, args.http_requests))
    checks, ok = compare(totals, pandas["last"]["totals"])
    return {
        "counts": counts,
        "in_process": {
            "phases": {k: ours.phase(k) for k in ours.runs[0]},
            "sql_by_statement": ours.sql_spread(),
        },
        "findings_by_rule": ours.findings_by_rule,
        "http": http,
        "pandas": pandas,
        "pairs": pairs,
        "totals_check": checks,
        "totals_equal": ok,
        "findings_check": compare_findings(ours.findings_by_rule, pandas["last"]["findings_by_rule"]),
    }


def national_section(
    server: harness.Server,
    args: argparse.Namespace,
    params: ChainParameters,
    work: Path,
    partial: dict[str, Any],
) -> dict[str, Any]:
    """Fills `partial` as it goes, so an interrupted run still leaves its figures in the JSON."""
    data = work / "national"
    harness.say(
        f"national: generate {args.villages:,} villages, {args.farms:,} farms, {args.stations:,} stations"
    )
    t0 = time.perf_counter()
    counts = scale.generate(data, args.villages, args.farms, args.stations, args.seed)
    t_gen = time.perf_counter() - t0
    server.recreate(NATIONAL_DB)
    harness.say("national: load (COPY)")
    t0 = time.perf_counter()
    scale.load(server.url(NATIONAL_DB), data)
    t_load = time.perf_counter() - t0
    shutil.rmtree(data, ignore_errors=True)
    harness.say(f"national: generated in {t_gen:.1f} s, loaded in {t_load:.1f} s; building the chain")
    t0 = time.perf_counter()
    steps = build_chain(server)
    t_chain = time.perf_counter() - t0
    harness.say(f"national: chain built in {t_chain:.1f} s")
    links = server.one(NATIONAL_DB, "SELECT count(*) FROM chain_links")
    counts["collection_points"] = server.one(NATIONAL_DB, "SELECT count(*) FROM collection_points")
    counts["chain_links"] = links
    db_bytes = server.one(NATIONAL_DB, f"SELECT pg_database_size('{NATIONAL_DB}')")

    partial.update(
        counts=counts,
        database_bytes=db_bytes,
        setup={"generate_s": t_gen, "load_s": t_load, "chain_s": t_chain, "chain_steps": steps},
    )
    busy_ours = wait_idle(args.wait_idle)
    engine = make_engine(server.url(NATIONAL_DB))
    try:
        clock = StatementClock(engine)
        ours, pandas, pairs = interleaved_sitting(
            engine, clock, params, server.url(NATIONAL_DB), args.runs, "national"
        )
        partial["pairs"] = pairs
        sql_spread = ours.sql_spread()
        partial.update(
            in_process={
                "phases": {k: ours.phase(k) for k in ("flows_s", "integrity_s", "flows_integrity_s")},
                "sql_by_statement": sql_spread,
            },
            findings_by_rule=ours.findings_by_rule,
        )
        integrity_sql = {k: v for k, v in sql_spread.items() if k.startswith("integrity:")}
        costly = sorted(integrity_sql, key=lambda k: -integrity_sql[k]["median"])[: args.explain]
        # The costliest temporary table of flows (ANALYZE, DROP and CREATE INDEX cannot be EXPLAINed;
        # on small sets they can cost more than any table).
        flow_costly = sorted(
            (k for k in sql_spread if k.startswith("flows: chain_")), key=lambda k: -sql_spread[k]["median"]
        )[:1]
        harness.say(f"national: EXPLAIN ANALYZE of {', '.join(costly + flow_costly)}")
        picked = [s for s in ours.last_statements if s.label in costly + flow_costly]
        plans = explain(engine, params, picked)
        partial["plans"] = plans
        totals = our_totals(engine, params)
        partial["totals"] = totals
    finally:
        engine.dispose()
    checks, ok = compare(totals, pandas["last"]["totals"])
    return {
        "counts": counts,
        "database_bytes": db_bytes,
        "setup": {"generate_s": t_gen, "load_s": t_load, "chain_s": t_chain, "chain_steps": steps},
        "in_process": {
            "phases": {k: ours.phase(k) for k in ("flows_s", "integrity_s", "flows_integrity_s")},
            "sql_by_statement": sql_spread,
        },
        "findings_by_rule": ours.findings_by_rule,
        "plans": plans,
        "pandas": pandas,
        "totals_check": checks,
        "totals_equal": ok,
        "findings_check": compare_findings(ours.findings_by_rule, pandas["last"]["findings_by_rule"]),
        "pairs": pairs,
        "other_benchmarks_running": busy_ours,
    }


# --- report -------------------------------------------------------------------------------------


def ratio(a: dict[str, float], b: dict[str, float]) -> str:
    return f"{b['median'] / a['median']:.1f}×" if a["median"] > 0 else "–"


def table(results: dict[str, Any]) -> list[str]:
    lines = ["| data | figure | ours (SQL) | pandas/geopandas | pandas ÷ ours |", "|---|---|---|---|---|"]
    for key in ("demo", "national"):
        r = results.get(key)
        if not r:
            continue
        ph = r["in_process"]["phases"]
        pt = r["pandas"]["times"]
        both = ph["flows_integrity_s"]
        rows: list[tuple[str, dict[str, float], dict[str, float] | None]] = [
            ("flows (generation, propagation, facility loads)", ph["flows_s"], pt["flows_s"]),
            ("integrity (pandas: geodesic lengths + rules except cycle)", ph["integrity_s"], pt["checks_s"]),
            ("flows + integrity (pandas: tables already in memory)", both, pt["compute_s"]),
            ("flows + integrity (pandas: + read_postgis/read_sql)", both, pt["load_compute_s"]),
            ("flows + integrity (pandas: whole process, imports too)", both, r["pandas"]["process_s"]),
        ]
        if key == "demo":
            rows.append(("indicators (same transaction)", ph["indicators_s"], None))
            rows.append(("flows + integrity + indicators", ph["total_s"], None))
        for label, ours, theirs in rows:
            lines.append(
                f"| {key} | {label} | {harness.fmt_s(ours)} | {harness.fmt_s(theirs) if theirs else '–'} | "
                f"{ratio(ours, theirs) if theirs else '–'} |"
            )
        for h in r.get("http", []):
            lines.append(
                f"| {key} | HTTP GET {h['path']} ({h['bytes']:,} B) | {harness.fmt_s(h['seconds'])} | – | – |"
            )
    return lines


def pairs_table(results: dict[str, Any]) -> list[str]:
    """Each pair of the interleaved sittings: ours (flows + integrity) against pandas, both ways."""
    lines = [
        "| data | pair | order | ours flows + integrity | pandas in memory | ours ÷ pandas in memory "
        "| pandas process | ours ÷ process | load average |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key in ("demo", "national"):
        for i, p in enumerate(results.get(key, {}).get("pairs", []), 1):
            lines.append(
                f"| {key} | {i} | {p['order']} | {p['ours_flows_integrity_s']:.3f} s "
                f"| {p['pandas_in_memory_s']:.3f} s "
                f"| {p['ours_vs_pandas_in_memory']:.2f} | {p['pandas_process_s']:.2f} s "
                f"| {p['ours_vs_pandas_process']:.2f} | {p['loadavg']} |"
            )
    return lines


def findings_table(results: dict[str, Any]) -> list[str]:
    lines = ["| data | rule | ours | pandas |", "|---|---|---|---|"]
    for key in ("demo", "national"):
        r = results.get(key)
        if not r:
            continue
        for f in r["findings_check"]:
            if f["ours"] or f["pandas"]:
                theirs = "–" if f["pandas"] is None else f"{f['pandas']:,}" + ("" if f["equal"] else " ≠")
                lines.append(f"| {key} | {f['rule']} | {f['ours']:,} | {theirs} |")
    return lines


def totals_table(results: dict[str, Any]) -> list[str]:
    lines = ["| data | figure | ours | pandas | rel. diff |", "|---|---|---|---|---|"]
    for key in ("demo", "national"):
        r = results.get(key)
        if not r:
            continue
        for c in r["totals_check"]:
            mark = "" if c["equal"] else " ✗"
            lines.append(
                f"| {key} | {c['figure']} | {c['ours']:.6f} | {c['pandas']:.6f} | {c['rel_diff']:.1e}{mark} |"
            )
    return lines


def sql_table(results: dict[str, Any]) -> list[str]:
    r = results.get("national")
    if not r:
        return []
    lines = ["| national: SQL time per statement | median (min–max) |", "|---|---|"]
    items = sorted(r["in_process"]["sql_by_statement"].items(), key=lambda kv: -kv[1]["median"])
    lines += [f"| {label} | {harness.fmt_s(s)} |" for label, s in items]
    return lines


# --- main ---------------------------------------------------------------------------------------


def machine_meta(server: harness.Server) -> dict[str, Any]:
    return {
        **harness.host(),
        **harness.postgres_versions(server, DEMO_DB, ("shared_buffers", "work_mem", "jit", "fsync")),
        "pandas_venv": str(harness.GEO_VENV),
        "pandas_requirements": str(harness.GEO_REQUIREMENTS),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.dataset_options(ap)
    ap.add_argument("--runs", type=int, default=3, help="counted national runs, after 1 warm-up")
    ap.add_argument("--demo-runs", type=int, default=10, help="counted demo runs, after 1 warm-up")
    ap.add_argument("--http-requests", type=int, default=10, help="sequential requests per endpoint")
    ap.add_argument("--explain", type=int, default=2, help="EXPLAIN ANALYZE the N costliest integrity rules")
    ap.add_argument("--skip-national", action="store_true", help="demo only")
    ap.add_argument(
        "--wait-idle",
        action="store_true",
        help=f"before each timed national section wait (≤30 min) until no '{OTHER_BENCHMARKS}' runs",
    )
    harness.server_option(ap, DEMO_DB, NATIONAL_DB)
    ap.add_argument("--out", type=Path, default=None, help="JSON results (default /tmp/sanichain-bench/…)")
    args = ap.parse_args(argv)
    if (
        min(args.runs, args.demo_runs, args.http_requests) < 1
        or min(args.villages, args.farms, args.stations) < 1
    ):
        ap.error("--runs, --demo-runs, --http-requests and the counts must be >= 1")
    return args


def save_partial(out: Path, results: dict[str, Any]) -> None:
    """What was measured before an error or Ctrl-C, marked incomplete."""
    results["complete"] = False
    harness.write_json(out, results)
    print(f"partial JSON: {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out or harness.default_out("chain_flows")
    harness.stop_on_sigterm()
    params = ChainParameters()
    results: dict[str, Any] = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "parameters": reference_params(params),
    }
    try:
        with (
            harness.workdir("sanichain-chain-bench-") as work,
            harness.postgres(work, args.server_url, drop=[DEMO_DB, NATIONAL_DB]) as server,
        ):
            harness.geo_python()
            results["demo"] = demo_section(server, args, params, work)
            results["machine"] = machine_meta(server)
            if not args.skip_national:
                partial: dict[str, Any] = {}
                results["national_partial"] = partial
                results["national"] = national_section(server, args, params, work, partial)
                del results["national_partial"]
    except (harness.BenchError, scale.ScaleDataError, loader.DemoDataError, psycopg2.Error) as exc:
        print(f"chain_flows: error: {exc}", file=sys.stderr)
        save_partial(out, results)
        return 1
    except KeyboardInterrupt:
        print("chain_flows: interrupted", file=sys.stderr)
        save_partial(out, results)
        return 130
    results["table"] = table(results)
    harness.write_json(out, results)
    for lines in (
        results["table"],
        pairs_table(results),
        totals_table(results),
        findings_table(results),
        sql_table(results),
    ):
        print("\n".join(lines) + "\n")
    ok = all(results[k]["totals_equal"] for k in ("demo", "national") if k in results)
    print(f"totals equal within {REL_TOL:g} relative: {'yes' if ok else 'NO'}")
    print(f"JSON: {out}")
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
