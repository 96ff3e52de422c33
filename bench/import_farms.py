"""Issue 14: `sanichain import` of a 1,000,000-row farm CSV (Chinese headers, every row valid, positions
inside the demo's towns) into the Zhucheng demo, with full validation and writing (history and audit
included), side by side with `ogr2ogr` loading the same file into a fresh PostGIS table (which types
and validates nothing), in turns A B A B after a warm-up of each.

Each of our runs imports into a fresh copy of the demo database (`CREATE DATABASE … TEMPLATE`, not
timed); each `ogr2ogr` run into a fresh table. Both are timed as whole processes (wall clock around
spawn … reap), with their peak RSS as the kernel reports it (`wait4`, like `/usr/bin/time -v`). Per
pair: both times, the ratio ours / ogr2ogr and the load average.

    .venv/bin/python bench/import_farms.py                       # 1M rows, 3 pairs
    .venv/bin/python bench/import_farms.py --rows 20000 --runs 1 # smoke run
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import harness
import numpy as np
import shapely
from psycopg2 import sql
from shapely import wkb

from service.config import REPO_ROOT
from service.db import make_engine
from service.demo import loader

DEMO = "sanichain_import_bench_demo"
OURS = "sanichain_import_bench_run"
OGR = "sanichain_import_bench_ogr"
HEADER = ["编码", "名称", "畜种", "存栏(头)", "处理能力(吨/日)", "经度", "纬度", "状态", "运营单位"]
SPECIES = [("生猪", 500, 20_000), ("奶牛", 100, 3_000), ("肉牛", 50, 2_000), ("羊", 200, 5_000),
           ("蛋鸡", 2_000, 200_000), ("肉鸡", 10_000, 500_000)]  # fmt: skip
STATUSES = ["运行", "运行", "运行", "在建", "停用"]


def generate(path: Path, rows: int, towns: shapely.Geometry, seed: int) -> None:
    """`rows` valid farms at random places inside the towns (points drawn in their bounding box and
    kept when a town covers them), written as a UTF-8 CSV with Chinese headers."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    west, south, east, north = towns.bounds
    shapely.prepare(towns)
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        while written < rows:
            # rounded as written, then tested: a point a rounding away from an outline stays out
            lon = np.round(rng.uniform(west, east, 200_000), 6)
            lat = np.round(rng.uniform(south, north, 200_000), 6)
            inside = shapely.contains_xy(towns, lon, lat)
            for x, y in zip(lon[inside], lat[inside], strict=True):
                if written >= rows:
                    break
                species, low, high = SPECIES[written % len(SPECIES)]
                writer.writerow(
                    [f"LF-B{written:07d}", f"诸城市第{written}号养殖场", species, pick.randint(low, high),
                     round(pick.uniform(0.5, 50), 2), f"{x:.6f}", f"{y:.6f}", pick.choice(STATUSES),
                     f"诸城市畜牧合作社{written % 97}"]
                )  # fmt: skip
                written += 1


