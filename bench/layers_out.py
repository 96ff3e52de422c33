"""Benchmark of "layers out" (OGC API items, GeoJSON export, vector tiles) next to its anchors.

    .venv/bin/python bench/layers_out.py --data /tmp/sanichain-scale   # 1M farms (made if missing)
    .venv/bin/python bench/layers_out.py --farms 40000 --villages 20000 --stations 200 --runs 1 \\
        --wrk-seconds 5                                                # a quick smoke run

Start to end: a throwaway PostgreSQL cluster (shared_buffers=1GB, work_mem=64MB as the anchors'
run_anchors.sh), the national-scale synthetic set loaded with `sanichain demo load`, then on the same
table `livestock_farms`:

  export   the PostGIS floor `psql \\copy (SELECT ST_AsGeoJSON(t.*)::text ...) TO /dev/null`, `ogr2ogr -f
           GeoJSON`, and the service's `GET /export/livestock_farms.geojson` (curl to /dev/null; peak RSS
           of the service's worker from /proc VmHWM);
  items    `wrk -t2 -c16 --timeout 30s --latency` on `/collections/livestock_farms/items?bbox=...&limit=1000`
           of the service and of tipg 1.6.1 (both uvicorn, 2 workers, same database);
  tiles    10 × curl of the z10 tile 851/402 and of z0, service and tipg.

1 warm-up + --runs counted runs per figure, median (min–max). Needs psql, ogr2ogr, curl, wrk (installed
with apt-get when missing and root) and tipg in --tipg-venv (created from
/work/shared/bench-anchors/requirements-tipg.txt when missing). Prints a Markdown table with the ratios;
JSON to --out. Everything started is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service import migrate  # noqa: E402
from service.localdb import LocalCluster  # noqa: E402
from service.synthetic import national_scale as scale  # noqa: E402

BBOX = "119.0,35.7,119.8,36.3"  # as the anchors: about 14,800 farms
Z10 = "10/851/402"
ANCHORS = Path("/work/shared/bench-anchors")
CLUSTER_SETTINGS = ("shared_buffers = 1GB", "work_mem = 64MB")


def say(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(s: dict[str, float], unit: str = "s", scale_by: float = 1.0) -> str:
    return f"{s['median'] * scale_by:.3g} {unit} ({s['min'] * scale_by:.3g}–{s['max'] * scale_by:.3g})"


def timed(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall time of a whole command: 1 warm-up + `runs`."""
    times = []
    for i in range(runs + 1):
        t0 = time.monotonic()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i:
            times.append(time.monotonic() - t0)
    return spread(times)


def ensure_tools(tipg_venv: Path | None) -> None:
    """The command-line tools, and tipg in its venv when it is compared (None: not needed)."""
    missing = [t for t in ("psql", "ogr2ogr", "curl", "wrk") if shutil.which(t) is None]
    if missing and os.geteuid() == 0:
        say(f"apt-get install {' '.join(missing)}")
        packages = [
            "gdal-bin" if t == "ogr2ogr" else "postgresql-client" if t == "psql" else t for t in missing
        ]
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, stdout=subprocess.DEVNULL)
    still = [t for t in ("psql", "ogr2ogr", "curl", "wrk") if shutil.which(t) is None]
    if still:
        raise SystemExit(f"missing tools: {', '.join(still)}")
    if tipg_venv is not None and not (tipg_venv / "bin" / "uvicorn").exists():
        say(f"tipg venv in {tipg_venv}")
        subprocess.run([sys.executable, "-m", "venv", str(tipg_venv)], check=True)
        pip = str(tipg_venv / "bin" / "pip")
        subprocess.run([pip, "install", "-q", "-r", str(ANCHORS / "requirements-tipg.txt")], check=True)


