"""The demo's responsibility grids: 30 grids over the 39 communities of the built-up area.

DESIGN.md §1: the built-up area (建成区) of the 4 subdistricts/parks holds 39 communities (the 36 urban
ones and 3 rural ones) divided into 30 grids, each with a responsible city leader, a grid-head unit,
assisting units and supervisors. Shapes, names, people and units here are SYNTHETIC: each community's
area is its Voronoi cell within 1.2 km of it and inside its own town; neighbouring communities of one
town are merged, the smallest first, until 30 grids remain. The grids draw from a random generator of
their own, so the other layers of the demo do not change with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Polygon, shape
from shapely.ops import unary_union

from service.demo import facts

INSIDE_TOWN_DEG = 2e-5
REACH_DEG = 0.012  # ≈ 1.2 km around a community: the built-up area it stands for
# SYNTHETIC: the city bureaus that lead or assist a grid
UNITS = (
    "市住房和城乡建设局", "市城市管理局", "市生态环境局", "市农业农村局", "市卫生健康委员会",
    "市市场监督管理局", "市交通运输局", "市水利局", "市商务局", "市民政局", "市教育和体育局",
    "市文化和旅游局", "市自然资源和规划局", "市财政局", "市发展和改革局",
)  # fmt: skip
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "建国志强海涛文华明辉秀兰丽娟国庆晓东春梅立新红霞永刚玉珍学军桂英德胜凤英卫东淑芬"


def _person(rng: np.random.Generator) -> str:
    given = "".join(GIVEN[int(i)] for i in rng.integers(0, len(GIVEN), 2))
    return SURNAMES[int(rng.integers(0, len(SURNAMES)))] + given


def built_up(communities: list[dict[str, Any]], urban_towns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The 36 urban communities and the 3 rural communities of the urban towns nearest to them."""
    urban = [c for c in communities if c["properties"]["kind"] == "urban"]
    core = MultiPoint([shape(c["geometry"]) for c in urban])
    rural = [
        c
        for c in communities
        if c["properties"]["kind"] == "rural" and c["properties"]["town_code"] in urban_towns
    ]
    rural.sort(key=lambda c: (shape(c["geometry"]).distance(core), c["properties"]["code"]))
    chosen = urban + rural[: facts.BUILT_UP_COMMUNITIES - len(urban)]
    assert len(chosen) == facts.BUILT_UP_COMMUNITIES
    return chosen


def _areas(chosen: list[dict[str, Any]], town_shapes: dict[str, Any]) -> list[Any]:
    points = [shape(c["geometry"]) for c in chosen]
    reach = unary_union([p.buffer(REACH_DEG, 16) for p in points])
    cells = list(shapely.voronoi_polygons(MultiPoint(points), extend_to=reach.envelope).geoms)
    areas = []
    for community, point in zip(chosen, points, strict=True):
        cell = next(c for c in cells if c.contains(point))
        # ~2 m inside the town's outline, so that rounding to 6 decimals never crosses into a neighbour
        town = town_shapes[community["properties"]["town_code"]].buffer(-INSIDE_TOWN_DEG)
        areas.append(shapely.set_precision(cell.intersection(reach).intersection(town), 1e-6))
    return areas


def _merged(chosen: list[dict[str, Any]], areas: list[Any]) -> list[tuple[list[int], Any]]:
    """Groups of community indexes and their area: neighbours of one town merged, smallest first."""
    groups: list[tuple[list[int], Any]] = [([i], a) for i, a in enumerate(areas)]
    while len(groups) > facts.URBAN_GRIDS:
        pairs = []
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                ia, ib = groups[a][0][0], groups[b][0][0]
                same_town = chosen[ia]["properties"]["town_code"] == chosen[ib]["properties"]["town_code"]
                if same_town and groups[a][1].buffer(1e-6).intersects(groups[b][1]):
                    pairs.append((groups[a][1].area + groups[b][1].area, a, b))
        _, a, b = min(pairs)
        joined = (groups[a][0] + groups[b][0], unary_union([groups[a][1], groups[b][1]]))
        groups = [g for k, g in enumerate(groups) if k not in (a, b)] + [joined]
    # numbered west to east, then south to north, so the codes read across the map
    groups.sort(key=lambda g: (round(g[1].centroid.x, 3), round(g[1].centroid.y, 3)))
    return groups


def _multipolygon(geom: Any) -> dict[str, Any]:
    parts = (
        [geom]
        if isinstance(geom, Polygon)
        else [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    )
    multi = MultiPolygon(parts)
    return {
        "type": "MultiPolygon",
        "coordinates": [
            [[[round(x, 6), round(y, 6)] for x, y in ring.coords] for ring in (p.exterior, *p.interiors)]
            for p in multi.geoms
        ],
    }


def grid_features(
    layers: dict[str, list[dict[str, Any]]], urban_towns: tuple[str, ...], seed: int
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    town_shapes = {t["properties"]["code"]: shape(t["geometry"]) for t in layers["towns"]}
    chosen = built_up(layers["communities"], urban_towns)
    groups = _merged(chosen, _areas(chosen, town_shapes))
    # 97 assisting units over 30 grids: 3 each, and a fourth for the 7 grids drawn
    base, extra = divmod(facts.GRID_ASSISTING_UNITS, len(groups))
    fourth = set(int(i) for i in rng.choice(len(groups), extra, replace=False))
    supervisors = facts.GRID_SUPERVISORS // len(groups)
    features = []
    for number, (members, area) in enumerate(groups, start=1):
        props = [chosen[i]["properties"] for i in sorted(members)]
        assisting = base + (number - 1 in fourth)
        units = [UNITS[int(i)] for i in rng.choice(len(UNITS), 1 + assisting, replace=False)]
        code = f"WG-{number:02d}"
        features.append(
            {
                "type": "Feature",
                "id": code,
                "geometry": _multipolygon(area),
                "properties": {
                    "code": code,
                    "name": f"第{number}网格（{'、'.join(p['name'] for p in props)}）",
                    "name_en": f"Grid {number}",
                    "town_code": props[0]["town_code"],
                    "community_codes": ",".join(p["code"] for p in props),
                    "responsible_leader": _person(rng),
                    "grid_head_unit": units[0],
                    "assisting_units": ",".join(units[1:]),
                    "supervisors": ",".join(_person(rng) for _ in range(supervisors)),
                    "population": sum(p["population"] or 0 for p in props),
                },
            }
        )
    return features