def timed_process(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one whole process; its output appended to `log`."""
    with log.open("ab") as out:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, cwd=REPO_ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise harness.BenchError(f"{Path(cmd[0]).name} exited {proc.returncode}: see {log}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def fresh_copy(server: harness.Server) -> str:
    server.drop(OURS)
    with server.cursor(server.admin_database()) as cur:
        cur.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(OURS), sql.Identifier(DEMO))
        )
    return server.libpq_url(OURS)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3, help="counted pairs after one warm-up pair")
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--out", type=Path)
    harness.server_option(ap, DEMO, OURS, OGR)
    args = ap.parse_args()
    harness.stop_on_sigterm()
    out = args.out or harness.default_out("import_farms")
    with (
        harness.workdir("sanichain-import-bench-") as work,
        harness.postgres(work, args.server_url, drop=[DEMO, OURS, OGR]) as server,
    ):
        engine = make_engine(server.recreate(DEMO))
        harness.say("loading the Zhucheng demo")
        loader.load(engine, REPO_ROOT / "gis_data" / "zhucheng")
        with engine.connect() as conn:
            towns = wkb.loads(
                bytes(conn.exec_driver_sql("SELECT ST_AsBinary(ST_Union(geom)) FROM towns").scalar())
            )
        engine.dispose()
        server.recreate(OGR, migrated=False)
        with server.cursor(OGR) as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        csv_path = work / "farms.csv"
        harness.say(f"writing {args.rows:,} farms to {csv_path.name}")
        generate(csv_path, args.rows, towns, args.seed)
        size_mb = csv_path.stat().st_size / 1e6
        ours_cmd = [harness.sanichain_cmd(), "import", "livestock_farms", str(csv_path)]
        ogr_cmd = [
            "ogr2ogr", "-f", "PostgreSQL", f"PG:{server.dsn(OGR)}", str(csv_path),
            "-oo", "X_POSSIBLE_NAMES=经度", "-oo", "Y_POSSIBLE_NAMES=纬度", "-a_srs", "EPSG:4326",
            "-nln", "farm_import", "-overwrite", "--config", "PG_USE_COPY", "YES",
        ]  # fmt: skip
        log = work / "runs.log"

        def ours() -> dict[str, Any]:
            env = {**os.environ, "DATABASE_URL": fresh_copy(server)}
            server.checkpoint()
            return timed_process(ours_cmd, env, log)

        def ogr() -> dict[str, Any]:
            with server.cursor(OGR) as cur:
                cur.execute("DROP TABLE IF EXISTS farm_import")
            server.checkpoint()
            return timed_process(ogr_cmd, dict(os.environ), log)

        pairs = []
        for label in ["warm-up", *(f"pair {i}/{args.runs}" for i in range(1, args.runs + 1))]:
            a, b = ours(), ogr()
            load = harness.loadavg()
            ratio = a["wall_s"] / b["wall_s"]
            harness.say(
                f"{label}: ours {a['wall_s']:.2f} s ({a['peak_rss_mib']:.0f} MiB peak), ogr2ogr "
                f"{b['wall_s']:.2f} s ({b['peak_rss_mib']:.0f} MiB), ratio {ratio:.2f}, load {load}"
            )
            pairs.append({"label": label, "ours": a, "ogr2ogr": b, "ratio": ratio, "loadavg": load})
        imported = server.one(OURS, "SELECT count(*) FROM livestock_farms WHERE code LIKE 'LF-B%'")
        history = server.one(OURS, "SELECT count(*) FROM feature_history")
        loaded = server.one(OGR, "SELECT count(*) FROM farm_import")
        counted = pairs[1:]
        results = {
            "rows": args.rows,
            "csv_mb": size_mb,
            "imported_rows": imported,
            "history_rows": history,
            "ogr2ogr_rows": loaded,
            "pairs": pairs,
            "ours_wall_s": harness.spread([p["ours"]["wall_s"] for p in counted]),
            "ogr2ogr_wall_s": harness.spread([p["ogr2ogr"]["wall_s"] for p in counted]),
            "ratio": harness.spread([p["ratio"] for p in counted]),
            "ours_peak_rss_mib": max(p["ours"]["peak_rss_mib"] for p in counted),
            "command": " ".join(ours_cmd[1:3]) + " farms.csv",
            "host": harness.host(),
            "postgres": harness.postgres_versions(server, DEMO, ("shared_buffers", "work_mem")),
            "gdal": harness.tool_version("ogr2ogr", "--version"),
        }
        harness.write_json(out, results)
    print(f"rows {args.rows:,} ({size_mb:.0f} MB): imported {imported:,}, history rows {history:,}, "
          f"ogr2ogr rows {loaded:,}")  # fmt: skip
    print(
        f"ours     {harness.fmt_s(results['ours_wall_s'])}  peak RSS {results['ours_peak_rss_mib']:.0f} MiB"
    )
    print(f"ogr2ogr  {harness.fmt_s(results['ogr2ogr_wall_s'])}")
    print(f"ratio    {statistics.median(p['ratio'] for p in counted):.2f} (median of {len(counted)} pairs)")
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
