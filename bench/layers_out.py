"""Benchmark of "layers out" (OGC API items, GeoJSON export, vector tiles) next to its anchors.

    .venv/bin/python bench/layers_out.py --data /tmp/sanichain-scale   # 1M farms (made if missing)
    .venv/bin/python bench/layers_out.py --farms 40000 --villages 20000 --stations 200 --runs 1 \\
        --wrk-seconds 5                                                # a quick smoke run

Start to end: a throwaway PostgreSQL cluster (shared_buffers=1GB, work_mem=64MB as the anchors'
run_anchors.sh; or --server-url, a role with CREATEDB), the national-scale synthetic set loaded with
`sanichain demo load`, then on the same table `livestock_farms`, the service started as `make run` and
docker compose start it (`sanichain serve`, the default worker count of D111 unless SANICHAIN_WORKERS
is set) and tipg 1.6.1 as the anchors' run_anchors.sh starts it (`uvicorn tipg.main:app --workers 2`):

  export   the service's `GET /export/livestock_farms.geojson` (curl -o a file) in turns with `ogr2ogr
           -f GeoJSON` (a file), then in turns with the PostGIS floor `psql \\copy (SELECT
           ST_AsGeoJSON(t.*)::text ...) TO` a file; all three write into the work folder; peak RSS of
           the service's processes from /proc VmHWM;
  items    `wrk -t2 -c16 --timeout 30s --latency` on `/collections/livestock_farms/items?bbox=...&limit=1000`
           of the service and of tipg in turns (same database, both servers up throughout);
  tiles    10 × curl of the z10 tile 851/402, then of z0, service and tipg in turns.

Each comparison is a sitting of `harness.interleaved`: a warm-up of each side, then --runs pairs in
rotated order (A B, B A, …); every pair's ratio (service ÷ anchor) and load average is printed and
kept, and the ratio quoted is the median (min–max) of the pairs' ratios. Needs psql, ogr2ogr, curl, wrk
for the items (installed with apt-get when missing and root) and tipg in --tipg-venv (created from
/work/shared/bench-anchors/requirements-tipg.txt when missing). Prints Markdown tables; JSON to --out.
Everything started is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness

from service.config import ServerSettings
from service.synthetic import national_scale as scale

BBOX = "119.0,35.7,119.8,36.3"  # as the anchors: about 14,800 farms
Z10 = "10/851/402"
DB = "layers_out"
FLOOR_SQL = "SELECT ST_AsGeoJSON(t.*)::text FROM livestock_farms t"
TILE_CURLS = 10


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


# --- one side of a pair -------------------------------------------------------------------------


def written(path: Path, cmd: list[str]) -> int:
    """Run `cmd`, which writes `path` afresh; the bytes written. Each side removes its previous file
    first, so neither pays for truncating a larger file than the other."""
    path.unlink(missing_ok=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path.stat().st_size


def wrk_run(url: str, seconds: int, out_file: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "30s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    out_file.write_text(out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return {
        "req_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_s": _latency(out, "50%"),
        "p99_s": _latency(out, "99%"),
        "errors": (int(bad.group(1)) if bad else 0) + (int(timeouts.group(1)) if timeouts else 0),
    }


def _latency(out: str, pct: str) -> float:
    value, unit = re.search(rf"^\s+{pct}\s+([\d.]+)(us|ms|s|m)\s*$", out, flags=re.M).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def tile_curls(url: str, out_file: Path) -> dict[str, Any]:
    """TILE_CURLS × curl of one tile into a file: the median of curl's own time_total, the size."""
    times, size = [], 0
    for _ in range(TILE_CURLS):
        out = subprocess.run(
            ["curl", "-fs", "-o", str(out_file), "-w", "%{time_total} %{size_download}", url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        times.append(float(out[0]))
        size = int(out[1])
    return {"time_s": statistics.median(times), "bytes": size}


# --- sittings -----------------------------------------------------------------------------------


def wall_sitting(sitting: harness.Sitting[Any, Any]) -> dict[str, Any]:
    """A sitting whose figure is each side's wall time."""
    return {
        "ours": sitting.ours.spread,
        "anchor": sitting.anchor.spread,
        "warmup_s": {"ours": sitting.ours.warmup_s, "anchor": sitting.anchor.warmup_s},
        "pairs": [p.row() for p in sitting.pairs],
        "ratio": sitting.ratios(),
    }


def figure_sitting(
    ours: Callable[[], dict[str, Any]], anchor: Callable[[], dict[str, Any]], runs: int, figure: str
) -> dict[str, Any]:
    """A sitting whose figure is what each side reports (`figure` of its dict: wrk's req/s, curl's
    median time), not the wall time of the call; the pairs' order and load average as `interleaved`."""
    got_ours: list[dict[str, Any]] = []
    got_anchor: list[dict[str, Any]] = []
    sitting = harness.interleaved(lambda: got_ours.append(ours()), lambda: got_anchor.append(anchor()), runs)
    got_ours, got_anchor = got_ours[1:], got_anchor[1:]  # the first of each was its warm-up
    pairs = []
    for pair, o, a in zip(sitting.pairs, got_ours, got_anchor, strict=True):
        pairs.append(
            {
                "ours": o,
                "anchor": a,
                "ratio": round(o[figure] / a[figure], 3),
                "order": pair.row()["order"],
                "loadavg": pair.loadavg,
            }
        )
    return {
        "figure": figure,
        "ours": harness.spread([o[figure] for o in got_ours]),
        "anchor": harness.spread([a[figure] for a in got_anchor]),
        "pairs": pairs,
        "ratio": harness.spread([p["ratio"] for p in pairs]),
    }


def export_sittings(
    args: argparse.Namespace, work: Path, server: harness.Server, service: harness.Running
) -> dict[str, Any]:
    """The service's export in turns with ogr2ogr, then in turns with the floor; all write files."""
    export_url = f"{service.base}/export/livestock_farms.geojson"
    ours_file, ogr_file, floor_file = work / "service.geojson", work / "ogr2ogr.geojson", work / "floor.txt"
    sizes: dict[str, int] = {}

    def ours() -> None:
        sizes["export"] = written(ours_file, ["curl", "-fs", "-o", str(ours_file), export_url])

    def ogr2ogr() -> None:
        cmd = ["ogr2ogr", "-f", "GeoJSON", str(ogr_file), f"PG:{server.dsn(DB)}", "livestock_farms"]
        sizes["ogr2ogr"] = written(ogr_file, cmd)

    def floor() -> None:
        copy = f"\\copy ({FLOOR_SQL}) TO '{floor_file}'"
        sizes["floor"] = written(floor_file, ["psql", server.libpq_url(DB), "-qX", "-c", copy])

    harness.say("export: service and ogr2ogr in turns")
    vs_ogr = wall_sitting(harness.interleaved(ours, ogr2ogr, args.runs))
    harness.say("export: service and the \\copy floor in turns")
    vs_floor = wall_sitting(harness.interleaved(ours, floor, args.runs))
    for f in (ours_file, ogr_file, floor_file):
        f.unlink(missing_ok=True)
    return {
        "export_vs_ogr2ogr": vs_ogr,
        "export_vs_floor": vs_floor,
        "export_bytes": sizes["export"],
        "ogr2ogr_bytes": sizes["ogr2ogr"],
        "floor_bytes": sizes["floor"],
        "export_peak_mib": worker_peak_mib(service.pid),
    }


def items_and_tiles(
    args: argparse.Namespace, work: Path, parts: set[str], ours: str, tipg: str
) -> dict[str, Any]:
    """Items under wrk and the two tiles, the service (`ours`) and tipg (`tipg`, its collection URL)
    in turns."""
    results: dict[str, Any] = {}
    count = {"service": 0, "tipg": 0}

    def wrk_side(who: str, url: str) -> Callable[[], dict[str, Any]]:
        def side() -> dict[str, Any]:
            label = f"{count[who]}" if count[who] else "warmup"
            count[who] += 1
            return wrk_run(url, args.wrk_seconds, work / f"wrk_{who}_{label}.txt")

        return side

    if "items" in parts:
        harness.say("items under wrk: service and tipg in turns")
        query = f"items?bbox={BBOX}&limit=1000"
        results["items"] = figure_sitting(
            wrk_side("service", f"{ours}/collections/livestock_farms/{query}"),
            wrk_side("tipg", f"{tipg}/{query}"),
            args.runs,
            "req_s",
        )
    if "tiles" in parts:
        for name, tile in (("tile_z10", Z10), ("tile_z0", "0/0/0")):
            harness.say(f"{name}: service and tipg in turns")
            results[name] = figure_sitting(
                functools.partial(
                    tile_curls, f"{ours}/tiles/livestock_farms/{tile}.mvt", work / "service.mvt"
                ),
                functools.partial(tile_curls, f"{tipg}/tiles/WebMercatorQuad/{tile}", work / "tipg.mvt"),
                args.runs,
                "time_s",
            )
    return results


@contextlib.contextmanager
def tipg_server(args: argparse.Namespace, work: Path, libpq: str, wanted: bool) -> Any:
    """tipg as run_anchors.sh starts it (uvicorn, 2 workers), its collection URL; None when not wanted."""
    if not wanted:
        yield None
        return
    env = {**os.environ, "DATABASE_URL": libpq, "TIPG_DB_SCHEMAS": '["public"]'}
    port = harness.free_port()
    cmd = [str(Path(args.tipg_venv) / "bin" / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "2", "--log-level", "warning"]
    probe = "/collections/public.livestock_farms"
    with harness.running(cmd, port, env, probe, work / "tipg.log") as tipg:
        yield tipg.base + probe


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


def measure(
    args: argparse.Namespace, work: Path, server: harness.Server, farms: int, in_bbox: int
) -> dict[str, Any]:
    libpq = server.libpq_url(DB)
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {
        "farms": farms,
        "farms_in_bbox": in_bbox,
        # what `sanichain serve` starts here: SANICHAIN_WORKERS, else half the cores (D111)
        "service_workers": ServerSettings().worker_count(),
        "tipg_workers": 2 if parts & {"items", "tiles"} else None,
    }
    # Both servers up throughout, so that neither side's turn pays for the other's start.
    with (
        harness.served(libpq, work / "service.log") as service,
        tipg_server(args, work, libpq, bool(parts & {"items", "tiles"})) as tipg,
    ):
        if "export" in parts:
            results.update(export_sittings(args, work, server, service))
        if tipg is not None:
            results.update(items_and_tiles(args, work, parts, service.base, tipg))
        results["service_peak_mib"] = worker_peak_mib(service.pid)
    return results


def machine() -> dict[str, str]:
    h = harness.host()
    return {
        "machine": f"{h['nproc']} cores, {h['cpu_model']}, kernel {h['kernel']}, Python {h['python']}",
        "gdal": harness.tool_version("ogr2ogr", "--version"),
        "wrk": harness.tool_version("wrk", "--version"),  # "" when the items were not measured
    }


# --- report -------------------------------------------------------------------------------------


def _x(s: dict[str, float]) -> str:
    return f"**{s['median']:.2f}×** ({s['min']:.2f}–{s['max']:.2f})"


def _ms(s: dict[str, float]) -> str:
    return harness.fmt(s, "ms", 1000)


def summary(r: dict[str, Any]) -> list[str]:
    lines = [
        f"farms: {r['farms']:,}; in the items bbox {BBOX}: {r['farms_in_bbox']:,}; service: "
        f"`sanichain serve`, {r['service_workers']} worker(s)"
        + (f"; tipg: {r['tipg_workers']} workers" if r["tipg_workers"] else ""),
        "",
        "| measure | service | anchor | service / anchor, pairs' median (min–max) | target |",
        "|---|---|---|---|---|",
    ]
    if "export_vs_ogr2ogr" in r:
        o, f = r["export_vs_ogr2ogr"], r["export_vs_floor"]
        lines += [
            f"| GeoJSON export, whole layer, to a file (wall) | {harness.fmt(o['ours'])}, "
            f"{r['export_bytes']:,} B | ogr2ogr {harness.fmt(o['anchor'])}, {r['ogr2ogr_bytes']:,} B | "
            f"{_x(o['ratio'])} | ≤ 0.5× |",
            f"| same in turns with the PostGIS floor (`\\copy ST_AsGeoJSON` to a file) | "
            f"{harness.fmt(f['ours'])} | floor {harness.fmt(f['anchor'])}, {r['floor_bytes']:,} B | "
            f"{_x(f['ratio'])} | ≤ 2× |",
            f"| export: service peak RSS (VmHWM) | {r['export_peak_mib']:.0f} MiB | – | – | ≤ 200 MB |",
        ]
    if "items" in r:
        i = r["items"]
        p99 = harness.spread([p["ours"]["p99_s"] / p["anchor"]["p99_s"] for p in i["pairs"]])
        p99_of = {
            side: harness.fmt_s(harness.spread([p[side]["p99_s"] for p in i["pairs"]]))
            for side in ("ours", "anchor")
        }
        lines += [
            f"| items bbox limit=1000, wrk -t2 -c16: req/s | {harness.fmt(i['ours'], 'req/s')} | tipg "
            f"{harness.fmt(i['anchor'], 'req/s')} | {_x(i['ratio'])} | ≥ 3× |",
            f"| … p99 latency | {p99_of['ours']} | tipg {p99_of['anchor']} | {_x(p99)} | ≤ 0.5× |",
        ]
    for name, label in (("tile_z10", f"tile z10 {Z10}"), ("tile_z0", "tile z0")):
        if name in r:
            t = r[name]
            size = {side: t["pairs"][-1][side]["bytes"] if t["pairs"] else 0 for side in ("ours", "anchor")}
            lines.append(
                f"| {label} (median of {TILE_CURLS} × curl) | {_ms(t['ours'])}, {size['ours']:,} B | tipg "
                f"{_ms(t['anchor'])}, {size['anchor']:,} B | {_x(t['ratio'])} | ≤ 1× |"
            )
    if "items" in r:
        errors = {side: sum(p[side]["errors"] for p in r["items"]["pairs"]) for side in ("ours", "anchor")}
        lines += ["", f"wrk errors (non-2xx + timeouts): service {errors['ours']}, tipg {errors['anchor']}"]
    return lines


def _pairs_table(
    title: str, anchor: str, pairs: list[dict[str, Any]], show: Callable[[Any], str]
) -> list[str]:
    lines = ["", f"{title}:", "", f"| pair | order | service | {anchor} | ratio | loadavg |"]
    lines.append("|---|---|---|---|---|---|")
    for n, p in enumerate(pairs, 1):
        lines.append(
            f"| {n} | {p['order']} | {show(p['ours'])} | {show(p['anchor'])} "
            f"| {p['ratio']:.2f}× | {p['loadavg']} |"
        )
    return lines


def pair_tables(r: dict[str, Any]) -> list[str]:
    """Every pair of every sitting: its order, both figures, its ratio and the load average."""
    lines: list[str] = []
    for key, title in (("export_vs_ogr2ogr", "export vs ogr2ogr"), ("export_vs_floor", "export vs floor")):
        if key in r:
            walls = [{**p, "ours": p["ours_s"], "anchor": p["anchor_s"]} for p in r[key]["pairs"]]
            lines += _pairs_table(f"{title} (wall)", "anchor", walls, lambda s: f"{s:.2f} s")
    figures = (
        ("items", "items (wrk req/s)", lambda v: f"{v['req_s']:.1f} req/s, p99 {v['p99_s'] * 1000:.0f} ms"),
        ("tile_z10", f"tile z10 {Z10} (median curl)", lambda v: f"{v['time_s'] * 1000:.1f} ms"),
        ("tile_z0", "tile z0 (median curl)", lambda v: f"{v['time_s'] * 1000:.1f} ms"),
    )
    for key, title, show in figures:
        if key in r:
            lines += _pairs_table(title, "tipg", r[key]["pairs"], show)
    return lines


def report(r: dict[str, Any]) -> str:
    return "\n".join(summary(r) + pair_tables(r))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="generated dataset directory (made when missing)")
    harness.dataset_options(parser)
    parser.add_argument("--runs", type=int, default=3, help="pairs per sitting, after a warm-up of each")
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
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load_before = harness.loadavg()
    with harness.workdir("sanichain-bench-lo-") as work:
        try:
            with harness.postgres(work, args.server_url, drop=[DB]) as server:
                results = run(args, work, server)
        finally:  # wrk's and the servers' own output, kept beside the JSON
            out.parent.mkdir(parents=True, exist_ok=True)
            for p in [*work.glob("wrk_*.txt"), *work.glob("*.log")]:
                shutil.copy(p, out.parent / f"{out.stem}-{p.name}")
    results["meta"] = machine()
    results["meta"]["started"] = started
    results["meta"]["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    results["meta"]["loadavg"] = {"before": load_before, "after": harness.loadavg()}
    harness.write_json(out, results)
    print(report(results))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
