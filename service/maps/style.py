"""Colours and sizes of every map layer: the rules the page script applies and the legend explains."""

from __future__ import annotations

from typing import Any

GREEN, ORANGE, RED, GREY = "#2f9e44", "#f08c00", "#e03131", "#868e96"

# Fill of facilities by utilisation (inflow / capacity): comfortable, near full, overloaded.
UTILISATION: dict[str, Any] = {
    "field": "utilisation",
    "breaks": [0.8, 1.0],
    "colors": [GREEN, ORANGE, RED],
    "none": GREY,
}
# The ring around a facility by its latest inspection; dashed when overdue.
INSPECTION = {
    "field": "last_outcome",
    "values": {"ok": GREEN, "defects": ORANGE, "out_of_service": RED, "never": GREY},
    "none": GREY,
}
GRID_STROKE = "#c2255c"
CONNECTED = {"field": "waste_connected", "values": {"true": GREEN, "false": RED}, "none": GREY}
SERVED = {"field": "served", "values": {"true": GREEN, "false": RED}, "none": GREY}
FARM_FACILITY = {"field": "manure_facility", "values": {"true": GREEN, "false": RED}, "none": GREY}

# A facility, farm or toilet that is not operational (planned, under construction, suspended, closed):
# pale fill and a dashed dark outline whatever its load, so 0 % of a closed plant never reads as
# "under 80 %"; links to or from it are drawn as broken lines, without a direction arrow.
INACTIVE = {"fill": "#e9ecef", "stroke": "#495057", "dash": "4 3"}
BROKEN_FLOW = {"color": "#868e96", "dash": "6 6"}

# Outline colour tells the layer apart; fill tells the state.
LAYER_COLOURS = {
    "towns": "#364fc7",
    "villages": "#495057",
    "collection_points": "#74c0fc",
    "transfer_stations": "#1864ab",
    "treatment_plants": "#000000",
    "manure_centers": "#5f3dc4",
    "biogas_centers": "#862e9c",
    "livestock_farms": "#8d6e63",
    "public_toilets": "#0ca678",
}
STREAM_COLOURS = {"domestic_waste": "#1c7ed6", "fecal_sludge": "#a61e4d", "manure": "#8d6e63"}

# Radius in pixels: min + scale·√value, capped (area grows with the value).
RADIUS = {
    "villages": {"field": "population", "scale": 0.12, "min": 2.5, "max": 12},
    "collection_points": {"fixed": 3},
    "transfer_stations": {"field": "capacity", "scale": 0.9, "min": 5, "max": 18},
    "treatment_plants": {"field": "capacity", "scale": 0.5, "min": 8, "max": 22},
    "manure_centers": {"field": "capacity", "scale": 0.6, "min": 6, "max": 18},
    "biogas_centers": {"field": "capacity", "scale": 0.5, "min": 8, "max": 22},
    "livestock_farms": {"fixed": 5},
    "public_toilets": {"fixed": 4},
}
FLOW_WIDTH = {"scale": 1.2, "min": 1, "max": 12}  # pixels: 1 + 1.2·√(t/day)

# Town shading by an indicator share: light to dark in five steps.
TOWN_SHADES = ["#fff5f0", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"]
TOWN_SHADES_GOOD = ["#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c"]


def town_rule(indicator: str) -> dict[str, Any]:
    """Shares shade from red (low) to green (high); a ratio uses the same steps up to 1."""
    return {
        "field": indicator,
        "breaks": [0.2, 0.4, 0.6, 0.8],
        "colors": TOWN_SHADES_GOOD,
        "none": GREY,
    }


def _swatch(colour: str, shape: str = "", border: str | None = None) -> str:
    style = f"background:{colour}" + (f";border-color:{border}" if border else "")
    return f'<span class="sc-swatch {shape}" style="{style}"></span>'


def inactive_swatch() -> str:
    return (
        f'<span class="sc-swatch sc-inactive" style="background:{INACTIVE["fill"]};'
        f'border-color:{INACTIVE["stroke"]}"></span>'
    )


def broken_line_swatch() -> str:
    return f'<span class="sc-swatch sc-line sc-broken" style="color:{BROKEN_FLOW["color"]}"></span>'


def legend_swatch_row(swatch_html: str, text: str) -> str:
    return f'<div class="sc-legend-row">{swatch_html}<span>{text}</span></div>'


def legend_row(colour: str, text: str, shape: str = "", border: str | None = None) -> str:
    return f'<div class="sc-legend-row">{_swatch(colour, shape, border)}<span>{text}</span></div>'
