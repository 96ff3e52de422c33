"""The stored chain (D113) on the national-scale set: an edit and its in-place update, against the
full recomputation a reader paid for before, in turns (A B, B A, …).

Builds the same set and chain as `chain_flows.py` (500,000 villages, 1,000,000 farms, 5,000
stations by default), then:

- the full recomputation into the stored tables once (`stored.rebuild`), beside `flows.compute`;
- per edit kind, interleaved: one edit of a random feature committed with `stored.settle` in its
  transaction (ours) against `flows.compute` of the whole inventory (anchor: what every reader did
  before the chain was stored); both in a transaction of their own;
- afterwards, the stored tables against a full computation of the edited inventory (largest
  difference of any link flow and facility inflow, rows missing on either side): they must agree.

Run: `.venv/bin/python bench/chain_edits.py` (smoke: `--villages 2000 --farms 4000 --stations 20
--runs 2`). JSON in `--out` (default /tmp/sanichain-bench/chain_edits-<UTC>.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import chain_flows
import harness
from sqlalchemy import Engine, text

from service.chain import flows, stored
from service.db import make_engine
from service.synthetic import national_scale as scale

DB = chain_flows.NATIONAL_DB

# Each edit kind: a statement changing one random feature (:pick is its id, drawn by `PICKS`).
EDITS: dict[str, tuple[str, str]] = {
    "village population": (
        "SELECT id FROM villages ORDER BY random() LIMIT 1",
        "UPDATE villages SET population = population + 100 WHERE id = :pick",
    ),
    "farm head count": (
        "SELECT id FROM livestock_farms WHERE status = 'operational' ORDER BY random() LIMIT 1",
        "UPDATE livestock_farms SET head_count = head_count + 50 WHERE id = :pick",
    ),
    "collection point to another station": (
        "SELECT id FROM chain_links WHERE target_transfer_station_id IS NOT NULL ORDER BY random() LIMIT 1",
        """UPDATE chain_links SET target_transfer_station_id = (
               SELECT s.id FROM transfer_stations s WHERE s.id <> chain_links.target_transfer_station_id
               ORDER BY s.geom <-> chain_links.geom LIMIT 1)
           WHERE id = :pick""",
    ),
    "transfer station capacity": (
        "SELECT id FROM transfer_stations ORDER BY random() LIMIT 1",
        "UPDATE transfer_stations SET capacity = capacity + 1 WHERE id = :pick",
    ),
    "manure centre share passed on": (
        "SELECT id FROM manure_centers ORDER BY random() LIMIT 1",
        "UPDATE manure_centers SET forwarded_share = CASE WHEN forwarded_share > 0.5 THEN 0.4 ELSE 0.9 END "
        "WHERE id = :pick",
    ),
    "treatment plant capacity": (
        "SELECT id FROM treatment_plants ORDER BY random() LIMIT 1",
        "UPDATE treatment_plants SET capacity = capacity + 1 WHERE id = :pick",
    ),
}

AGREEMENT_SQL = """
SELECT
  (SELECT max(abs(coalesce(a.flow_t_per_day, 0) - coalesce(b.flow_t_per_day, 0)))
   FROM public.chain_link_flow a FULL JOIN pg_temp.chain_link_flow b ON a.link_id = b.link_id) AS link_flow,
  (SELECT count(*) FROM public.chain_link_flow a FULL JOIN pg_temp.chain_link_flow b ON a.link_id = b.link_id
   WHERE a.link_id IS NULL OR b.link_id IS NULL) AS link_rows_apart,
  (SELECT max(abs(coalesce(a.inflow_t_per_day, 0) - coalesce(b.inflow_t_per_day, 0)))
   FROM public.chain_facility a FULL JOIN pg_temp.chain_facility b ON a.layer = b.layer AND a.id = b.id)
   AS facility_inflow,
  (SELECT count(*) FROM public.chain_facility a FULL JOIN pg_temp.chain_facility b
   ON a.layer = b.layer AND a.id = b.id WHERE a.id IS NULL OR b.id IS NULL) AS facility_rows_apart,
  (SELECT max(abs(coalesce(a.t_per_day, 0) - coalesce(b.t_per_day, 0)))
   FROM public.chain_generation a FULL JOIN pg_temp.chain_generation b
   ON a.layer = b.layer AND a.id = b.id AND a.stream = b.stream) AS generation
