"""The coverage map: served and unserved villages and farms, each facility's reach, the gap areas.

Reads only the public parts of `service.coverage` (prepare, its cov_* views, summary, service_areas_sql,
gaps.find).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Engine, text

from service.coverage import gaps
from service.coverage import query as cov
from service.maps import layers, map_rows, style
from service.maps.city import MapRequest
from service.maps.map_rows import LayerRows
from service.maps.page import MapPage

GAP_LIMIT = 10_000


def _subjects(conn: Connection) -> tuple[LayerRows, LayerRows]:
    """Villages and farms with `served` and the distance to the nearest facility, from the coverage
    computation's own views."""
    villages = map_rows.read_layer(
        conn,
        f"""SELECT v.id, g.code, g.name, {map_rows.LATLON.format(a="g")}, v.population, v.served,
                   round(v.nearest_m::numeric, 1) AS nearest_m
            FROM cov_village v JOIN villages g ON g.id = v.id ORDER BY v.id""",
    )
    farms = map_rows.read_layer(
        conn,
        f"""SELECT f.id, g.code, g.name, {map_rows.LATLON.format(a="g")}, g.species,
                   round(f.pig_equivalents::numeric, 1) AS pig_equivalents, f.served,
                   round(f.nearest_m::numeric, 1) AS nearest_m
            FROM cov_farm f JOIN livestock_farms g ON g.id = f.id ORDER BY f.id""",
    )
    return villages, farms


def _road_areas(conn: Connection, distance: float) -> list[dict[str, Any]]:
    """Road mode's service areas (hulls of the road nodes within reach) as features to draw; geodesic
    mode draws its discs as plain circles instead."""
    areas = []
    for (feature_text,) in conn.execute(text(cov.service_areas_sql(distance, road=True))):
        f = json.loads(feature_text)
        if f["geometry"] is not None:  # a facility off the road network reaches nothing
            areas.append(
                {"geometry": f["geometry"], "properties": {**f["properties"], "id": int(f["id"][5:])}}
            )
    return areas


def _facilities(found: list[dict[str, Any]], distance: float) -> LayerRows:
    fields = [
        "id",
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


def coverage_page(
    engine: Engine, query: cov.CoverageQuery, cluster_radius_m: float | None, req: MapRequest
) -> MapPage:
    """CoverageError / ValueError for parameters the coverage functions refuse."""
    with engine.connect() as conn, conn.begin():
        distance = cov.prepare(conn, query)
        road = query.distance_mode == "road"
        villages, farms = _subjects(conn)
        areas = _road_areas(conn, distance) if road else []
        facilities = _facilities(cov.summary(conn)["facilities"], distance)
        found = gaps.find(conn, cluster_radius_m or distance, GAP_LIMIT)
    page = MapPage("", req.lang, req.map_settings(), req.base_url)
    w = page.words
    page.title = w["title_coverage_road" if road else "title_coverage"].format(
        layer=w[query.layer], distance=f"{distance:,.0f}"
    )
    colour = style.LAYER_COLOURS[query.layer]
    if road:  # what the roads reach within the distance: a hull per facility, not a circle
        page.draw(
            page.group(w["service_areas"]),
            "areas",
            {
                "key": "service_areas",
                "layer": query.layer,
                "features": areas,
                "color": {"fixed": colour},
                "opacity": 0.08,
                "popup": ["code", "distance_m"],
                "title": "service_areas",
            },
        )
    else:
        page.draw(
            page.group(w["service_areas"]),
            "circles",
            {
                "key": "service_areas",
                **facilities.as_json(),
                "color": colour,
                "popup": ["code", "reach_m"],
                "title": "service_areas",
                "layer": query.layer,
            },
        )
    page.legend(style.legend_row(style.LAYER_COLOURS[query.layer], w["legend_reach"], "sc-square"))
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
    page.draw(
        page.group(w[query.layer]),
        "points",
        {
            "layer": query.layer,
            **facilities.as_json(),
            "color": {"fixed": style.LAYER_COLOURS[query.layer]},
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
