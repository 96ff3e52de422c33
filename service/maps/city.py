"""The city map (every layer of the chain) and a town's map (the same, limited to one town)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text

from service.chain.computation import computed, find_town
from service.config import MapSettings
from service.errors import BadParameter
from service.maps import editing, layers, map_rows
from service.maps.i18n import Lang

if TYPE_CHECKING:
    from service.maps.page import MapPage

# Past this many village/farm links the lines would outweigh the rest of the page: only the
# facility-to-facility flows are drawn (the legend says so).
MAX_SOURCE_LINKS = 20_000
INDICATORS = map_rows.TOWN_INDICATORS


@dataclass(frozen=True)
class MapRequest:
    """What every map page is asked for besides its subject."""

    lang: Lang = "zh"
    settings: MapSettings | None = None
    base_url: str = ""
    indicator: str = "waste_connected_share"
    # the facilities to visit with their latest inspection (`inspections.due.rows`), in a town or all;
    # given by the API, which composes the domains (the maps draw, they do not judge what is due)
    visits: Callable[[Connection, int | None], list[dict[str, Any]]] | None = None
    # a facility's latest inspections and, when stopped, what depends on it (`records.facility_summary`)
    inspections: Callable[[Connection, str, int, str], dict[str, Any] | None] | None = None

    def map_settings(self) -> MapSettings:
        return self.settings or MapSettings()


def blank_page(req: MapRequest) -> MapPage:
    """An empty map page for `req`. Folium (with branca, jinja2, requests, xyzservices) is imported by
    the first map asked for, not when the service starts."""
    from service.maps.page import MapPage

    return MapPage("", req.lang, req.map_settings(), req.base_url)


def _city_name(conn: Connection, lang: Lang) -> str:
    row = conn.execute(text("SELECT name, name_en FROM cities ORDER BY id LIMIT 1")).first()
    if row is None:
        return ""
    return str(row.name_en if lang == "en" and row.name_en else row.name)


def _chain_layers(page: MapPage, conn: Connection, req: MapRequest, town_id: int | None) -> None:
    """Towns, flows, villages, facilities, farms and toilets, bottom to top."""
    layers.towns(page, map_rows.towns(conn, town_id), req.indicator)
    layers.grids(page, map_rows.grids(conn, town_id))
    complete = town_id is not None or map_rows.source_link_count(conn) <= MAX_SOURCE_LINKS
    layers.flows(page, map_rows.flows(conn, town_id, with_source_links=complete), complete)
    layers.villages(page, map_rows.villages(conn, town_id))
    # a town's few collection points are shown (its village lines end there); the city's 1,000s are not
    layers.facilities(
        page,
        "collection_points",
        map_rows.facilities(conn, "collection_points", town_id),
        show=town_id is not None,
    )
    layers.farms(page, map_rows.farms(conn, town_id))
    layers.toilets(page, map_rows.toilets(conn, town_id))
    for name in ("transfer_stations", "manure_centers", "biogas_centers", "treatment_plants"):
        layers.facilities(page, name, map_rows.facilities(conn, name, town_id))
    if req.visits is not None:  # rings by the latest inspection, shown from the layer control
        rings = map_rows.inspection_status(req.visits(conn, town_id), dt.datetime.now(dt.UTC))
        layers.inspection_status(page, rings, show=False)
    layers.utilisation_legend(page)
    layers.standard_links(page)


def city_page(engine: Engine, req: MapRequest) -> MapPage:
    return _chain_page(engine, req, None)


def town_page(engine: Engine, code: str, req: MapRequest) -> MapPage:
    """NotFound (UnknownTown) when no town has that code."""
    return _chain_page(engine, req, code)


def _chain_page(engine: Engine, req: MapRequest, town_code: str | None) -> MapPage:
    """The chain's layers over the city, or over one town when a code is given."""
    if req.indicator not in INDICATORS:
        raise BadParameter("indicator", f"{req.indicator!r} is not one of {list(INDICATORS)}")
    with computed(engine) as conn:
        town = find_town(conn, town_code)
        if town is None:
            title, name = "title_city", _city_name(conn, req.lang)
        else:
            local = town["name_en"] if req.lang == "en" and town["name_en"] else town["name"]
            title, name = "title_town", local
        page = blank_page(req)
        page.title = page.words[title].format(name=name)
        _chain_layers(page, conn, req, None if town is None else town["id"])
        # the city fills the screen; a town's view takes in the facilities its flows reach
        page.fit_to = "towns" if town is None else None
    page.editable(editing.popup_links())
    return page
