"""Benchmark of the map pages in headless Chromium, next to the targets of the maps issue.

    .venv/bin/python bench/maps.py                      # demo city + a province with 100,000 farms
    .venv/bin/python bench/maps.py --farms 20000 --runs 1   # a quick smoke run

A throwaway PostgreSQL cluster (or --server-url, a role with CREATEDB) holds two databases: the Zhucheng
demo, and the synthetic national-scale generator's set (`service.synthetic.national_scale`, an 8°×4°
box: a province) with --farms farms, --villages villages and --stations stations. For each, the real
service (`sanichain serve`, basemap 'none' so that no tile is fetched) and Debian's Chromium
(Playwright, headless):

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
import gzip
import sys
import urllib.request
from pathlib import Path
from typing import Any

import harness

from service.config import DemoSettings
from service.db import make_engine
from service.demo import loader
from service.maps import assets
from service.synthetic import national_scale as scale

CHROMIUM = "/usr/bin/chromium"
READY = "window.Sanichain && Sanichain.ready === true"
TARGETS: dict[str, dict[str, float | None]] = {
    "demo": {"mb": 1.5, "drawn_s": 2.0},
    "province": {"mb": 5.0, "drawn_s": None},
}
DATABASES = {"demo": "maps_demo", "province": "maps_province"}

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


def measure(base: str, runs: int, browser: Any, with_popup: bool) -> dict[str, Any]:
    # The first request builds the page (chain computation, queries, rendering); later ones reuse it
    # until the inventory changes. Both are reported.
    fetch = harness.timed(lambda: urllib.request.urlopen(base + "/maps/city", timeout=600).read(), runs)
    body = fetch.result
    size, gzipped = len(body), len(gzip.compress(body, 6))
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
        "build_s": fetch.warmup_s,
        "cached_s": fetch.spread,
        "drawn_s": harness.spread(drawn),
        "zoom_s": harness.spread(zoom),
        "pan_s": harness.spread(pan),
        "counts": counts,
    }
    if popup:
        out["popup_s"] = harness.spread(popup)
    return out


def load(server: harness.Server, args: argparse.Namespace, work: Path) -> dict[str, str]:
    """The demo and the province, each in a migrated database of its own: their URLs."""
    urls = {name: server.recreate(database) for name, database in DATABASES.items()}
    engine = make_engine(urls["demo"])
    loader.load(engine, DemoSettings().data_dir)
    engine.dispose()
    harness.say(f"generating {args.farms:,} farms, {args.villages:,} villages, {args.stations:,} stations")
    data = work / "province"
    scale.generate(data, args.villages, args.farms, args.stations, args.seed)
    scale.load(urls["province"], data, progress=lambda *_: None)
    return urls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.dataset_options(ap, villages=20_000, farms=100_000, stations=200)
    ap.add_argument("--runs", type=int, default=3)
    harness.server_option(ap, *DATABASES.values())
    ap.add_argument("--out", default=str(harness.default_out("maps")))
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    harness.stop_on_sigterm()
    results: dict[str, Any] = {}
    with (
        harness.workdir("sanichain-maps-bench-") as work,
        harness.postgres(work, args.server_url, drop=list(DATABASES.values()), settings=()) as server,
    ):
        urls = load(server, args, work)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            results["chromium"] = browser.version
            for name, url in urls.items():
                harness.say(f"measuring {name}")
                # basemap 'none': no tile is fetched, the figures are the page's own
                with harness.served(
                    url, work / f"serve-{name}.log", {"SANICHAIN_BASEMAP": "none"}
                ) as service:
                    results[name] = measure(service.base, args.runs, browser, with_popup=True)
            browser.close()

    import folium

    host = harness.host()
    results["machine"] = {
        "cpu": host["cpu_model"],
        "cores": host["nproc"],
        "python": host["python"],
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
            f"{harness.fmt(r['cached_s'], 's')} | {harness.fmt(r['drawn_s'], 's')} | "
            f"{'≤ ' + str(t['drawn_s']) + ' s' if t['drawn_s'] else 'interactive'} | "
            f"{harness.fmt(r['zoom_s'], 'ms', 1000)} |"
        )
    print()
    print("| map | pan 400 px | popup opened → content shown |")
    print("|---|---|---|")
    for name in ("demo", "province"):
        r = results[name]
        print(f"| {name} | {harness.fmt(r['pan_s'], 'ms', 1000)} | {harness.fmt(r['popup_s'], 'ms', 1000)} |")
    out = Path(args.out)
    harness.write_json(out, results)
    harness.say(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
