"""Issue 14: `sanichain import` of a 1,000,000-row farm CSV (Chinese headers, every row valid, positions
inside the demo's towns) into the Zhucheng demo, with full validation and writing (history and audit
included), side by side with `ogr2ogr` loading the same file into a fresh PostGIS table (which types
and validates nothing), in turns A B A B after a warm-up of each.

A third column, the *floor*, is what any import that keeps the inventory's contract has to write, with
nothing read or checked: `psql` copying the rows the warm-up import wrote (already typed, in binary, in
the order the import writes them) into `livestock_farms` of a fresh copy of the demo with the same
transaction settings and the same indexes dropped and built again, then their history rows, in one
transaction. It is timed like the other two (a whole process), between them in every pair.

Each of our runs and each floor run writes into a fresh copy of the demo database (`CREATE DATABASE
… TEMPLATE`, not timed); each `ogr2ogr` run into a fresh table. All three are timed as whole
processes (wall clock around spawn … reap, inside the harness's small launcher), with their peak RSS
as the kernel reports it (`wait4`, like `/usr/bin/time -v`). Per pair: the three times, the ratios
ours / ogr2ogr and floor / ogr2ogr, and the load average.

    .venv/bin/python bench/import_farms.py                       # 1M rows, 3 pairs
    .venv/bin/python bench/import_farms.py --rows 20000 --runs 1 # smoke run
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
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
from service.importing import job, writes

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
    """Wall seconds, CPU seconds and peak RSS (MiB) of one whole process, measured by the harness's
    small launcher (a child of this large process would report at least our size); its output
    appended to `log`."""
    figures = log.with_suffix(".run.json")
    with log.open("ab") as out:
        code = subprocess.run(
            harness.launcher(figures, cmd), stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
            cwd=REPO_ROOT, check=False,
        ).returncode  # fmt: skip
    got = json.loads(figures.read_text(encoding="utf-8")) if code == 0 else {}
    if code != 0 or got["exit"] != 0:
        raise harness.BenchError(f"{Path(cmd[0]).name} exited {got.get('exit', code)}: see {log}")
    return {
        "wall_s": got["wall_s"],
        "cpu_s": got["user_s"] + got["sys_s"],
        "peak_rss_mib": got["peak_kib"] / 1024,  # Linux reports KiB
    }


def fresh_copy(server: harness.Server) -> str:
    server.drop(OURS)
    with server.cursor(server.admin_database()) as cur:
        cur.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(OURS), sql.Identifier(DEMO))
        )
    return server.libpq_url(OURS)


# The columns the import writes into a farm (the rest are defaults and generated), and into its history.
FARM_COLUMNS = ("id, code, name, name_en, status, capacity, capacity_unit, commissioned_on, operator, "
                "town_id, species, head_count, manure_facility_type, geom, version")  # fmt: skip
HISTORY_COLUMNS = "layer, feature_id, version, operation, user_id, user_name, request_id"


def prepare_floor(server: harness.Server, work: Path) -> list[str]:
    """The floor's psql script, after an import into OURS: the farms and history rows it wrote, as
    binary COPY files, and the statements that write them again into a fresh copy of the demo."""
    farms, history = work / "floor_farms.bin", work / "floor_history.bin"
    with server.cursor(OURS) as cur:
        # physical order: the import writes its rows sorted by position
        with farms.open("wb") as out:
            cur.copy_expert(
                f"COPY (SELECT {FARM_COLUMNS} FROM livestock_farms WHERE code LIKE 'LF-B%') "
                "TO STDOUT WITH (FORMAT binary)",
                out,
            )
        with history.open("wb") as out:
            cur.copy_expert(
                f"""COPY (SELECT {HISTORY_COLUMNS} FROM feature_history
                          WHERE layer = 'livestock_farms' AND operation = 'create'
                            AND feature_id IN (SELECT id FROM livestock_farms WHERE code LIKE 'LF-B%')
                          ORDER BY feature_id) TO STDOUT WITH (FORMAT binary)""",
                out,
            )
    engine = make_engine(server.url(DEMO))
    with engine.connect() as conn:
        indexes = writes.rebuildable_indexes(conn, "livestock_farms")
    engine.dispose()
    drop, build = [], []
    for index_name, index_def, constraint_name, constraint_def in indexes:
        if constraint_name is not None:
            drop.append(f"ALTER TABLE livestock_farms DROP CONSTRAINT {constraint_name};")
            build.append(f"ALTER TABLE livestock_farms ADD CONSTRAINT {constraint_name} {constraint_def};")
        else:
            drop.append(f"DROP INDEX {index_name};")
            build.append(f"{index_def};")
    return [
        "\\set ON_ERROR_STOP on",
        "BEGIN;",
        *(f"SET LOCAL {name} = '{value}';" for name, value in job.TRANSACTION_SETTINGS.items()),
        *drop,
        f"\\copy livestock_farms ({FARM_COLUMNS}) FROM '{farms}' WITH (FORMAT binary)",
        *build,
        f"\\copy feature_history ({HISTORY_COLUMNS}) FROM '{history}' WITH (FORMAT binary)",
        "COMMIT;",
    ]


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
                bytes(conn.exec_driver_sql("SELECT ST_AsBinary(ST_Union(geom)) FROM towns").scalar_one())
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

        floor_script = work / "floor.sql"

        def floor() -> dict[str, Any]:
            fresh_copy(server)
            server.checkpoint()
            cmd = ["psql", "-X", "-q", "-d", server.dsn(OURS), "-f", str(floor_script)]
            return timed_process(cmd, dict(os.environ), log)

        pairs = []
        for label in ["warm-up", *(f"pair {i}/{args.runs}" for i in range(1, args.runs + 1))]:
            a = ours()
            if label == "warm-up":  # what the import wrote, counted before the floor's copy replaces it
                imported = server.one(OURS, "SELECT count(*) FROM livestock_farms WHERE code LIKE 'LF-B%'")
                history = server.one(OURS, "SELECT count(*) FROM feature_history")
                floor_script.write_text("\n".join(prepare_floor(server, work)) + "\n", encoding="utf-8")
            f, b = floor(), ogr()
            load = harness.loadavg()
            ratio, floor_ratio = a["wall_s"] / b["wall_s"], f["wall_s"] / b["wall_s"]
            harness.say(
                f"{label}: ours {a['wall_s']:.2f} s ({a['peak_rss_mib']:.0f} MiB peak), floor "
                f"{f['wall_s']:.2f} s, ogr2ogr {b['wall_s']:.2f} s ({b['peak_rss_mib']:.0f} MiB), "
                f"ours / ogr2ogr {ratio:.2f}, floor / ogr2ogr {floor_ratio:.2f}, load {load}"
            )
            pairs.append({"label": label, "ours": a, "floor": f, "ogr2ogr": b, "ratio": ratio,
                          "floor_ratio": floor_ratio, "loadavg": load})  # fmt: skip
        loaded = server.one(OGR, "SELECT count(*) FROM farm_import")
        floored = server.one(OURS, "SELECT count(*) FROM feature_history")
        counted = pairs[1:]
        results = {
            "rows": args.rows,
            "csv_mb": size_mb,
            "imported_rows": imported,
            "history_rows": history,
            "ogr2ogr_rows": loaded,
            "floor_history_rows": floored,
            "pairs": pairs,
            "ours_wall_s": harness.spread([p["ours"]["wall_s"] for p in counted]),
            "floor_wall_s": harness.spread([p["floor"]["wall_s"] for p in counted]),
            "ogr2ogr_wall_s": harness.spread([p["ogr2ogr"]["wall_s"] for p in counted]),
            "ratio": harness.spread([p["ratio"] for p in counted]),
            "floor_ratio": harness.spread([p["floor_ratio"] for p in counted]),
            "ours_peak_rss_mib": max(p["ours"]["peak_rss_mib"] for p in counted),
            "command": " ".join(ours_cmd[1:3]) + " farms.csv",
            "host": harness.host(),
            "postgres": harness.postgres_versions(server, DEMO, ("shared_buffers", "work_mem")),
            "gdal": harness.tool_version("ogr2ogr", "--version"),
        }
        harness.write_json(out, results)
    print(f"rows {args.rows:,} ({size_mb:.0f} MB): imported {imported:,}, history rows {history:,}, "
          f"floor's history rows {floored:,}, ogr2ogr rows {loaded:,}")  # fmt: skip
    print(
        f"ours     {harness.fmt_s(results['ours_wall_s'])}  peak RSS {results['ours_peak_rss_mib']:.0f} MiB"
    )
    print(f"floor    {harness.fmt_s(results['floor_wall_s'])}  (typed rows and history copied, nothing read)")
    print(f"ogr2ogr  {harness.fmt_s(results['ogr2ogr_wall_s'])}")
    print(f"ratio    {statistics.median(p['ratio'] for p in counted):.2f} (median of {len(counted)} pairs)")
    print(f"floor    {statistics.median(p['floor_ratio'] for p in counted):.2f} of ogr2ogr (median)")
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
