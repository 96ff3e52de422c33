"""Benchmark of the map pages in headless Chromium, next to the targets of the maps issue.

    .venv/bin/python bench/maps.py                      # demo city + a province with 100,000 farms
    .venv/bin/python bench/maps.py --farms 20000 --runs 1   # a quick smoke run

A throwaway PostgreSQL cluster holds two databases: the Zhucheng demo, and the synthetic national-scale
generator's set (`service.synthetic.national_scale`, an 8°×4° box: a province) with --farms farms,
--villages villages and --stations stations. For each, the real service (`sanichain serve`, basemap
'none' so that no tile is fetched) and Debian's Chromium (Playwright, headless):

  html     size of GET /maps/city (and gzipped, as browsers get it); the server's time for the first
           request (building the page) and for --runs more (the page reused: the inventory is unchanged)
  drawn    navigation start → every layer drawn (the page's own ready flag; cluster chunks included),
           1 warm-up + --runs page loads
  zoom     setView to zoom 12 somewhere in the data → 'moveend' and the next frame (clusters redrawn)
  pan      panBy 400 px → 'moveend' and the next frame
  popup    a farm's popup opened on the map → its content shown (province: read from the API record)

Targets (issue "web maps"): demo ≤ 1.5 MB and drawn ≤ 2 s; province ≤ 5 MB and interactive.
Prints a Markdown table; JSON to --out. The cluster is removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service import migrate  # noqa: E402
from service.config import DemoSettings  # noqa: E402
from service.db import make_engine  # noqa: E402
from service.demo import loader, scale  # noqa: E402
from service.localdb import LocalCluster  # noqa: E402
from service.maps import assets  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
READY = "window.Sanichain && Sanichain.ready === true"
TARGETS = {"demo": {"mb": 1.5, "drawn_s": 2.0}, "province": {"mb": 5.0, "drawn_s": None}}

ZOOM_JS = """
() => new Promise(done => {
  const map = Sanichain.map, farms = Sanichain.groups.livestock_farms.getLayers();
  const t0 = performance.now();
  map.once('moveend', () => requestAnimationFrame(() => done(performance.now() - t0)));
  map.setView(farms[Math.floor(farms.length / 2)].getLatLng(), 12, {animate: false});
})
"""
PAN_JS = """
() => new Promise(done => {
  const t0 = performance.now();
  Sanichain.map.once('moveend', () => requestAnimationFrame(() => done(performance.now() - t0)));
  Sanichain.map.panBy([400, 0], {animate: false});
})
"""
POPUP_JS = """
() => new Promise(done => {
  // zoom past disableClusteringAtZoom so the farm is a marker of its own, then open its popup
  const map = Sanichain.map, farm = Sanichain.groups.livestock_farms.getLayers()[7];
  map.once('moveend', () => setTimeout(() => {
    const t0 = performance.now();
    farm.openPopup();
    const wait = () => {
      const el = document.querySelector('.leaflet-popup-content');
      if (el && el.textContent.length > 1 && !el.textContent.includes('…')) {
        done(performance.now() - t0);
      } else { setTimeout(wait, 5); }
    };
    wait();
  }, 300));
  map.setView(farm.getLatLng(), 17, {animate: false});
})
"""


def say(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(s: dict[str, float], unit: str, scale_by: float = 1.0) -> str:
    return f"{s['median'] * scale_by:.3g} {unit} ({s['min'] * scale_by:.3g}–{s['max'] * scale_by:.3g})"


@contextmanager
def service(url: str) -> Iterator[str]:
    from tests.conftest import free_port

    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SANICHAIN_BASEMAP": "none"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def measure(base: str, runs: int, browser: Any, with_popup: bool) -> dict[str, Any]:
    # The first request builds the page (chain computation, queries, rendering); later ones reuse it
    # until the inventory changes. Both are reported.
    fetch, size, cold = [], 0, 0.0
    for i in range(runs + 1):
        t0 = time.perf_counter()
        body = urllib.request.urlopen(base + "/maps/city", timeout=600).read()
        if i:
            fetch.append(time.perf_counter() - t0)
        else:
            cold = time.perf_counter() - t0
        size = len(body)
    gzipped = len(gzip.compress(body, 6))
    drawn, zoom, pan, popup = [], [], [], []
    for i in range(runs + 1):
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(base + "/maps/city", timeout=600_000)
        page.wait_for_function(READY, timeout=600_000, polling=20)
        ready_ms = page.evaluate("performance.now()")
        if errors:
            raise RuntimeError(f"page errors: {errors}")
        if i:
            drawn.append(ready_ms / 1000)
            zoom.append(page.evaluate(ZOOM_JS) / 1000)
            pan.append(page.evaluate(PAN_JS) / 1000)
            if with_popup:
                popup.append(page.evaluate(POPUP_JS) / 1000)
        counts = page.evaluate("Sanichain.counts")
        page.close()
    out: dict[str, Any] = {
        "html_bytes": size,
        "gzip_bytes": gzipped,
        "build_s": cold,
        "cached_s": spread(fetch),
        "drawn_s": spread(drawn),
        "zoom_s": spread(zoom),
        "pan_s": spread(pan),
        "counts": counts,
    }
    if popup:
        out["popup_s"] = spread(popup)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--farms", type=int, default=100_000)
    ap.add_argument("--villages", type=int, default=20_000)
    ap.add_argument("--stations", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--out", default=f"/tmp/sanichain-bench/maps-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    )
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sanichain-maps-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # the cluster runs as postgres when we are root
        from tests.conftest import free_port

        cluster = LocalCluster(work / "pg", free_port())
        cluster.init()
        cluster.start()
        try:
            demo_url = cluster.ensure_database("maps_demo")
            migrate.upgrade(demo_url)
            engine = make_engine(demo_url)
            loader.load(engine, DemoSettings().data_dir)
            engine.dispose()
            say(f"generating {args.farms:,} farms, {args.villages:,} villages, {args.stations:,} stations")
            data = work / "province"
            scale.generate(data, villages=args.villages, farms=args.farms, stations=args.stations)
            province_url = cluster.ensure_database("maps_province")
            migrate.upgrade(province_url)
            scale.load(province_url, data, progress=lambda *_: None)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
                results["chromium"] = browser.version
                for name, url in (("demo", demo_url), ("province", province_url)):
                    say(f"measuring {name}")
                    with service(url) as base:
                        results[name] = measure(base, args.runs, browser, with_popup=True)
                browser.close()
        finally:
            cluster.destroy()

    import folium

    results["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "folium": folium.__version__,
        "assets": {p.name: p.version for p in assets.packages()},
        "farms": args.farms,
        "villages": args.villages,
        "stations": args.stations,
        "runs": args.runs,
    }
    print("| map | HTML (gzip) | target | first request | cached | drawn in Chromium | target | zoom to 12 |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("demo", "province"):
        r, t = results[name], TARGETS[name]
        print(
            f"| {name} ({r['counts'].get('livestock_farms', 0):,} farms) | {r['html_bytes'] / 1e6:.2f} MB "
            f"({r['gzip_bytes'] / 1e6:.2f}) | ≤ {t['mb']} MB | {r['build_s']:.2f} s | "
            f"{fmt(r['cached_s'], 's')} | {fmt(r['drawn_s'], 's')} | "
            f"{'≤ ' + str(t['drawn_s']) + ' s' if t['drawn_s'] else 'interactive'} | "
            f"{fmt(r['zoom_s'], 'ms', 1000)} |"
        )
    print()
    print("| map | pan 400 px | popup opened → content shown |")
    print("|---|---|---|")
    for name in ("demo", "province"):
        r = results[name]
        print(f"| {name} | {fmt(r['pan_s'], 'ms', 1000)} | {fmt(r['popup_s'], 'ms', 1000)} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    say(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
