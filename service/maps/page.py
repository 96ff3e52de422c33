"""A map page: a Folium map with our own assets, a configurable basemap, layers drawn from compact rows.

Folium builds the page (map, basemap tile layers, feature groups, the layer control); the features
themselves are drawn by `static/sanichain-map.js` from columnar rows, which keeps a page with tens of
thousands of features small. Folium's default CDN links are dropped: the page links the service's own
asset URLs, or inlines them for an offline file.
"""

from __future__ import annotations

import html
import json
from typing import Any

import folium
from branca.element import Element, MacroElement
from folium.plugins import MarkerCluster
from folium.template import Template

from service import navigation
from service.config import MapSettings
from service.maps import assets, style
from service.maps.i18n import Lang, words

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
# Tianditu's Web-Mercator ("_w") WMTS: CGCS2000 coordinates, which differ from WGS84 by centimetres.
TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
)
TIANDITU_ATTRIBUTION = '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a>'
ZHUCHENG = (35.99, 119.41)  # where the map opens before it fits the data


def compact_json(value: Any) -> str:
    """JSON for a <script>: no spaces, Chinese kept as is, nothing that could end the script."""
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


class _Call(MacroElement):
    """`Sanichain.<kind>(<parent layer>, <spec>)` in the page script."""

    _template = Template(
        "{% macro script(this, kwargs) %}Sanichain.{{ this.kind }}({{ this._parent.get_name() }}, "
        "{{ this.spec }});\n{% endmacro %}"
    )

    def __init__(self, kind: str, spec: dict[str, Any] | str):
        super().__init__()
        self.kind = kind
        self.spec = spec if isinstance(spec, str) else compact_json(spec)


class _Script(MacroElement):
    _template = Template("{% macro script(this, kwargs) %}{{ this.code }}\n{% endmacro %}")

    def __init__(self, code: str):
        super().__init__()
        self.code = code


class _Cluster(MarkerCluster):
    """Leaflet.markercluster with the service's own copy of the plugin (linked once by the page)."""

    default_js = []  # noqa: RUF012  # (Folium's own attribute names)
    default_css = []  # noqa: RUF012


def _basemap(m: folium.Map, settings: MapSettings) -> None:
    if settings.basemap == "osm":
        folium.TileLayer(OSM_URL, attr=OSM_ATTRIBUTION, name="OpenStreetMap", max_zoom=19).add_to(m)
    elif settings.basemap == "tianditu":
        for layer, overlay in (("vec", False), ("cva", True)):
            folium.TileLayer(
                TIANDITU_URL.replace("{layer}", layer).replace("{key}", settings.tianditu_key or ""),
                attr=TIANDITU_ATTRIBUTION,
                name="天地图" if layer == "vec" else "天地图注记",
                subdomains="01234567",
                max_zoom=18,
                overlay=overlay,
                control=False,
            ).add_to(m)
    elif settings.basemap == "custom":
        folium.TileLayer(
            settings.tile_url, attr=settings.tile_attribution or " ", name="basemap", max_zoom=19
        ).add_to(m)


