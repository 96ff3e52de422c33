"""A PNG of a map page as Chromium draws it (the README's screenshot), palette-reduced to stay small.

    .venv/bin/python scripts/map_screenshot.py http://127.0.0.1:8000/maps/city docs/city-map.png

Run it against a service started with SANICHAIN_BASEMAP=none: the picture then shows only our layers.
"""

from __future__ import annotations

import io
import sys

from PIL import Image
from playwright.sync_api import sync_playwright

READY = "window.Sanichain && Sanichain.ready === true"


def main(url: str, out: str, width: int = 1280, height: int = 800) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url)
        page.wait_for_function(READY, timeout=60_000)
        png = page.screenshot()
        browser.close()
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    image.save(out, optimize=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
