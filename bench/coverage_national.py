#!/usr/bin/env python3
"""Coverage of villages, and of villages and farms, on national-scale data beside geopandas (issues 5, 18).

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
- the farms anchor, whole process: `coverage_farms_geopandas.py` in the same venv, the same question
  as ours with farms (villages and operational farms within 3,000 m geodesic, pig equivalents per the
  chain's coefficients, city / town / station figures);
- the bare SQL anchor: `SELECT count(*) … WHERE EXISTS (… ST_DWithin(geography) …)` in psql.

Four sittings run in turns, the order rotated every pair (A B, B A, …), so that a change of load
falls on both sides; each pair's ratio and load average is printed with the results: ours in-process
(villages) with the anchors' geopandas; ours in-process (villages and farms) with the farms anchor;
ours over HTTP (villages and farms, `sanichain serve` as `make run` runs it) with the farms anchor,
then with the farms anchor reading the coordinates as floats (`--read xy`, its faster form). Then the
answers are compared: city figures, and per station and per town those of both forms of the anchor.
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

from service.chain.parameters import FEEDING_DAYS, PIG_EQUIVALENT_PER_HEAD
from service.coverage import query as cov
from service.db import make_engine
from service.synthetic import national_scale as scale

ANCHOR = harness.ANCHORS / "bench_coverage.py"
FARMS_ANCHOR = Path(__file__).with_name("coverage_farms_geopandas.py")
DB = "coverage_national"
DISTANCE_M = 3000.0


def ours_summary(url: str, subjects: tuple[str, ...]) -> dict[str, Any]:
    """`prepare` + `summary` in-process: city, towns and facilities."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            cov.prepare(conn, cov.CoverageQuery("transfer_stations", DISTANCE_M, subjects=subjects))
            return cov.summary(conn, subjects)
    finally:
        engine.dispose()


def ours_in_process(url: str, subjects: tuple[str, ...]) -> dict[str, Any]:
    return dict(ours_summary(url, subjects)["city"])


def pair_plan(url: str, subject: str) -> str:
    """EXPLAIN ANALYZE of a subject's pair query, as prepare() runs it."""
    q = cov.CoverageQuery("transfer_stations", DISTANCE_M)
    facilities, params = cov.facility_source(q)
    chosen = cov.subjects()[subject]
    engine = make_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SET LOCAL jit = off"))
            for setting in cov.PARALLEL_PROBES:
                conn.execute(text(setting))
            sql = "EXPLAIN ANALYZE " + cov.pairs_sql(chosen, facilities)
            bound = {**params, **chosen.params, "d": DISTANCE_M}
            return "\n".join(r[0] for r in conn.execute(text(sql), bound))
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


def farms_anchor_params() -> str:
    """The coefficients the farms anchor needs, from the chain's parameters (it imports nothing of ours)."""
    return json.dumps({"pig_equivalent_per_head": PIG_EQUIVALENT_PER_HEAD, "feeding_days": FEEDING_DAYS})


def farms_anchor_run(python: Path, url: str, detail: bool = False, read: str = "postgis") -> dict[str, Any]:
    """The farms anchor, whole process; `read="xy"`: its faster reading (two float columns, no WKB)."""
    cmd = [str(python), str(FARMS_ANCHOR), "--url", url, "--radius", str(DISTANCE_M), "--read", read]
    cmd += ["--params", farms_anchor_params(), *(["--detail"] if detail else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=1800)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


CITY_KEYS = (
    "villages_served",
    "population_served",
    "households_served",
    "farms_total",
    "farms_served",
    "head_count_served",
    "pig_equivalents_total",
    "pig_equivalents_served",
)
STATION_KEYS = ("villages_served", "population_served", "farms_served", "pig_equivalents_served")
TOWN_KEYS = ("villages_served", "population_served", "farms_served", "pig_equivalents_served")


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))  # float sums differ in their order only