class MapPage:
    """One map page under construction; `render()` gives the HTML."""

    def __init__(self, title: str, lang: Lang, settings: MapSettings, base_url: str = ""):
        self.title = title
        self.lang = lang
        self.words = words(lang)
        self.base_url = base_url.rstrip("/")
        self.map = folium.Map(
            location=ZHUCHENG, zoom_start=10, tiles=None, prefer_canvas=True, control_scale=True
        )
        self.map.options["max_zoom"] = 19  # the cluster plugin needs it, with or without a basemap
        self.map.default_js = []  # Folium's CDN links: replaced by our own assets in render()
        self.map.default_css = []
        self.blank = settings.basemap == "none"
        _basemap(self.map, settings)
        config = {
            "words": self.words,
            "base": self.base_url,
            "lang": lang,
            "inactive": style.INACTIVE,
            "broken": style.BROKEN_FLOW,
        }
        self.map.add_child(_Call("init", compact_json(config)))
        self.legend_rows: list[str] = []
        self.panel_links: list[tuple[str, str]] = []
        self.edit_form: dict[str, Any] | None = None
        self.fit_to: str | None = None  # the group the view fits (the city outline); None: everything

    # -- layers --------------------------------------------------------------------------------
    def group(self, label: str, show: bool = True) -> folium.FeatureGroup:
        group = folium.FeatureGroup(name=label, show=show)
        group.add_to(self.map)
        return group

    def cluster(self, label: str) -> MarkerCluster:
        # chunkedLoading keeps the page responsive while 100,000 markers are added
        group = _Cluster(name=label, options={"chunkedLoading": True, "disableClusteringAtZoom": 15})
        group.add_to(self.map)
        return group

    def draw(self, group: MacroElement, kind: str, spec: dict[str, Any]) -> None:
        group.add_child(_Call(kind, spec))

    def editable(self, form: dict[str, Any]) -> None:
        """Offer the edit form (service.maps.editing) to signed-in editors; never in an offline file."""
        self.edit_form = form

    # -- controls ------------------------------------------------------------------------------
    def legend(self, row_html: str, first: bool = False) -> None:
        """A row of the legend panel; `first`: above the others (what the reader must see at once)."""
        if first:
            self.legend_rows.insert(0, row_html)
        else:
            self.legend_rows.append(row_html)

    def link(self, key: str, path: str) -> None:
        self.panel_links.append((self.words.get(key, key), self.base_url + path))

    def _panel_html(self, language_href: str | None, nav: str = "") -> str:
        items = "".join(
            f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>'
            for text, href in self.panel_links
            if not (nav and navigation.covers(href, self.base_url))  # (the navigation links it)
        )
        if language_href:
            items += (
                f'<li><a href="{html.escape(language_href)}">{html.escape(self.words["language"])}</a></li>'
            )
        return (
            f'<details class="sc-fold" open><summary>{html.escape(self.title)}</summary>'
            f'{nav}<ul class="sc-links">{items}</ul></details>'
        )

    def _legend_html(self) -> str:
        return (
            f'<details class="sc-fold" open><summary>{html.escape(self.words["legend"])}</summary>'
            + "".join(self.legend_rows)
            + "</details>"
        )

    # -- output --------------------------------------------------------------------------------
    def render(self, offline: bool = False, language_href: str | None = None) -> str:
        m = self.map
        folium.LayerControl(collapsed=True, position="topright").add_to(m)
        # Panel and legend are plain HTML in the body (their links are there even without the
        # script); the script moves them into map controls.
        figure = m.get_root()
        # search, town picker, links, problem count: they need the service, so not in an offline file
        nav = "" if offline else navigation.nav_html(self.base_url, self.lang, on_map=True)
        figure.html.add_child(  # type: ignore[attr-defined]
            Element(
                f'<div id="sc-panel" hidden>{self._panel_html(language_href, nav)}</div>'
                f'<div id="sc-legend" hidden>{self._legend_html()}</div>'
            ),
            name="sanichain_panels",
        )
        controls = f"Sanichain.control({m.get_name()}, 'sc-panel', 'topleft');"
        controls += f"Sanichain.control({m.get_name()}, 'sc-legend', 'bottomright');"
        if self.blank:
            controls += f"{m.get_name()}.getContainer().classList.add('sc-blank');"
        controls += f"Sanichain.fit({m.get_name()}, {compact_json(self.fit_to)});"
        figure.title = html.escape(self.title)  # type: ignore[attr-defined]  # (names come from the data)
        figure.header.add_child(  # type: ignore[attr-defined]
            # data:, icon: no favicon request (offline, nothing may be asked for but basemap tiles)
            Element(
                '<link rel="icon" href="data:,">'
                + (assets.inline_tags() if offline else assets.linked_tags())
            ),
            name="sanichain_assets",
        )
        if self.edit_form is not None and not offline:  # (an offline file has no service to save to)
            files = {"js": assets.own_url("sanichain-edit.js"), "css": assets.own_url("sanichain-edit.css")}
            m.add_child(_Call("editor", {**self.edit_form, "assets": files}))
        m.add_child(_Script(controls))  # after the map and its layers in the page script
        page = figure.render()
        lang = "zh-CN" if self.lang == "zh" else "en"
        return page.replace("<html>", f'<html lang="{lang}">', 1)
