"""Detour index of the demo road network and coverage along it next to the geodesic one.

    .venv/bin/python bench/road_circuity.py                  # throwaway cluster, Zhucheng demo
    .venv/bin/python bench/road_circuity.py --server-url URL  # a role with CREATEDB

Loads the demo into a migrated database, then prints (Markdown) the network summary; the detour index
(road / geodesic distance) from every village to its geodesically nearest facility of each layer
(`service.roads.circuity`), beside the published range for rural road networks; and villages and farms
served by transfer stations at 3, 5 and 10 km, geodesic vs road (`/coverage`'s computation, in-process),
with what lies off the network. JSON to --out. The cluster is removed at the end (Ctrl-C too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import harness
from demo_database import demo_database

from service.coverage import query as cov
from service.roads import circuity, network

DATABASE = "sanichain_circuity_bench"
# Published circuity factors (road / straight-line distance), docs/decisions.md D53.
ANCHOR = "1.22–1.44 (Korean provinces; national 1.26), 1.3 ± 0.1 (motorway networks)"
LAYERS = ("transfer_stations", "manure_centers", "treatment_plants")
DISTANCES_M = (3000, 5000, 10000)


def measure(engine: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"detour": {}, "coverage": []}
    with engine.connect() as conn, conn.begin():
        out["network"] = network.summary(conn)
        for layer in LAYERS:
            out["detour"][layer] = circuity.summary(circuity.village_detours(conn, layer))
        for d in DISTANCES_M:
            row: dict[str, Any] = {"distance_m": d}
            for mode in cov.DISTANCE_MODES:
                q = cov.CoverageQuery("transfer_stations", d, distance_mode=mode)
                cov.prepare(conn, q)
                city = cov.summary(conn)["city"]
                row[mode] = {"villages": city["villages_served"], "farms": city["farms_served"]}
                if mode == "road":
                    row["road_access"] = cov.road_access(conn, q)
            out["coverage"].append(row)
    return out


def report(result: dict[str, Any]) -> list[str]:
    n = result["network"]
    lines = [
        f"network: {n['segments']:,} segments, {n['nodes']:,} nodes, {n['length_km']:,} km, "
        f"{n['components']} component(s)",
        "",
        "| village → nearest | pairs | detour median | mean | p10 | p90 | published |",
        "|---|---|---|---|---|---|---|",
    ]
    for layer, s in result["detour"].items():
        lines.append(
            f"| {layer} | {s['pairs']:,} | {s['median']} | {s['mean']} | {s['p10']} | {s['p90']} | {ANCHOR} |"
        )
    lines += [
        "",
        "| transfer stations within | villages geodesic | villages road | farms geodesic | farms road "
        "| off road (facilities / villages / farms) |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["coverage"]:
        a = row["road_access"]
        lines.append(
            f"| {row['distance_m']:,} m | {row['geodesic']['villages']:,} | {row['road']['villages']:,} "
            f"| {row['geodesic']['farms']:,} | {row['road']['farms']:,} "
            f"| {len(a['facilities_off_road'])} / {a['villages_off_road']} / {a['farms_off_road']} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.server_option(ap, DATABASE)
    ap.add_argument("--out", type=Path, help="JSON (default /tmp/sanichain-bench/road_circuity-<time>.json)")
    args = ap.parse_args(argv)
    try:
        with demo_database(DATABASE, args.server_url) as engine:
            result = measure(engine)
    except KeyboardInterrupt:
        print("road_circuity: interrupted", file=sys.stderr)
        return 130
    print("\n".join(report(result)))
    out = args.out or harness.default_out("road_circuity")
    harness.write_json(out, result)
    harness.say(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