def compare(ours: dict[str, Any], anchor: dict[str, Any], town_ids: dict[str, str]) -> dict[str, Any]:
    """Where our answer (villages and farms) and the farms anchor's differ: city figures, and how many
    stations and towns differ in any of their figures (with the first few)."""
    city = {
        k: [ours["city"][k], anchor["city"][k]]
        for k in CITY_KEYS
        if not _same(ours["city"][k], anchor["city"][k])
    }
    stations = [
        f["id"]
        for f in ours["facilities"]
        if any(not _same(f[k], anchor["facilities"][str(f["id"])][k]) for k in STATION_KEYS)
    ]
    towns = [
        t["code"]
        for t in ours["towns"]
        if any(not _same(t[k], anchor["towns"].get(town_ids[t["code"]], {}).get(k, 0)) for k in TOWN_KEYS)
    ]
    return {
        "city_differs": city,
        "stations_compared": len(ours["facilities"]),
        "stations_differ": len(stations),
        "first_stations_differing": stations[:5],
        "towns_compared": len(ours["towns"]),
        "towns_differ": len(towns),
        "first_towns_differing": towns[:5],
        "planar_served": anchor["planar_served"],
    }


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
    results["geopandas"] = anchor.spread
    results["served"]["geopandas"] = anchor.result["served"]
    results["geopandas_phases"] = anchor.result
    harness.say("ours, in-process (villages and farms), in turns with the farms anchor (whole process)")
    farms = harness.interleaved(
        lambda: ours_in_process(url, cov.SUBJECTS), lambda: farms_anchor_run(python, url), args.runs
    )
    results["pairs_in_process_farms"] = [p.row() for p in farms.pairs]
    results["ratio_in_process_farms"] = farms.ratios()
    results["ours_in_process_farms"] = farms.ours.spread
    results["geopandas_farms_in_process_sitting"] = farms.anchor.spread
    results["geopandas_farms_phases"] = farms.anchor.result
    results["served"]["ours_with_farms"] = farms.ours.result["villages_served"]
    results["pair_plan"] = pair_plan(url, "villages")
    results["pair_plan_farms"] = pair_plan(url, "farms")
    harness.say("ours, HTTP (villages; then villages and farms in turns with the farms anchor)")
    with harness.served(url, work / "serve.log") as service:
        results["ours_http"] = harness.timed(
            lambda: http_get(service.base, "&subjects=villages"), args.runs
        ).spread
        http = harness.interleaved(
            lambda: http_get(service.base), lambda: farms_anchor_run(python, url), args.runs
        )
        http_city = http.ours.result
        harness.say("ours, HTTP (villages and farms), in turns with the farms anchor reading floats (xy)")
        http_xy = harness.interleaved(
            lambda: http_get(service.base), lambda: farms_anchor_run(python, url, read="xy"), args.runs
        )
    results["pairs_http_farms_xy"] = [p.row() for p in http_xy.pairs]
    results["ratio_http_farms_xy"] = http_xy.ratios()
    results["ours_http_farms_xy_sitting"] = http_xy.ours.spread
    results["geopandas_farms_xy"] = http_xy.anchor.spread
    results["geopandas_farms_xy_phases"] = http_xy.anchor.result
    results["pairs_http_farms"] = [p.row() for p in http.pairs]
    results["ratio_http_farms"] = http.ratios()
    results["ours_http_farms"] = http.ours.spread
    results["geopandas_farms"] = http.anchor.spread
    harness.say("bare SQL anchor")
    sql = harness.timed(lambda: sql_anchor(server), args.runs)
    results["sql_anchor"] = sql.spread
    results["served"]["sql_anchor"] = sql.result
    results["load_after"] = harness.loadavg()
    harness.say("answers: ours (villages and farms) against the farms anchor")
    with server.cursor(DB) as cur:
        cur.execute("SELECT code, id::text FROM towns")
        town_ids = dict(cur.fetchall())
    full = ours_summary(url, cov.SUBJECTS)
    detail = farms_anchor_run(python, url, detail=True)
    results["answers"] = compare(full, detail, town_ids)
    results["answers_xy"] = compare(full, farms_anchor_run(python, url, detail=True, read="xy"), town_ids)
    results["answers"]["http_city_same"] = all(_same(http_city[k], full["city"][k]) for k in CITY_KEYS)
    results["city_with_farms"] = {"ours": {k: full["city"][k] for k in CITY_KEYS}, "anchor": detail["city"]}
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
    print("| measure | wall time | ÷ its anchor, per pair: median (min–max) |\n|---|---|---|")
    rows = (
        ("ours_in_process", "ratio_in_process_villages"),
        ("ours_http", None),
        ("ours_in_process_farms", "ratio_in_process_farms"),
        ("ours_http_farms", "ratio_http_farms"),
        ("sql_anchor", None),
        ("geopandas", None),
        ("geopandas_farms", None),
        ("ours_http_farms_xy_sitting", "ratio_http_farms_xy"),
        ("geopandas_farms_xy", None),
    )
    for key, ratio in rows:
        r = results[ratio] if ratio else None
        ratios = f"{r['median']:.3f}× ({r['min']:.3f}–{r['max']:.3f})" if r else ""
        print(f"| {key} | {harness.fmt_s(results[key])} | {ratios} |")
    for key in ("pairs_in_process_farms", "pairs_http_farms", "pairs_http_farms_xy"):
        print(key)
        for pair in results[key]:
            print(f"  {pair}")
    print(f"served villages: {results['served']}")
    print(f"answers: {results['answers']}")
    print(f"answers (xy anchor): {results['answers_xy']}")
    print(f"load average before / after: {results['load_before']} / {results['load_after']}")
    print(results["pair_plan"])
    print(results["pair_plan_farms"])
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
