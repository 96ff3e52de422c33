"""The JavaScript and CSS a map page needs, from packaged dependencies, never from a CDN.

Leaflet and Leaflet.markercluster come from their XStatic packages on PyPI (installed with the service);
the map's own script and style live in `service/maps/static/`. A page either links them under
`/maps/assets/{package}/{version}/{file}` (served by the service, cacheable forever because the version
is in the path) or inlines them, images included, for a self-contained offline file.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import xstatic.pkg.leaflet as xs_leaflet
import xstatic.pkg.leaflet_markercluster as xs_markercluster

STATIC_DIR = Path(__file__).resolve().parent / "static"
URL_PREFIX = "/maps/assets"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    root: Path
    css: tuple[str, ...]
    js: tuple[str, ...]


def _own_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def packages() -> tuple[Package, ...]:
    """In load order: Leaflet, then the cluster plugin, then the map's own code."""
    return (
        Package("leaflet", xs_leaflet.VERSION, Path(xs_leaflet.BASE_DIR), ("leaflet.css",), ("leaflet.js",)),
        Package(
            "markercluster",
            xs_markercluster.VERSION,
            Path(xs_markercluster.BASE_DIR),
            ("MarkerCluster.css", "MarkerCluster.Default.css"),
            ("leaflet.markercluster.js",),
        ),
        Package("sanichain", _own_version(), STATIC_DIR, ("sanichain-map.css",), ("sanichain-map.js",)),
    )


def _package(name: str) -> Package | None:
    return next((p for p in packages() if p.name == name), None)


def url(package: Package, file: str) -> str:
    return f"{URL_PREFIX}/{package.name}/{package.version}/{file}"


def own_url(file: str) -> str:
    """A file of `static/` that pages do not link (the edit form's, loaded by the script for editors)."""
    own = _package("sanichain")
    assert own is not None
    return url(own, file)


def resolve(name: str, version: str, file: str) -> Path | None:
    """The file behind an asset URL, or None (unknown package, stale version, or outside its folder)."""
    package = _package(name)
    if package is None or version != package.version:
        return None
    path = (package.root / file).resolve()
    if not path.is_file() or package.root.resolve() not in path.parents:
        return None
    return path


def media_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def linked_tags() -> str:
    """<link>/<script> tags pointing at the service's own asset URLs."""
    css = "".join(f'<link rel="stylesheet" href="{url(p, f)}"/>' for p in packages() for f in p.css)
    js = "".join(f'<script src="{url(p, f)}"></script>' for p in packages() for f in p.js)
    return css + js


_CSS_URL = re.compile(r"url\((['\"]?)([^'\")]+)\1\)")


def _inline_css(package: Package, file: str) -> str:
    """The stylesheet with every relative url(...) replaced by a data: URI."""
    css = (package.root / file).read_text("utf-8")
    base = (package.root / file).parent

    def data_uri(match: re.Match[str]) -> str:
        ref = match.group(2)
        if ref.startswith(("data:", "http:", "https:", "#")):
            return match.group(0)
        target = (base / ref).resolve()
        payload = base64.b64encode(target.read_bytes()).decode("ascii")
        return f'url("data:{media_type(target)};base64,{payload}")'

    return _CSS_URL.sub(data_uri, css)


@cache
def inline_tags() -> str:
    """Every stylesheet and script inlined: the page needs nothing but basemap tiles."""
    css = "".join(f"<style>{_inline_css(p, f)}</style>" for p in packages() for f in p.css)
    # "</script" inside a script would end it early; none of these contain it, but be safe.
    js = "".join(
        "<script>" + (p.root / f).read_text("utf-8").replace("</script", "<\\/script") + "</script>"
        for p in packages()
        for f in p.js
    )
    return css + js