@contextlib.contextmanager
def server(cmd: list[str], env: dict[str, str], probe: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(probe, timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{cmd[0]} did not start; see {log}") from None
                time.sleep(0.5)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def worker_peak_mib(pid: int) -> float:
    """The largest peak RSS (VmHWM) among the process and its children (uvicorn workers)."""
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            text = status.read_text()
            ppid = int(re.search(r"^PPid:\s+(\d+)", text, flags=re.M).group(1))  # type: ignore[union-attr]
            own = int(status.parent.name)
            if own == pid or ppid == pid:
                hwm = re.search(r"^VmHWM:\s+(\d+) kB", text, flags=re.M)
                if hwm:
                    peaks.append(int(hwm.group(1)) / 1024)
    return max(peaks, default=0.0)


def wrk(url: str, seconds: int, runs: int, out_dir: Path, label: str) -> dict[str, Any]:
    subprocess.run(
        ["wrk", "-t2", "-c16", "-d5s", "--timeout", "30s", url], check=True, stdout=subprocess.DEVNULL
    )
    rates, p99s, p50s, errors = [], [], [], 0
    for i in range(runs):
        out = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "30s", "--latency", url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (out_dir / f"wrk_{label}_{i + 1}.txt").write_text(out)
        rates.append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))  # type: ignore[union-attr]
        p50s.append(_latency(out, "50%"))
        p99s.append(_latency(out, "99%"))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        timeouts = re.search(r"timeout (\d+)", out)
        errors += (int(bad.group(1)) if bad else 0) + (int(timeouts.group(1)) if timeouts else 0)
    return {"req_s": spread(rates), "p50_s": spread(p50s), "p99_s": spread(p99s), "errors": errors}


