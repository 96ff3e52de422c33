#!/usr/bin/env python3
"""Coverage of all villages on national-scale data, side by side with geopandas (issue 5).

    .venv/bin/python bench/coverage_national.py                 # 500k villages, 1M farms, 5k stations
    .venv/bin/python bench/coverage_national.py --villages 20000 --farms 40000 --stations 200 --runs 1

Starts a throwaway cluster (as bench/chain_flows.py does), generates and loads the synthetic set, then
times, 1 warm-up + --runs counted runs each, median (min–max):
- ours in-process: `coverage.query.prepare` + `summary` for transfer stations within 3,000 m (geodesic),
  villages only (the anchors' question) and villages + farms (the request's default);
- ours over HTTP: `GET /coverage?layer=transfer_stations&distance_m=3000&subjects=villages` through
  `sanichain serve`, and the same without `subjects` (villages and the 1M farms);
- the geopandas anchor, whole process (imports and loading included): the anchors' own
  `bench_coverage.py` (read_postgis, UTM 50N, sjoin_nearest with max_distance) in /tmp/bench-geo-venv,
  reading views `village`/`station` over our tables;
- the bare SQL anchor: `SELECT count(*) … WHERE EXISTS (… ST_DWithin(geography) …)` in psql.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import text

from service.coverage import query as cov
from service.db import make_engine
from service.synthetic import national_scale as scale

HERE = Path(__file__).resolve().parent
ANCHOR = Path("/work/shared/bench-anchors/bench_coverage.py")
DB = "coverage_national"
DISTANCE_M = 3000.0


def _chain_bench() -> Any:
    """Reuse the cluster, server and geopandas-venv helpers of bench/chain_flows.py."""
    spec = importlib.util.spec_from_file_location("chain_flows_bench", HERE / "chain_flows.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["chain_flows_bench"] = module
    spec.loader.exec_module(module)
    return module


cb = _chain_bench()


def timed(fn: Any, runs: int) -> tuple[dict[str, float], Any]:
    fn()  # warm-up
    values, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        values.append(time.perf_counter() - t0)
    return cb.spread(values), result


def ours_in_process(url: str, subjects: tuple[str, ...]) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            cov.prepare(conn, cov.CoverageQuery("transfer_stations", DISTANCE_M, subjects=subjects))
            return dict(cov.summary(conn, subjects)["city"])
    finally:
        engine.dispose()


def pair_plan(url: str) -> str:
    """EXPLAIN ANALYZE of the village pair query, as prepare() runs it."""
    q = cov.CoverageQuery("transfer_stations", DISTANCE_M)
    facilities, params = cov.facility_source(q)
    engine = make_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SET LOCAL jit = off"))
            for setting in cov.PARALLEL_PROBES:
                conn.execute(text(setting))
            sql = "EXPLAIN ANALYZE " + cov.pairs_sql(cov.subjects()["villages"], facilities)
            return "\n".join(r[0] for r in conn.execute(text(sql), {**params, "d": DISTANCE_M}))
    finally:
        engine.dispose()


def http_get(base: str, query: str = "") -> dict[str, Any]:
    with urllib.request.urlopen(
        f"{base}/coverage?layer=transfer_stations&distance_m={DISTANCE_M:.0f}{query}", timeout=600
    ) as response:
        return dict(json.loads(response.read())["city"])


def load() -> str:
    """The 1, 5 and 15 minute load averages (2 cores: above 2 means others compete for the CPU)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def geopandas_run(python: Path, url: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), str(ANCHOR), "--url", url, "--radius", str(DISTANCE_M)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def sql_anchor(server: Any) -> int:
    query = (
        "SELECT count(*) FROM villages v WHERE EXISTS (SELECT 1 FROM transfer_stations s "
        f"WHERE ST_DWithin(v.geom::geography, s.geom::geography, {DISTANCE_M}))"
    )
    return int(server.one(DB, query))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--villages", type=int, default=500_000)
    ap.add_argument("--farms", type=int, default=1_000_000)
    ap.add_argument("--stations", type=int, default=5_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--out",
        type=Path,
        default=Path("/tmp/sanichain-bench")
        / f"coverage_national-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sanichain-bench-cov-"))
    work.chmod(0o755)  # the postgres user must reach the cluster inside
    cluster = cb.start_cluster(work)
    results: dict[str, Any] = {"distance_m": DISTANCE_M}
    try:
        server = cb.Server(cluster.url("postgres"))
        server.recreate(DB)
        cb.say(
            f"generate and load {args.villages:,} villages, {args.farms:,} farms, {args.stations:,} stations"
        )
        scale.generate(work / "data", args.villages, args.farms, args.stations)
        scale.load(server.url(DB), work / "data")
        shutil.rmtree(work / "data", ignore_errors=True)
        with server.cursor(DB) as cur:  # what the geopandas anchor reads, over our tables
            cur.execute("CREATE VIEW village AS SELECT id, population, geom FROM villages")
            cur.execute("CREATE VIEW station AS SELECT id, geom FROM transfer_stations")
        url = server.url(DB)
        results["load_before"] = load()
        cb.say("ours, in-process (villages)")
        results["ours_in_process"], city = timed(lambda: ours_in_process(url, ("villages",)), args.runs)
        results["served"] = {"ours": city["villages_served"], "population_ours": city["population_served"]}
        cb.say("ours, in-process (villages and farms)")
        results["ours_in_process_farms"], city = timed(lambda: ours_in_process(url, cov.SUBJECTS), args.runs)
        results["served"]["ours_with_farms"] = city["villages_served"]
        results["pair_plan"] = pair_plan(url)
        cb.say("ours, HTTP")
        with cb.served(url, work / "serve.log") as base:
            results["ours_http"], _ = timed(lambda: http_get(base, "&subjects=villages"), args.runs)
            results["ours_http_farms"], _ = timed(lambda: http_get(base), args.runs)
        cb.say("bare SQL anchor")
        results["sql_anchor"], served_sql = timed(lambda: sql_anchor(server), args.runs)
        results["served"]["sql_anchor"] = served_sql
        cb.say("geopandas anchor (whole process)")
        python = cb.geo_python()
        results["geopandas"], gp = timed(lambda: geopandas_run(python, url), args.runs)
        results["served"]["geopandas"] = gp["served"]
        results["geopandas_phases"] = gp
        results["load_after"] = load()
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    gp_median = results["geopandas"]["median"]
    print("| measure | wall time | ÷ geopandas |\n|---|---|---|")
    for key in (
        "ours_in_process",
        "ours_http",
        "ours_in_process_farms",
        "ours_http_farms",
        "sql_anchor",
        "geopandas",
    ):
        print(f"| {key} | {cb.fmt_s(results[key])} | {results[key]['median'] / gp_median:.2f}× |")
    print(f"served villages: {results['served']}")
    print(f"load average before / after: {results['load_before']} / {results['load_after']}")
    print(results["pair_plan"])
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
