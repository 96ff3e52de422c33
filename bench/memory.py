"""Memory of the service (issue 18): resident set size idle, after bursts of concurrent reads, and at
the peak of the largest layer's GeoJSON export.

The service runs as `make run` runs it (`sanichain run`, one process; `--command serve` for the
application alone) over the Zhucheng demo, in a database of its own (`demo_database.py`: a throwaway
cluster, or `--server-url`). The figures are the RSS of the service's process and of every process
under it, read from /proc:

1. idle: after start and one `GET /health`;
2. after each of `--bursts` bursts (default 3) of `--requests` reads (default 96), `--concurrency` at a
   time (default 16): items (plain and with a CQL2 filter), vector tiles, map pages, report and export
   workbooks, the flow diagram, search. The second and third bursts ask the same as the first, so
   they should add nothing: growth there is a leak or a cache without a bound;
3. the peak while the largest layer is exported as GeoJSON and streamed to a file, the RSS sampled
   every `--sample-ms` (default 50).

    .venv/bin/python bench/memory.py [--server-url URL] [--out FILE]

Limits of the issue: idle ≤ 120 MiB, no growth across bursts, export peak ≤ 200 MiB.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import math
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

# This checkout's `service` (here and in the service started), not the checkout the venv's editable
# install points to: a benchmark run from a second worktree measures that worktree's code.
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import harness
from demo_database import demo_database
from sqlalchemy import Engine, func, select

from service.config import REPO_ROOT
from service.models import LAYERS, Town

DATABASE = "sanichain_memory_bench"
MIB = 1024 * 1024
IDLE_LIMIT_MIB, EXPORT_LIMIT_MIB = 120, 200
ZHUCHENG = (119.41, 35.99)  # lon, lat: the tiles asked cover the city


# --- the processes' memory --------------------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in bytes (empty when it has ended)."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) * 1024
    return found


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # the parent pid is the 2nd field after the command, which is in parentheses
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
    return kids


def process_tree(pid: int) -> list[int]:
    """`pid` and every process under it."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(_children(current))
    return tree


def memory(pid: int) -> dict[str, Any]:
    """RSS and peak RSS (MiB) of each process of the tree, and their sum."""
    per: dict[int, dict[str, Any]] = {}
    for p in process_tree(pid):
        status = _status(p)
        if status:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            per[p] = {
                "rss_mib": round(status["VmRSS"] / MIB, 1),
                "peak_mib": round(status["VmHWM"] / MIB, 1),
                "cmd": cmd.strip()[:120],
            }
    return {"sum_mib": round(sum(v["rss_mib"] for v in per.values()), 1), "processes": per}


def rss_sum(pid: int) -> int:
    return sum(_status(p).get("VmRSS", 0) for p in process_tree(pid))


class Sampler:
    """The sum of the tree's RSS every `interval_s` in a thread; the highest seen."""

    def __init__(self, pid: int, interval_s: float) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.peak, self.samples = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_sum(self.pid))
            self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- what is asked ----------------------------------------------------------------------------------


def tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The Web-Mercator tile (x, y) holding lon/lat at zoom z."""
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def reads(town_code: str) -> list[tuple[str, str]]:
    """(kind, path) of the reads of a burst: every heavy part of the service is asked once at least."""
    paths = [
        ("items", "/collections/villages/items?limit=1000"),
        ("items", "/collections/livestock_farms/items?limit=1000"),
        ("items", "/collections/towns/items"),
        ("items", "/collections/villages/items?limit=500&filter=" + urllib.parse.quote("population > 500")),
        ("search", "/search?q=" + urllib.parse.quote("zgz")),
        ("maps", "/maps/city"),
        ("maps", "/maps/city?lang=en"),
        ("maps", f"/maps/towns/{town_code}"),
        ("workbook", "/export/villages.xlsx"),
        ("workbook", "/chain/integrity?format=xlsx"),
        ("workbook", "/coverage?layer=transfer_stations&distance_m=3000&format=xlsx"),
        ("diagram", "/chain/diagram?format=svg"),
    ]
    for z in (10, 12, 14):
        x, y = tile(*ZHUCHENG, z)
        for layer in ("villages", "livestock_farms", "towns"):
            paths.append(("tiles", f"/tiles/{layer}/{z}/{x}/{y}.mvt"))
    return paths


def fetch(base: str, path: str) -> tuple[int, str]:
    """(status, the start of a refusal's body) of a GET, the body read to the end."""
    request = urllib.request.Request(base + path, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            while response.read(1 << 16):
                pass
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, error.read()[:300].decode(errors="replace")


def burst(base: str, paths: list[tuple[str, str]], requests: int, concurrency: int) -> dict[str, Any]:
    """`requests` reads, `concurrency` in flight, cycling through `paths`; the statuses by kind."""
    asked = [paths[i % len(paths)] for i in range(requests)]
    statuses: Counter[str] = Counter()
    refused: dict[str, str] = {}  # a path → its refusal, once (a 503 is a full class of requests)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        answers = pool.map(lambda p: fetch(base, p[1]), asked)
        for (kind, path), (status, body) in zip(asked, answers, strict=True):
            statuses[f"{kind} {status}"] += 1
            if status != 200:
                refused.setdefault(f"{status} {path}", body)
    return {
        "seconds": round(time.perf_counter() - t0, 2),
        "statuses": dict(sorted(statuses.items())),
        "refused": refused,
    }


def export_peak(pid: int, base: str, layer: str, out: Path, interval_s: float) -> dict[str, Any]:
    """The tree's highest RSS while `layer` is exported as GeoJSON into `out`."""
    before = rss_sum(pid)
    t0 = time.perf_counter()
    with (
        Sampler(pid, interval_s) as sampler,
        urllib.request.urlopen(f"{base}/export/{layer}.geojson") as r,
        out.open("wb") as f,
    ):
        while chunk := r.read(1 << 16):
            f.write(chunk)
    return {
        "layer": layer,
        "bytes": out.stat().st_size,
        "seconds": round(time.perf_counter() - t0, 2),
        "before_mib": round(before / MIB, 1),
        "peak_mib": round(sampler.peak / MIB, 1),
        "samples": sampler.samples,
    }


def layer_sizes(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for name, model in LAYERS.items()
        }


def first_town(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(Town.code).order_by(Town.code).limit(1)).scalar_one())


# --- the run --------------------------------------------------------------------------------------


def measure(engine: Engine, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    sizes = layer_sizes(engine)
    largest = max(sizes, key=lambda name: sizes[name])
    paths = reads(first_town(engine))
    port = harness.free_port()
    # PYTHONPATH: this checkout's `service`, whichever checkout the venv's editable install points to
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "PYTHONPATH": str(REPO_ROOT)}  # fmt: skip
    cmd = [harness.sanichain_cmd(), args.command, "--port", str(port)]
    results: dict[str, Any] = {"layer_rows": sizes, "reads": [p for _, p in paths]}
    with harness.running(cmd, port, env, "/health", work / "service.log") as service:
        time.sleep(args.settle_s)
        results["idle"] = memory(service.pid)
        harness.say(f"idle: {results['idle']['sum_mib']} MiB")
        results["bursts"] = []
        for n in range(1, args.bursts + 1):
            done = burst(service.base, paths, args.requests, args.concurrency)
            time.sleep(args.settle_s)
            done["memory"] = memory(service.pid)
            results["bursts"].append(done)
            harness.say(f"after burst {n}: {done['memory']['sum_mib']} MiB ({done['seconds']} s)")
        results["export"] = export_peak(
            service.pid, service.base, largest, work / f"{largest}.geojson", args.sample_ms / 1000
        )
        harness.say(f"export of {largest}: peak {results['export']['peak_mib']} MiB")
        time.sleep(args.settle_s)
        results["after_export"] = memory(service.pid)
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    def pids(m: dict[str, Any]) -> str:
        return ", ".join(f"{v['rss_mib']:.0f}" for v in m["processes"].values())

    lines = [
        f"service: `sanichain {args.command}` over the Zhucheng demo; bursts of {args.requests} reads, "
        f"{args.concurrency} at a time; load average {results['loadavg_before']} before, "
        f"{results['loadavg_after']} after",
        "",
        "| state | RSS sum (MiB) | per process (MiB) | limit |",
        "|---|---|---|---|",
        f"| idle (start + /health) | {results['idle']['sum_mib']:.1f} | {pids(results['idle'])} "
        f"| ≤ {IDLE_LIMIT_MIB} |",
    ]
    for n, b in enumerate(results["bursts"], 1):
        lines.append(f"| after burst {n} ({b['seconds']} s) | {b['memory']['sum_mib']:.1f} "
                     f"| {pids(b['memory'])} | {'no growth' if n > 1 else ''} |")  # fmt: skip
    e = results["export"]
    lines += [
        f"| GeoJSON export of {e['layer']} ({e['bytes'] / MIB:.1f} MiB, {e['seconds']} s), peak "
        f"of {e['samples']} samples | {e['peak_mib']:.1f} | | ≤ {EXPORT_LIMIT_MIB} |",
        f"| after the export | {results['after_export']['sum_mib']:.1f} "
        f"| {pids(results['after_export'])} | |",
        "",
    ]
    if results["bursts"]:  # none with --bursts 0: the export from idle
        first = results["bursts"][0]
        statuses = ", ".join(f"{k}: {v}" for k, v in first["statuses"].items())
        lines.append(f"statuses of the first burst: {statuses}")
        lines += [f"- {what}: {body[:160]}" for what, body in first["refused"].items()]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.server_option(ap, DATABASE)
    ap.add_argument(
        "--command",
        choices=("run", "serve"),
        default="run",
        help="`sanichain run` (as `make run`: migrations and the demo check in the serving process) or "
        "`sanichain serve` (the application alone)",
    )
    ap.add_argument("--requests", type=int, default=96, help="reads per burst")
    ap.add_argument("--concurrency", type=int, default=16, help="reads in flight at once")
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("--sample-ms", type=float, default=50, help="RSS sampling interval during the export")
    ap.add_argument("--settle-s", type=float, default=2, help="pause before each idle reading")
    ap.add_argument("--out", type=Path, default=harness.default_out("memory"))
    args = ap.parse_args()
    harness.stop_on_sigterm()
    results: dict[str, Any] = {"host": harness.host(), "loadavg_before": harness.loadavg()}
    with harness.workdir("sanichain-memory-") as work, demo_database(DATABASE, args.server_url) as engine:
        results.update(measure(engine, work, args))
    results["loadavg_after"] = harness.loadavg()
    harness.write_json(args.out, results)
    print(report(results, args))
    harness.say(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