def _latency(out: str, pct: str) -> float:
    value, unit = re.search(rf"^\s+{pct}\s+([\d.]+)(us|ms|s|m)\s*$", out, flags=re.M).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def curl_times(url: str, n: int = 10) -> dict[str, Any]:
    subprocess.run(["curl", "-fs", "-o", "/dev/null", url], check=True)
    times, size = [], 0
    for _ in range(n):
        out = subprocess.run(
            ["curl", "-fs", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        times.append(float(out[0]))
        size = int(out[1])
    return {"time_s": spread(times), "bytes": size}


def psql(url: str, *args: str) -> str:
    return subprocess.run(
        ["psql", url, "-qAtX", *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data = Path(args.data) if args.data else work / "data"
    if not (data / "manifest.json").exists():
        say(f"generating {args.farms:,} farms, {args.villages:,} villages into {data}")
        scale.generate(data, villages=args.villages, farms=args.farms, stations=args.stations, seed=20261127)
    cluster = LocalCluster(work / "pg", free_port())
    cluster.init()
    with (cluster.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write("\n# bench/layers_out.py\n" + "\n".join(CLUSTER_SETTINGS) + "\n")
    cluster.start()
    try:
        url = cluster.ensure_database("layers_out")
        libpq = url.replace("postgresql+psycopg2://", "postgresql://")
        say("migrate and load")
        migrate.upgrade(url)
        scale.load(url, data, progress=lambda m: None)
        psql(libpq, "-c", "VACUUM ANALYZE")
        farms = int(psql(libpq, "-c", "SELECT count(*) FROM livestock_farms"))
        in_bbox = int(
            psql(
                libpq,
                "-c",
                f"SELECT count(*) FROM livestock_farms WHERE geom && ST_MakeEnvelope({BBOX}, 4326)",
            )
        )
        return measure(args, work, libpq, farms, in_bbox)
    finally:
        cluster.destroy()


def export_anchors(args: argparse.Namespace, work: Path, libpq: str, results: dict[str, Any]) -> None:
    say("export anchors: SQL floor and ogr2ogr")
    results["floor"] = timed(
        [
            "psql",
            libpq,
            "-qX",
            "-c",
            "\\copy (SELECT ST_AsGeoJSON(t.*)::text FROM livestock_farms t) TO '/dev/null'",
        ],
        args.runs,
    )
    pg = libpq.replace("postgresql://", "").split("@")
    user, hostdb = pg[0], pg[1]
    host_port, db = hostdb.split("/")
    host, port = host_port.split(":")
    ogr_out = work / "farms.geojson"
    results["ogr2ogr"] = timed(
        [
            "sh",
            "-c",
            f"rm -f {ogr_out} && ogr2ogr -f GeoJSON {ogr_out} "
            f"PG:'host={host} port={port} dbname={db} user={user}' livestock_farms",
        ],
        args.runs,
    )
    results["ogr2ogr_bytes"] = ogr_out.stat().st_size
    ogr_out.unlink()


def measure(args: argparse.Namespace, work: Path, libpq: str, farms: int, in_bbox: int) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": libpq}
    results: dict[str, Any] = {"farms": farms, "farms_in_bbox": in_bbox}
    parts = set(args.parts.split(","))
    if "export" in parts:
        export_anchors(args, work, libpq, results)
    port_ours, port_tipg = free_port(), free_port()
    ours = f"http://127.0.0.1:{port_ours}"
    tipg = f"http://127.0.0.1:{port_tipg}"
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    with server(
        [
            uvicorn,
            "--factory",
            "service.api.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port_ours),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        env,
        ours + "/health",
        work / "service.log",
    ) as service:
        if "export" in parts:
            say("service: GeoJSON export of the whole layer")
            export_url = f"{ours}/export/livestock_farms.geojson"
            results["export"] = timed(["curl", "-fs", "-o", "/dev/null", export_url], args.runs)
            results["export_bytes"] = int(
                subprocess.run(
                    ["curl", "-fs", "-o", "/dev/null", "-w", "%{size_download}", export_url],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            results["export_peak_mib"] = worker_peak_mib(service.pid)
        if "items" in parts:
            say("service: items under wrk")
            results["items"] = wrk(
                f"{ours}/collections/livestock_farms/items?bbox={BBOX}&limit=1000",
                args.wrk_seconds,
                args.runs,
                work,
                "service",
            )
        if "tiles" in parts:
            say("service: tiles")
            results["tile_z10"] = curl_times(f"{ours}/tiles/livestock_farms/{Z10}.mvt")
            results["tile_z0"] = curl_times(f"{ours}/tiles/livestock_farms/0/0/0.mvt")
        results["service_peak_mib"] = worker_peak_mib(service.pid)
    if not parts & {"items", "tiles"}:
        return results
    tipg_env = {**env, "TIPG_DB_SCHEMAS": '["public"]'}
    with server(
        [
            str(Path(args.tipg_venv) / "bin" / "uvicorn"),
            "tipg.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port_tipg),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        tipg_env,
        tipg + "/collections/public.livestock_farms",
        work / "tipg.log",
    ):
        if "items" in parts:
            say("tipg: items under wrk")
            results["tipg_items"] = wrk(
                f"{tipg}/collections/public.livestock_farms/items?bbox={BBOX}&limit=1000",
                args.wrk_seconds,
                args.runs,
                work,
                "tipg",
            )
        if "tiles" in parts:
            say("tipg: tiles")
            base = f"{tipg}/collections/public.livestock_farms/tiles/WebMercatorQuad"
            results["tipg_tile_z10"] = curl_times(f"{base}/{Z10}")
            results["tipg_tile_z0"] = curl_times(f"{base}/0/0/0")
    return results


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    versions = {
        "machine": f"{os.cpu_count()} cores, {cpu}, kernel {platform.release()}, "
        f"Python {platform.python_version()}",
        "gdal": subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True).stdout.strip(),
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
    }
    return versions


def report(r: dict[str, Any]) -> str:
    ratio = lambda a, b: f"{a / b:.2f}×"  # noqa: E731
    lines = [
        f"farms: {r['farms']:,}; in the items bbox {BBOX}: {r['farms_in_bbox']:,}",
        "",
        "| measure | service | anchor | ratio (service / anchor) | target |",
        "|---|---|---|---|---|",
    ]
    if "export" in r:
        e, f, o = r["export"]["median"], r["floor"]["median"], r["ogr2ogr"]["median"]
        lines += [
            f"| GeoJSON export, whole layer (wall) | {fmt(r['export'])} | ogr2ogr {fmt(r['ogr2ogr'])} | "
            f"{ratio(e, o)} | ≤ 0.5× |",
            f"| same vs PostGIS floor (`\\copy ST_AsGeoJSON`) | {fmt(r['export'])} | "
            f"floor {fmt(r['floor'])} | {ratio(e, f)} | ≤ 2× |",
            f"| export: service peak RSS (worker VmHWM) | {r['export_peak_mib']:.0f} MiB "
            "| – | – | ≤ 200 MB |",
        ]
    if "items" in r:
        i, t = r["items"], r["tipg_items"]
        lines += [
            f"| items bbox limit=1000, wrk -t2 -c16: req/s | {fmt(i['req_s'], 'req/s')} | tipg "
            f"{fmt(t['req_s'], 'req/s')} | {ratio(i['req_s']['median'], t['req_s']['median'])} | ≥ 3× |",
            f"| … p99 latency | {fmt(i['p99_s'], 'ms', 1000)} | tipg {fmt(t['p99_s'], 'ms', 1000)} | "
            f"{ratio(i['p99_s']['median'], t['p99_s']['median'])} | ≤ 0.5× |",
        ]
    if "tile_z10" in r:
        lines += [
            f"| tile z10 {Z10} (10 × curl) | {fmt(r['tile_z10']['time_s'], 'ms', 1000)}, "
            f"{r['tile_z10']['bytes']:,} B "
            f"| tipg {fmt(r['tipg_tile_z10']['time_s'], 'ms', 1000)}, {r['tipg_tile_z10']['bytes']:,} B | "
            f"{ratio(r['tile_z10']['time_s']['median'], r['tipg_tile_z10']['time_s']['median'])} | ≤ 1× |",
            f"| tile z0 (10 × curl) | {fmt(r['tile_z0']['time_s'], 'ms', 1000)}, {r['tile_z0']['bytes']:,} B "
            f"| tipg {fmt(r['tipg_tile_z0']['time_s'], 'ms', 1000)}, {r['tipg_tile_z0']['bytes']:,} B | "
            f"{ratio(r['tile_z0']['time_s']['median'], r['tipg_tile_z0']['time_s']['median'])} | ≤ 1× |",
        ]
    if "items" in r:
        lines += [
            "",
            f"wrk errors (non-2xx + timeouts): service {r['items']['errors']}, "
            f"tipg {r['tipg_items']['errors']}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="generated dataset directory (made when missing)")
    parser.add_argument("--farms", type=int, default=1_000_000)
    parser.add_argument("--villages", type=int, default=500_000)
    parser.add_argument("--stations", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wrk-seconds", type=int, default=20)
    parser.add_argument("--tipg-venv", default="/tmp/tipg-venv")
    parser.add_argument(
        "--parts", default="export,items,tiles", help="comma-separated subset of export,items,tiles"
    )
    parser.add_argument(
        "--out", default=f"/tmp/sanichain-bench/layers_out-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    )
    args = parser.parse_args(argv)
    unknown = set(args.parts.split(",")) - {"export", "items", "tiles"}
    if unknown:
        parser.error(f"unknown parts: {sorted(unknown)}")
    ensure_tools(Path(args.tipg_venv) if set(args.parts.split(",")) & {"items", "tiles"} else None)
    work = Path(tempfile.mkdtemp(prefix="sanichain-bench-lo-"))
    work.chmod(0o755)
    try:
        results = run(args, work)
    finally:
        keep = [p for p in work.glob("wrk_*.txt")] + [p for p in work.glob("*.log")]
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        for p in keep:
            shutil.copy(p, out.parent / f"{out.stem}-{p.name}")
        shutil.rmtree(work, ignore_errors=True)
    results["meta"] = machine()
    results["meta"]["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(report(results))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
