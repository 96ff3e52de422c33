"""Load benchmark: the service as `make run` runs it, over the demo city, under concurrent clients.

    .venv/bin/python bench/load.py                          # 20 users for 60 s
    .venv/bin/python bench/load.py --users 50 --seconds 60
    .venv/bin/python bench/load.py --users 2 --seconds 3    # a smoke run

A throwaway PostgreSQL cluster (or --server-url, a role with CREATEDB) holds an empty database; the
service is started on it the way `make run` starts it, `sanichain run` with DATABASE_URL set: it
migrates, loads the Zhucheng demo into the empty inventory and serves. An editor and an inspector are
made with the service's own commands (`sanichain users add`, `sanichain tokens create`). Then locust
(`pip install -e '.[bench]'`) runs --users clients for --seconds, each sending its next request as soon
as the last one is answered (--wait adds think time), in a weighted mix (bench/load_users.py):

  30  vector tiles at zooms 8, 10, 12 and 14 over the city     20  items: 100 of a layer in one town
  15  one feature                                               5  a town map       3  the city map
   3  /chain/flows?town=   3  /indicators                       4  an edit: read, then PATCH (If-Match)
   4  an inspection: multipart with a small PNG photo

Printed per request kind: count, throughput, p50, p99 (locust's, in ms) and errors; the totals; the
load average at start and end; the resident memory of every process of the service (parent and
workers), sampled once a second, first third of the run against the last; the worker and pool
settings. Exit code 1 on any error response (the documented concurrency must have none), 2 when the
run itself failed. JSON to --out. The cluster is removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import statistics
import struct
import subprocess
import sys
import threading
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import harness

from service.config import RuntimeSettings

DATABASE = "load_demo"
USERS_FILE = Path(__file__).with_name("load_users.py")
ITEM_LAYERS = ("villages", "collection_points", "transfer_stations", "livestock_farms", "public_toilets")
FEATURE_LAYERS = ("villages", "collection_points", "transfer_stations", "livestock_farms", "public_toilets")
TILE_LAYERS = ("villages", "collection_points", "livestock_farms", "chain_links", "towns")
TILE_ZOOMS = (8, 10, 12, 14)
TILES_PER_ZOOM = 24
INSPECTED = ("collection_points", "transfer_stations", "public_toilets", "livestock_farms")


# --- what the clients need from the running service -------------------------------------------------


def get_json(base: str, path: str, token: str | None = None) -> Any:
    request = urllib.request.Request(base + path, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=120) as r:
        return json.load(r)


def sanichain(args: list[str], database_url: str, stdin: str | None = None) -> str:
    """A `sanichain` command on the benchmark's database: its stdout."""
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run(
        [harness.sanichain_cmd(), *args], input=stdin, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise harness.BenchError(f"sanichain {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def account(database_url: str, name: str, role: str) -> str:
    """A new user with this role, and an API token of theirs, made as an operator would."""
    sanichain(
        ["users", "add", name, "--role", role, "--password-stdin"], database_url, "load bench pass 42\n"
    )
    return sanichain(["tokens", "create", name, "--label", "load benchmark"], database_url)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def city_tiles(bbox: list[float], seed: int = 17) -> dict[int, list[tuple[int, int]]]:
    """Up to TILES_PER_ZOOM tiles (x, y) per zoom inside the city's extent, the same on every run."""
    rng = random.Random(seed)
    tiles: dict[int, list[tuple[int, int]]] = {}
    for z in TILE_ZOOMS:
        x0, y0 = tile_of(bbox[0], bbox[3], z)  # north-west corner: smallest x and y
        x1, y1 = tile_of(bbox[2], bbox[1], z)
        every = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        tiles[z] = rng.sample(every, min(TILES_PER_ZOOM, len(every)))
    return tiles


def png(size: int = 16) -> bytes:
    """A real PNG image (a grey square), standing in for a camera photo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([128]) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def ids_and_points(base: str, layer: str, limit: int) -> list[dict[str, Any]]:
    page = get_json(base, f"/collections/{layer}/items?limit={limit}&properties=code")
    return [
        {
            "layer": layer,
            "id": f["id"],
            "lon": f["geometry"]["coordinates"][0],
            "lat": f["geometry"]["coordinates"][1],
        }
        for f in page["features"]
    ]


def warm_up(base: str, towns: list[str]) -> None:
    """Every map page built once, and the chain's figures computed once, before the clock starts: the
    memory compared is then that of a warm service, not of caches filling."""
    for path in ["/maps/city", *(f"/maps/towns/{code}" for code in towns), "/chain/flows", "/indicators"]:
        with urllib.request.urlopen(base + path, timeout=600) as r:
            r.read()


def targets(base: str, database_url: str, users: int) -> dict[str, Any]:
    """Tokens, features, towns, tiles and checklists for the clients (bench/load_users.py)."""
    city = get_json(base, "/collections/towns")["extent"]["spatial"]["bbox"][0]
    towns = [
        f["properties"]["code"] for f in get_json(base, "/collections/towns/items?limit=100")["features"]
    ]
    features = {
        layer: [
            f["id"] for f in get_json(base, f"/collections/{layer}/items?limit=200&properties=")["features"]
        ]
        for layer in FEATURE_LAYERS
    }
    inspector = account(database_url, "load-inspector", "inspector")
    checklists = get_json(base, "/inspections/checklists?lang=en", inspector)
    visits = [v for layer in INSPECTED for v in ids_and_points(base, layer, max(users, 1))]
    return {
        "editor_token": account(database_url, "load-editor", "editor"),
        "inspector_token": inspector,
        "towns": towns,
        "item_layers": list(ITEM_LAYERS),
        "features": features,
        "tile_layers": list(TILE_LAYERS),
        "tiles": city_tiles(city),
        # one collection point to edit and one facility to inspect per user: no two users race
        "edit_ids": [v["id"] for v in ids_and_points(base, "collection_points", max(users, 1))],
        "inspect": visits,
        "checklists": {
            layer: [item["key"] for item in checklists["checklists"][layer]] for layer in INSPECTED
        },
        "photo_hex": png().hex(),
    }


# --- the service's memory ---------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """`root` and every process below it (the server's workers)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += children
        frontier = children
    return tree


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class MemorySampler(threading.Thread):
    """The RSS of every process of the service, once a second, until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.samples: list[dict[int, int]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            sample = {pid: kib for pid in process_tree(self.root) if (kib := rss_kib(pid)) is not None}
            self.samples.append(sample)
            self._done.wait(1.0)

    def stop(self) -> None:
        self._done.set()
        self.join()


def memory_report(samples: list[dict[int, int]], root: int) -> dict[str, Any]:
    """Median RSS (MiB) of each process and of all, in the first and last third of the run."""
    third = max(len(samples) // 3, 1)
    first, last = samples[:third], samples[-third:]
    pids = sorted({pid for s in samples for pid in s}, key=lambda p: (p != root, p))

    def median_mib(part: list[dict[int, int]], pick: Any) -> float | None:
        values = [v for s in part if (v := pick(s)) is not None]
        return round(statistics.median(values) / 1024, 1) if values else None

    rows = {
        ("parent" if pid == root else f"worker {pid}"): {
            "first_third_mib": median_mib(first, lambda s, pid=pid: s.get(pid)),
            "last_third_mib": median_mib(last, lambda s, pid=pid: s.get(pid)),
        }
        for pid in pids
    }
    rows["all processes"] = {
        "first_third_mib": median_mib(first, lambda s: sum(s.values())),
        "last_third_mib": median_mib(last, lambda s: sum(s.values())),
    }
    every_10s = [round(sum(s.values()) / 1024) for s in samples[::10]]
    return {
        "samples": len(samples),
        "all_every_10s_mib": every_10s,
        "processes": rows,
        "peak_mib": max((sum(s.values()) for s in samples), default=0) / 1024,
    }


# --- locust -----------------------------------------------------------------------------------------


def locust_cmd() -> str:
    found = Path(sys.executable).parent / "locust"
    if not found.exists():
        raise harness.BenchError("locust is not installed: pip install -e '.[bench]'")
    return str(found)


def run_locust(base: str, args: argparse.Namespace, targets_file: Path, work: Path) -> Path:
    """locust's stats CSV prefix after --seconds of --users clients."""
    prefix = work / "locust"
    cmd = [
        locust_cmd(), "-f", str(USERS_FILE), "--headless", "--host", base,
        "--users", str(args.users), "--spawn-rate", str(args.users), "--run-time", f"{args.seconds}s",
        "--stop-timeout", "10", "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    env = {
        **os.environ,
        "LOAD_TARGETS": str(targets_file),
        "LOAD_WAIT_S": str(args.wait),
        "LOAD_WRITES": "0" if args.reads_only else "1",
    }
    log = work / "locust.log"
    with log.open("wb") as out:
        done = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode or not prefix.with_name("locust_stats.csv").exists():
        raise harness.BenchError(
            f"locust failed ({done.returncode}): {log.read_text(errors='replace')[-800:]}"
        )
    return prefix


def read_stats(prefix: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    def number(row: dict[str, str], key: str) -> float:
        value = row.get(key) or "0"
        return float(value) if value != "N/A" else float("nan")

    stats = []
    with prefix.with_name("locust_stats.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            stats.append({
                "kind": row["Name"] if row["Name"] != "Aggregated" else "all",
                "method": row["Type"],
                "count": int(row["Request Count"]),
                "rps": number(row, "Requests/s"),
                "p50_ms": number(row, "50%"),
                "p99_ms": number(row, "99%"),
                "max_ms": number(row, "Max Response Time"),
                "errors": int(row["Failure Count"]),
            })  # fmt: skip
    with prefix.with_name("locust_failures.csv").open(encoding="utf-8") as f:
        failures = list(csv.DictReader(f))
    return stats, failures


# --- settings and output ----------------------------------------------------------------------------


def settings_in_use(server: harness.Server) -> dict[str, Any]:
    runtime = RuntimeSettings()
    return {
        "workers": os.environ.get("SANICHAIN_WORKERS") or "default (as `sanichain run` serves)",
        "pools": {
            "interactive": runtime.pool_interactive,
            "export": runtime.pool_export,
            "analysis": runtime.pool_analysis,
        },
        "pool_timeout_s": runtime.pool_timeout_s,
        "max_exports": runtime.max_exports,
        "max_analyses": runtime.max_analyses,
        "statement_timeouts_s": {
            "interactive": runtime.statement_timeout_interactive_s,
            "export": runtime.statement_timeout_export_s,
            "analysis": runtime.statement_timeout_analysis_s,
        },
        "postgres_max_connections": server.one(DATABASE, "SHOW max_connections"),
    }


def ms(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.0f}"


def report(results: dict[str, Any]) -> None:
    s = results["settings"]
    print(
        f"load: {results['users']} users, {results['seconds']} s, think time {results['wait_s']} s, "
        f"{'with' if results['writes'] else 'without'} edits and inspections; "
        f"machine: {results['machine']['cores']} cores ({results['machine']['cpu']})"
    )
    print(f"load average (1/5/15 min): start {results['loadavg_start']}, end {results['loadavg_end']}")
    print(
        f"workers: {s['workers']}; pools (connections per process) interactive {s['pools']['interactive']}, "
        f"export {s['pools']['export']}, analysis {s['pools']['analysis']} (wait ≤ {s['pool_timeout_s']} s); "
        f"caps: {s['max_exports']} exports, {s['max_analyses']} analyses; "
        f"PostgreSQL max_connections {s['postgres_max_connections']}"
    )
    print()
    print("| request | count | req/s | p50 ms | p99 ms | max ms | errors |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for r in results["requests"]:
        kind = "**all**" if r["kind"] == "all" else f"{r['method']} {r['kind']}"
        print(
            f"| {kind} | {r['count']:,} | {r['rps']:.1f} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | "
            f"{ms(r['max_ms'])} | {r['errors']} |"
        )
    print()
    mem = results["memory"]
    print(f"resident memory, median of the first and last third of the run ({mem['samples']} samples, 1/s):")
    print()
    print("| service process | first third MiB | last third MiB | change |")
    print("|---|--:|--:|--:|")
    for name, row in mem["processes"].items():
        first, last = row["first_third_mib"], row["last_third_mib"]
        change = f"{last - first:+.1f}" if first is not None and last is not None else "–"
        print(f"| {name} | {first} | {last} | {change} |")
    print(f"peak of all processes: {mem['peak_mib']:.1f} MiB; every 10 s: {mem['all_every_10s_mib']} MiB")
    for failure in results["failures"][:10]:
        what = f"{failure.get('Method')} {failure.get('Name')} ×{failure.get('Occurrences')}"
        print(f"error: {what}: {failure.get('Error')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=20, help="concurrent clients (default 20)")
    ap.add_argument("--seconds", type=int, default=60, help="how long they run (default 60)")
    ap.add_argument(
        "--wait",
        type=float,
        default=0.0,
        help="mean think time between a client's requests, s (uniform ±50%%; default 0: none)",
    )
    ap.add_argument(
        "--reads-only",
        action="store_true",
        help="the mix without edits and inspections (map pages stay cached)",
    )
    harness.server_option(ap, DATABASE)
    ap.add_argument("--out", default=str(harness.default_out("load")))
    args = ap.parse_args()

    harness.stop_on_sigterm()
    results: dict[str, Any] = {
        "users": args.users,
        "seconds": args.seconds,
        "wait_s": args.wait,
        "writes": not args.reads_only,
    }
    with (
        harness.workdir("sanichain-load-bench-") as work,
        harness.postgres(work, args.server_url, drop=[DATABASE], settings=()) as server,
    ):
        url = server.recreate(DATABASE, migrated=False)  # empty: `sanichain run` migrates and loads the demo
        port = harness.free_port()
        env = {**os.environ, "DATABASE_URL": url}
        cmd = [harness.sanichain_cmd(), "run", "--port", str(port)]
        harness.say("starting `sanichain run` (migrate, load the demo, serve)")
        with harness.running(cmd, port, env, "/health", work / "service.log", timeout_s=600) as service:
            harness.say("accounts, features and tiles for the clients")
            targets_file = work / "targets.json"
            clients = targets(service.base, url, args.users)
            targets_file.write_text(json.dumps(clients), encoding="utf-8")
            harness.say("warming up: every map page, the chain's figures")
            warm_up(service.base, clients["towns"])
            results["settings"] = settings_in_use(server)
            results["loadavg_start"] = harness.loadavg()
            sampler = MemorySampler(service.pid)
            sampler.start()
            harness.say(f"{args.users} users for {args.seconds} s")
            try:
                prefix = run_locust(service.base, args, targets_file, work)
            finally:
                sampler.stop()
            results["loadavg_end"] = harness.loadavg()
            results["requests"], results["failures"] = read_stats(prefix)
            results["memory"] = memory_report(sampler.samples, service.pid)
    host = harness.host()
    results["machine"] = {"cpu": host["cpu_model"], "cores": host["nproc"], "python": host["python"]}
    results["locust"] = harness.tool_version(locust_cmd(), "--version")
    report(results)
    out = Path(args.out)
    harness.write_json(out, results)
    harness.say(f"JSON: {out}")
    errors = sum(r["errors"] for r in results["requests"] if r["kind"] == "all")
    return 1 if errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except harness.BenchError as e:
        harness.say(f"failed: {e}")
        sys.exit(2)
