"""Benchmark of "layers out" (OGC API items, GeoJSON export, vector tiles) next to its anchors.

    .venv/bin/python bench/layers_out.py --data /tmp/sanichain-scale   # 1M farms (made if missing)
    .venv/bin/python bench/layers_out.py --farms 40000 --villages 20000 --stations 200 --runs 1 \\
        --wrk-seconds 5                                                # a quick smoke run

Start to end: a throwaway PostgreSQL cluster (shared_buffers=1GB, work_mem=64MB as the anchors'
run_anchors.sh; or --server-url, a role with CREATEDB), the national-scale synthetic set loaded with
`sanichain demo load`, then on the same table `livestock_farms`:

  export   the PostGIS floor `psql \\copy (SELECT ST_AsGeoJSON(t.*)::text ...) TO /dev/null`, `ogr2ogr -f
           GeoJSON`, and the service's `GET /export/livestock_farms.geojson` (curl to /dev/null; peak RSS
           of the service's worker from /proc VmHWM);
  items    `wrk -t2 -c16 --timeout 30s --latency` on `/collections/livestock_farms/items?bbox=...&limit=1000`
           of the service and of tipg 1.6.1 (both uvicorn, 2 workers, same database);
  tiles    10 × curl of the z10 tile 851/402 and of z0, service and tipg.

1 warm-up + --runs counted runs per figure, median (min–max). Needs psql, ogr2ogr, curl, wrk for the items
(installed with apt-get when missing and root) and tipg in --tipg-venv (created from
/work/shared/bench-anchors/requirements-tipg.txt when missing). Prints a Markdown table with the ratios;
JSON to --out. Everything started is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness

from service.synthetic import national_scale as scale

BBOX = "119.0,35.7,119.8,36.3"  # as the anchors: about 14,800 farms
Z10 = "10/851/402"
DB = "layers_out"


def timed(cmd: list[str], runs: int) -> dict[str, float]:
    """Wall time of a whole command: 1 warm-up + `runs`."""

    def run() -> None:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return harness.timed(run, runs).spread


def ensure_tools(parts: set[str], tipg_venv: Path) -> None:
    """The command-line tools the parts use, and tipg in its venv when it is compared."""
    tools = ("psql", "ogr2ogr", "curl", "wrk") if "items" in parts else ("psql", "ogr2ogr", "curl")
    missing = [t for t in tools if shutil.which(t) is None]
    if missing and os.geteuid() == 0:
        harness.say(f"apt-get install {' '.join(missing)}")
        packages = [
            "gdal-bin" if t == "ogr2ogr" else "postgresql-client" if t == "psql" else t for t in missing
        ]
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, stdout=subprocess.DEVNULL)
    still = [t for t in tools if shutil.which(t) is None]
    if still:
        raise SystemExit(f"missing tools: {', '.join(still)}")
    if parts & {"items", "tiles"}:
        harness.anchor_venv(tipg_venv, harness.ANCHORS / "requirements-tipg.txt", "uvicorn")


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
    return {
        "req_s": harness.spread(rates),
        "p50_s": harness.spread(p50s),
        "p99_s": harness.spread(p99s),
        "errors": errors,
    }


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
    return {"time_s": harness.spread(times), "bytes": size}


def run(args: argparse.Namespace, work: Path, server: harness.Server) -> dict[str, Any]:
    data = Path(args.data) if args.data else work / "data"
    if not (data / "manifest.json").exists():
        harness.say(f"generating {args.farms:,} farms, {args.villages:,} villages into {data}")
        scale.generate(data, args.villages, args.farms, args.stations, args.seed)
    url = server.recreate(DB)
    harness.say("migrate and load")
    scale.load(url, data, progress=lambda m: None)
    with server.cursor(DB) as cur:
        cur.execute("VACUUM ANALYZE")
    farms = int(server.one(DB, "SELECT count(*) FROM livestock_farms"))
    in_bbox = int(
        server.one(DB, f"SELECT count(*) FROM livestock_farms WHERE geom && ST_MakeEnvelope({BBOX}, 4326)")
    )
    return measure(args, work, server, farms, in_bbox)


def export_anchors(
    args: argparse.Namespace, work: Path, server: harness.Server, results: dict[str, Any]
) -> None:
    harness.say("export anchors: SQL floor and ogr2ogr")
    results["floor"] = timed(
        [
            "psql",
            server.libpq_url(DB),
            "-qX",
            "-c",
            "\\copy (SELECT ST_AsGeoJSON(t.*)::text FROM livestock_farms t) TO '/dev/null'",
        ],
        args.runs,
    )
    ogr_out = work / "farms.geojson"
    results["ogr2ogr"] = timed(
        [
            "sh",
            "-c",
            f"rm -f {ogr_out} && ogr2ogr -f GeoJSON {ogr_out} PG:'{server.dsn(DB)}' livestock_farms",
        ],
        args.runs,
    )
    results["ogr2ogr_bytes"] = ogr_out.stat().st_size
    ogr_out.unlink()


def items_and_tiles(
    args: argparse.Namespace,
    work: Path,
    parts: set[str],
    results: dict[str, Any],
    who: str,
    items_url: str,
    tile_url: Callable[[str], str],
) -> None:
    """The items under wrk and the two tiles of one server (ours: "service", or "tipg")."""
    key = "" if who == "service" else f"{who}_"
    if "items" in parts:
        harness.say(f"{who}: items under wrk")
        results[f"{key}items"] = wrk(items_url, args.wrk_seconds, args.runs, work, who)
    if "tiles" in parts:
        harness.say(f"{who}: tiles")
        results[f"{key}tile_z10"] = curl_times(tile_url(Z10))
        results[f"{key}tile_z0"] = curl_times(tile_url("0/0/0"))


def measure(
    args: argparse.Namespace, work: Path, server: harness.Server, farms: int, in_bbox: int
) -> dict[str, Any]:
    libpq = server.libpq_url(DB)
    results: dict[str, Any] = {"farms": farms, "farms_in_bbox": in_bbox}
    parts = set(args.parts.split(","))
    if "export" in parts:
        export_anchors(args, work, server, results)
    # Two uvicorn workers each, ours and tipg alike.
    with harness.served(libpq, work / "service.log", workers=2) as service:
        ours = service.base
        if "export" in parts:
            harness.say("service: GeoJSON export of the whole layer")
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
        items_and_tiles(
            args, work, parts, results, "service",
            f"{ours}/collections/livestock_farms/items?bbox={BBOX}&limit=1000",
            lambda tile: f"{ours}/tiles/livestock_farms/{tile}.mvt",
        )  # fmt: skip
        results["service_peak_mib"] = worker_peak_mib(service.pid)
    if not parts & {"items", "tiles"}:
        return results
    tipg_env = {**os.environ, "DATABASE_URL": libpq, "TIPG_DB_SCHEMAS": '["public"]'}
    port_tipg = harness.free_port()
    tipg_cmd = [str(Path(args.tipg_venv) / "bin" / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1"]
    tipg_cmd += ["--port", str(port_tipg), "--workers", "2", "--log-level", "warning"]
    probe = "/collections/public.livestock_farms"
    with harness.running(tipg_cmd, port_tipg, tipg_env, probe, work / "tipg.log") as tipg:
        base = tipg.base + probe
        items_and_tiles(
            args, work, parts, results, "tipg",
            f"{base}/items?bbox={BBOX}&limit=1000",
            lambda tile: f"{base}/tiles/WebMercatorQuad/{tile}",
        )  # fmt: skip
    return results


def machine() -> dict[str, str]:
    h = harness.host()
    return {
        "machine": f"{h['nproc']} cores, {h['cpu_model']}, kernel {h['kernel']}, Python {h['python']}",
        "gdal": harness.tool_version("ogr2ogr", "--version"),
        "wrk": harness.tool_version("wrk", "--version"),  # "" when the items were not measured
    }


def report(r: dict[str, Any]) -> str:
    ratio = lambda a, b: f"{a / b:.2f}×"  # noqa: E731
    fmt = harness.fmt
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
    harness.dataset_options(parser)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wrk-seconds", type=int, default=20)
    parser.add_argument("--tipg-venv", default="/tmp/tipg-venv")
    parser.add_argument(
        "--parts", default="export,items,tiles", help="comma-separated subset of export,items,tiles"
    )
    harness.server_option(parser, DB)
    parser.add_argument("--out", default=str(harness.default_out("layers_out")))
    args = parser.parse_args(argv)
    unknown = set(args.parts.split(",")) - {"export", "items", "tiles"}
    if unknown:
        parser.error(f"unknown parts: {sorted(unknown)}")
    ensure_tools(set(args.parts.split(",")), Path(args.tipg_venv))
    harness.stop_on_sigterm()
    out = Path(args.out)
    with harness.workdir("sanichain-bench-lo-") as work:
        try:
            with harness.postgres(work, args.server_url, drop=[DB]) as server:
                results = run(args, work, server)
        finally:  # wrk's and the servers' own output, kept beside the JSON
            out.parent.mkdir(parents=True, exist_ok=True)
            for p in [*work.glob("wrk_*.txt"), *work.glob("*.log")]:
                shutil.copy(p, out.parent / f"{out.stem}-{p.name}")
    results["meta"] = machine()
    results["meta"]["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    harness.write_json(out, results)
    print(report(results))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
