"""Largest siting problems CBC solves to optimality within a time limit, on the Zhucheng demo.

    .venv/bin/python bench/siting_sizes.py                       # both models, default grids, 60 s
    .venv/bin/python bench/siting_sizes.py --model p_median --spacings 4000 3000 --time-limit 60

Starts a throwaway PostgreSQL cluster (or uses --server-url, a role with CREATEDB), loads the demo into
a migrated database, then for each model solves `POST /planning/siting`'s problem (in-process: the same
`siting.prepare` + `siting.solve`) with candidates at village locations and on grids of decreasing
spacing, until a run is not proven optimal within the time limit. Problems:

- maximal_covering: transfer_stations, k=5, distance_m=5000 (every village counts as demand);
- p_median: transfer_stations, k=14 (one per town), distance_m=10000, capacity = 1.5 × waste / k per site.

A Markdown table goes to stdout, JSON to --out. The cluster is removed at the end (Ctrl-C too).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import harness
from demo_database import demo_database
from sqlalchemy import Engine, text

from service.chain.parameters import ChainParameters
from service.planning import siting

DATABASE = "sanichain_siting_bench"
UNLIMITED = siting.SitingSettings(max_variables_covering=10**8, max_variables_median=10**8, max_pairs=10**9)
DEFAULT_SPACINGS: dict[str, list[float]] = {
    "maximal_covering": [4000, 2000, 1000, 700, 500, 350, 250],
    "p_median": [6000, 5000, 4000, 3000, 2500, 2000, 1500],
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=siting.MODELS, action="append", help="default: both")
    ap.add_argument("--spacings", type=float, nargs="+", help="grid spacings in m (default per model)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="CBC wall-clock limit per run (s)")
    harness.server_option(ap, DATABASE)
    ap.add_argument("--out", type=Path, help="JSON results (default /tmp/sanichain-bench/siting-<time>.json)")
    return ap.parse_args(argv)


def query(
    model: str, candidates: siting.Candidates, waste_t_per_day: float, limit: float
) -> siting.SitingQuery:
    if model == "maximal_covering":
        return siting.SitingQuery("transfer_stations", model, 5, 5000.0, candidates, time_limit_s=limit)
    k = 14
    return siting.SitingQuery(
        "transfer_stations", model, k, 10_000.0, candidates, capacity_t_per_day=1.5 * waste_t_per_day / k,
        time_limit_s=limit,
    )  # fmt: skip


def run_one(engine: Engine, q: siting.SitingQuery) -> dict[str, Any]:
    started = time.perf_counter()
    with engine.connect() as conn, conn.begin():
        problem = siting.prepare(conn, q, UNLIMITED)
    prepared = time.perf_counter()
    label = q.candidates.source + (f" {q.candidates.spacing_m:g} m" if q.candidates.spacing_m else "")
    try:
        result = siting.solve(problem, UNLIMITED)
    except siting.Unsolvable as exc:  # keep the size of what could not be solved
        elapsed = round(time.perf_counter() - started, 2)
        return {"model": q.model, "candidate_set": label, "candidates": problem.n_candidates,
                "pairs_within_reach": len(problem.pairs), "status": "unsolved", "detail": str(exc),
                "total_s": elapsed}  # fmt: skip
    done = time.perf_counter()
    return {
        "model": q.model,
        "candidate_set": label,
        **result["problem"],
        "status": result["status"],
        "gap": result["gap"],
        "objective": result["objective"]["value"],
        "prepare_s": round(prepared - started, 2),
        "cbc_s": result["solve_time_s"],
        "total_s": round(done - started, 2),
    }


def waste_t_per_day(engine: Engine) -> float:
    with engine.connect() as conn:
        return float(
            conn.execute(
                text(
                    "SELECT sum(population * coalesce(waste_rate_kg_per_person_day, :r)) / 1000 FROM villages"
                ),
                {"r": ChainParameters().waste_kg_per_person_day},
            ).scalar_one()
        )


def sweep(engine: Engine, model: str, spacings: list[float], limit: float) -> list[dict[str, Any]]:
    waste = waste_t_per_day(engine)
    rows = []
    sources = [siting.Candidates("villages")] + [siting.Candidates("grid", spacing_m=s) for s in spacings]
    for candidates in sources:
        harness.say(f"{model}: {candidates.source} {candidates.spacing_m or ''}")
        row = run_one(engine, query(model, candidates, waste, limit))
        rows.append(row)
        harness.say(f"  {row}")
        if candidates.source == "grid" and row["status"] != "optimal":
            break  # finer grids only get harder
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    cols = ["model", "candidate_set", "candidates", "demand_points", "pairs_within_reach", "variables",
            "constraints", "status", "gap", "prepare_s", "cbc_s", "total_s"]  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append(f"{v:,}" if isinstance(v, int) else (f"{v:.4g}" if isinstance(v, float) else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models = args.model or list(siting.MODELS)
    rows: list[dict[str, Any]] = []
    try:
        with demo_database(DATABASE, args.server_url) as engine:
            for model in models:
                rows += sweep(engine, model, args.spacings or DEFAULT_SPACINGS[model], args.time_limit)
    except KeyboardInterrupt:
        print("siting_sizes: interrupted", file=sys.stderr)
        return 130
    out = args.out or harness.default_out("siting")
    harness.write_json(out, {"time_limit_s": args.time_limit, "runs": rows})
    print("\n".join(table(rows)))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