"""


def full_compute(engine: Engine) -> None:
    """What a reader paid before D113: the whole chain in temporary tables, then dropped."""
    with engine.connect() as conn, conn.begin():
        flows.compute(conn)
        conn.rollback()


def one_edit(engine: Engine, kind: str) -> Callable[[], dict[str, Any]]:
    pick_sql, edit_sql = EDITS[kind]

    def run() -> dict[str, Any]:
        with engine.connect() as conn, conn.begin():
            pick = conn.execute(text(pick_sql)).scalar_one()
            t0 = time.perf_counter()
            conn.execute(text(edit_sql), {"pick": pick})
            folded = stored.settle(conn)
            settled = time.perf_counter() - t0
        return {"picked": pick, "settle_s": settled, **asdict(folded)}

    return run


def agreement(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn, conn.begin():
        flows.compute(conn)
        row = conn.execute(text(AGREEMENT_SQL)).mappings().one()
        conn.rollback()
    return {k: (float(v) if v is not None else 0.0) for k, v in row.items()}


def rebuild(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        conn.execute(text("UPDATE chain_state SET stale = true"))
        stored.make_current(conn)


def setup(server: harness.Server, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data = work / "national"
    harness.say(f"generate {args.villages:,} villages, {args.farms:,} farms, {args.stations:,} stations")
    t0 = time.perf_counter()
    counts = scale.generate(data, args.villages, args.farms, args.stations, args.seed)
    server.recreate(DB)
    scale.load(server.url(DB), data)
    shutil.rmtree(data, ignore_errors=True)
    loaded = time.perf_counter() - t0
    harness.say(f"generated and loaded in {loaded:.1f} s; building the chain")
    t0 = time.perf_counter()
    chain_flows.build_chain(server)
    counts["chain_links"] = server.one(DB, "SELECT count(*) FROM chain_links")
    return {"counts": counts, "load_s": loaded, "chain_s": time.perf_counter() - t0}


def measure(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    harness.say(f"full recompute into the stored tables vs flows.compute alone, {args.rebuild_runs} pairs")
    full = harness.interleaved(lambda: rebuild(engine), lambda: full_compute(engine), args.rebuild_runs)
    rounds: list[dict[str, dict[str, Any]]] = []

    def one_round() -> None:  # every edit kind once, each timed on its own
        rounds.append({kind: one_edit(engine, kind)() for kind in EDITS})

    harness.say(
        f"edits: a round of {len(EDITS)} edits (+ settle each) vs one full recompute, {args.runs} pairs"
    )
    sitting = harness.interleaved(one_round, lambda: full_compute(engine), args.runs)
    counted = rounds[1:]  # the first round was the warm-up
    harness.say("stored tables vs a full computation of the edited inventory")
    return {
        "rebuild_vs_compute": {
            "rebuild_s": full.ours.spread,
            "compute_s": full.anchor.spread,
            "ratio": full.ratios(),
            "pairs": [p.row() for p in full.pairs],
        },
        "round_vs_full": {"ratio": sitting.ratios(), "pairs": [p.row() for p in sitting.pairs]},
        "full_s": sitting.anchor.spread,
        "edits": {
            kind: {
                "settle_s": harness.spread([r[kind]["settle_s"] for r in counted]),
                "runs": [r[kind] for r in counted],
            }
            for kind in EDITS
        },
        "agreement": agreement(engine),
    }


def report(results: dict[str, Any]) -> list[str]:
    m = results["measured"]
    full = m["full_s"]["median"]
    lines = [
        "| what | ours | full recompute (same sitting) | ours ÷ full |",
        "|---|---|---|---|",
        "| rebuild of the stored chain (compute + copy) "
        f"| {harness.fmt_s(m['rebuild_vs_compute']['rebuild_s'])} "
        f"| {harness.fmt_s(m['rebuild_vs_compute']['compute_s'])} "
        f"| {m['rebuild_vs_compute']['ratio']['median']:.2f} |",
    ]
    for kind, e in m["edits"].items():
        lines.append(
            f"| edit: {kind} + settle | {harness.fmt_s(e['settle_s'])} | {harness.fmt_s(m['full_s'])} "
            f"| {e['settle_s']['median'] / full:.5f} |"
        )
    r = m["round_vs_full"]["ratio"]
    lines.append(
        f"| all {len(m['edits'])} edits in turn | – | – "
        f"| {r['median']:.4f} ({r['min']:.4f}–{r['max']:.4f}) per pair |"
    )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.dataset_options(ap)
    ap.add_argument(
        "--runs", type=int, default=3, help="pairs (a round of edits, a full recompute) after a warm-up"
    )
    ap.add_argument(
        "--rebuild-runs", type=int, default=2, help="pairs (rebuild, full recompute) after a warm-up"
    )
    harness.server_option(ap, DB)
    ap.add_argument("--out", type=Path, default=None)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out or harness.default_out("chain_edits")
    harness.stop_on_sigterm()
    random.seed(args.seed)
    results: dict[str, Any] = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "host": harness.host(),
    }
    with (
        harness.workdir("sanichain-chain-edits-") as work,
        harness.postgres(work, args.server_url, drop=[DB]) as server,
    ):
        results["setup"] = setup(server, args, work)
        engine = make_engine(server.url(DB))
        try:
            results["measured"] = measure(engine, args)
        finally:
            engine.dispose()
    results["loadavg_after"] = harness.loadavg()
    harness.write_json(out, results)
    print("\n".join(report(results)))
    a = results["measured"]["agreement"]
    apart = a["link_rows_apart"] + a["facility_rows_apart"]
    ok = apart == 0 and max(a["link_flow"], a["facility_inflow"], a["generation"]) < 1e-6
    print(f"stored = full computation: {'yes' if ok else 'NO'} {a}")
    print(f"JSON: {out}")
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
