#!/usr/bin/env python3
"""Coverage of all villages on national-scale data, side by side with geopandas (issue 5).

    .venv/bin/python bench/coverage_national.py                 # 500k villages, 1M farms, 5k stations
    .venv/bin/python bench/coverage_national.py --villages 20000 --farms 40000 --stations 200 --runs 1

Starts a throwaway cluster (or uses --server-url, a role with CREATEDB), generates and loads the
synthetic set, then times, 1 warm-up + --runs counted runs each, median (min–max):
- ours in-process: `coverage.query.prepare` + `summary` for transfer stations within 3,000 m (geodesic),
  villages only (the anchors' question) and villages + farms (the request's default);
- ours over HTTP: `GET /coverage?layer=transfer_stations&distance_m=3000&subjects=villages` through
  `sanichain serve`, and the same without `subjects` (villages and the 1M farms);
- the geopandas anchor, whole process (imports and loading included): the anchors' own
  `bench_coverage.py` (read_postgis, UTM 50N, sjoin_nearest with max_distance) in /tmp/bench-geo-venv,
  reading views `village`/`station` over our tables;
- the bare SQL anchor: `SELECT count(*) … WHERE EXISTS (… ST_DWithin(geography) …)` in psql.

Ours in-process (villages) and the geopandas anchor run in turns, the order rotated every pair (A B,
B A, …), so that a change of load during the sitting falls on both; each pair's ratio and load average
is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import harness
from sqlalchemy import text

from service.coverage import query as cov
from service.db import make_engine
from service.synthetic import national_scale as scale

ANCHOR = harness.ANCHORS / "bench_coverage.py"
DB = "coverage_national"
DISTANCE_M = 3000.0


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


def geopandas_run(python: Path, url: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), str(ANCHOR), "--url", url, "--radius", str(DISTANCE_M)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def sql_anchor(server: harness.Server) -> int:
    query = (
        "SELECT count(*) FROM villages v WHERE EXISTS (SELECT 1 FROM transfer_stations s "
        f"WHERE ST_DWithin(v.geom::geography, s.geom::geography, {DISTANCE_M}))"
    )
    return int(server.one(DB, query))


def measure(server: harness.Server, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"distance_m": DISTANCE_M}
    url = server.recreate(DB)
    harness.say(
        f"generate and load {args.villages:,} villages, {args.farms:,} farms, {args.stations:,} stations"
    )
    scale.generate(work / "data", args.villages, args.farms, args.stations, args.seed)
    scale.load(url, work / "data")
    shutil.rmtree(work / "data", ignore_errors=True)
    with server.cursor(DB) as cur:  # what the geopandas anchor reads, over our tables
        cur.execute("CREATE VIEW village AS SELECT id, population, geom FROM villages")
        cur.execute("CREATE VIEW station AS SELECT id, geom FROM transfer_stations")
    python = harness.geo_python()
    results["load_before"] = harness.loadavg()
    harness.say("ours, in-process (villages), in turns with the geopandas anchor (whole process)")
    sitting = harness.interleaved(
        lambda: ours_in_process(url, ("villages",)), lambda: geopandas_run(python, url), args.runs
    )
    ours, anchor = sitting.ours, sitting.anchor
    results["pairs"] = [p.row() for p in sitting.pairs]
    results["ratio_in_process_villages"] = sitting.ratios()
    results["ours_in_process"], city = ours.spread, ours.result
    results["served"] = {"ours": city["villages_served"], "population_ours": city["population_served"]}
    harness.say("ours, in-process (villages and farms)")
    farms = harness.timed(lambda: ours_in_process(url, cov.SUBJECTS), args.runs)
    results["ours_in_process_farms"] = farms.spread
    results["served"]["ours_with_farms"] = farms.result["villages_served"]
    results["pair_plan"] = pair_plan(url)
    harness.say("ours, HTTP")
    with harness.served(url, work / "serve.log") as service:
        results["ours_http"] = harness.timed(
            lambda: http_get(service.base, "&subjects=villages"), args.runs
        ).spread
        results["ours_http_farms"] = harness.timed(lambda: http_get(service.base), args.runs).spread
    harness.say("bare SQL anchor")
    sql = harness.timed(lambda: sql_anchor(server), args.runs)
    results["sql_anchor"] = sql.spread
    results["served"]["sql_anchor"] = sql.result
    results["geopandas"] = anchor.spread
    results["served"]["geopandas"] = anchor.result["served"]
    results["geopandas_phases"] = anchor.result
    results["load_after"] = harness.loadavg()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.dataset_options(ap)
    ap.add_argument("--runs", type=int, default=3)
    harness.server_option(ap, DB)
    ap.add_argument("--out", type=Path, default=harness.default_out("coverage_national"))
    args = ap.parse_args()
    harness.stop_on_sigterm()
    with (
        harness.workdir("sanichain-bench-cov-") as work,
        harness.postgres(work, args.server_url, drop=[DB]) as server,
    ):
        results = measure(server, args, work)
    harness.write_json(args.out, results)
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
        print(f"| {key} | {harness.fmt_s(results[key])} | {results[key]['median'] / gp_median:.2f}× |")
    print(f"served villages: {results['served']}")
    print(f"load average before / after: {results['load_before']} / {results['load_after']}")
    print(results["pair_plan"])
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
