"""The coverage map: served and unserved villages and farms, each facility's reach, the gap areas.

Reads everything through the coverage entry point (`service.coverage.computation`): one computation
per page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from service import names
from service.coverage import query as cov
from service.coverage.computation import Coverage, computed
from service.maps import layers, map_rows, style
from service.maps.city import MapRequest, blank_page
from service.maps.map_rows import LayerRows

if TYPE_CHECKING:
    from service.maps.page import MapPage

GAP_LIMIT = 10_000


def _road_areas(found: Coverage, layers: tuple[str, ...]) -> list[dict[str, Any]]:
    """Road mode's service areas (hulls of the road nodes within reach) as features to draw, each with
    its layer and feature id (several layers number their facilities id × 16 + the layer's place);
    geodesic mode draws its discs as plain circles instead."""
    areas = []
    for f in found.road_service_areas():
        key = int(f["id"][5:])
        layer, feature_id = layers[0], key
        if len(layers) > 1 and key > 0:
            layer, feature_id = layers[key % 16], key // 16
        areas.append(
            {"geometry": f["geometry"], "properties": {**f["properties"], "id": feature_id, "layer": layer}}
        )
    return areas


def _facilities(found: list[dict[str, Any]], distance: float) -> LayerRows:
    fields = [
        "id",
        "layer",
        "code",
        "name",
        "lat",
        "lon",
        "hypothetical",
        "villages_served",
        "population_served",
        "farms_served",
    ]
    d = map_rows.COORD_DECIMALS
    rows = [
        [
            f["id"],
            f["layer"],
            f["code"],
            f["name"],
            round(f["lat"], d),
            round(f["lon"], d),
            f["hypothetical"],
            f["villages_served"],
            f["population_served"],
            f["farms_served"],
        ]
        for f in found
    ]
    return LayerRows([*fields, "reach_m"], [[*r, distance] for r in rows])


def _by_layer(facilities: LayerRows, layers: tuple[str, ...]) -> dict[str, LayerRows]:
    """The facilities of each serving layer (a hypothetical site counts under the first)."""
    at = facilities.fields.index("layer")
    return {
        name: LayerRows(facilities.fields, [r for r in facilities.rows if r[at] == name]) for name in layers
    }


def _gap_clusters(found: dict[str, Any]) -> LayerRows:
    d = map_rows.COORD_DECIMALS
    return LayerRows(
        ["rank", "name", "lat", "lon", "villages_count", "population", "farms_count", "pig_equivalents"],
        [
            [
                c["rank"],
                f"#{c['rank']}",
                round(c["lat"], d),
                round(c["lon"], d),
                c["villages"],
                c["population"],
                c["farms"],
                round(c["pig_equivalents"], 1),
            ]
            for c in found["clusters"]
        ],
    )


def _in_english(conn: Connection, facilities: LayerRows, farms: LayerRows) -> None:
    """The facilities' and farms' English names where they have one (villages have none)."""
    for layer, rows in ((None, facilities), ("livestock_farms", farms)):
        f = {name: i for i, name in enumerate(rows.fields)}
        keys = [(layer or r[f["layer"]], r[f["id"]]) for r in rows.rows]
        english = names.english_names(conn, keys)
        for key, r in zip(keys, rows.rows, strict=True):
            r[f["name"]] = english.get(key, r[f["name"]])


def coverage_page(
    engine: Engine, query: cov.CoverageQuery, cluster_radius_m: float | None, req: MapRequest
) -> MapPage:
    """CoverageError / ValueError for parameters the coverage functions refuse."""
    with computed(engine, query) as coverage:
        distance, road = coverage.distance_m, coverage.road
        villages, farms = coverage.subject_layers(map_rows.read_layer, map_rows.LATLON.format(a="g"))
        areas = _road_areas(coverage, query.layers) if road else []
        facilities = _facilities(coverage.summary(cov.SUBJECTS)["facilities"], distance)
        found = coverage.gaps(cluster_radius_m, GAP_LIMIT)
        if req.lang == "en":
            _in_english(coverage.conn, facilities, farms)
    page = blank_page(req)
    w = page.words
    served_by = query.layers  # several: served by any of them
    page.title = w["title_coverage_road" if road else "title_coverage"].format(
        layer=w["layers_joiner"].join(w[name] for name in served_by), distance=f"{distance:,.0f}"
    )
    by_layer = _by_layer(facilities, served_by)
    reach = page.group(w["service_areas"])
    for name in served_by:
        colour = style.LAYER_COLOURS[name]
        if road:  # what the roads reach within the distance: a hull per facility, not a circle
            page.draw(
                reach,
                "areas",
                {
                    "key": "service_areas",
                    "layer": name,
                    "features": [a for a in areas if a["properties"]["layer"] == name],
                    "color": {"fixed": colour},
                    "opacity": 0.08,
                    "popup": ["code", "distance_m"],
                    "title": "service_areas",
                },
            )
        else:
            page.draw(
                reach,
                "circles",
                {
                    "key": "service_areas",
                    **by_layer[name].as_json(),
                    "color": colour,
                    "popup": ["code", "reach_m"],
                    "title": "service_areas",
                    "layer": name,
                },
            )
        label = w["legend_reach"] + ("" if len(served_by) == 1 else f" · {w[name]}")
        page.legend(style.legend_row(colour, label, "sc-square"))
    served_spec = {"color": style.SERVED, "popup": ["code", "served", "nearest_m"], "own_map": True}
    page.draw(
        page.group(w["villages"]),
        "points",
        {
            "layer": "villages",
            **villages.as_json(),
            **served_spec,
            "radius": style.RADIUS["villages"],
            "popup": ["code", "population", "served", "nearest_m"],
            "weight": 0.5,
        },
    )
    page.draw(
        page.cluster(w["livestock_farms"]),
        "points",
        {
            "layer": "livestock_farms",
            **farms.as_json(),
            **served_spec,
            "radius": style.RADIUS["livestock_farms"],
            "popup": ["species", "pig_equivalents", "served", "nearest_m"],
        },
    )
    page.legend(style.legend_row(style.GREEN, w["legend_served"]))
    page.legend(layers.cluster_legend(w["legend_served_clusters"]))
    for name in served_by:
        page.draw(
            page.group(w[name]),
            "points",
            {
                "layer": name,
                **by_layer[name].as_json(),
                "color": {"fixed": style.LAYER_COLOURS[name]},
                "radius": {"fixed": 5},
                "popup": ["code", "villages_served", "population_served", "farms_served"],
                "own_map": True,
            },
        )
    page.draw(
        page.group(w["gap_clusters"]),
        "points",
        {
            "layer": "gap_clusters",
            **_gap_clusters(found).as_json(),
            "color": {"fixed": style.RED},
            "radius": {"field": "population", "scale": 0.08, "min": 6, "max": 24},
            "opacity": 0.35,
            "popup": ["rank", "villages_count", "population", "farms_count", "pig_equivalents"],
            "record": False,
        },
    )
    page.legend(style.legend_row(style.RED, w["legend_gaps"]))
    layers.standard_links(page)
    return page
