"""SYNTHETIC road network of the Zhucheng demo, derived from the generated towns and villages.

Within each town a road tree joins the town seat and every village (the minimum spanning tree over
straight-line distances, so its roads never cross one another); between towns, the spanning tree of
the seats ("county" roads) plus a road from every seat to the city seat ("provincial"). Roads meet
only at shared end points (seats, villages), so the graph is connected and already noded; where roads
of different trees cross without a shared point they pass over each other. Deterministic: no
randomness, coordinates rounded like every other layer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from service.demo import facts

CITY_SEAT_TOWN = "370782001"  # 密州街道: the city's seat
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320 * math.cos(math.radians(36.0))


def spanning_tree(points: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Prim's minimum spanning tree over planar km distances; edges (parent, child), from point 0."""
    xy = np.array([(x * KM_PER_DEG_LON, y * KM_PER_DEG_LAT) for x, y in points])
    n = len(points)
    inside = np.zeros(n, dtype=bool)
    inside[0] = True
    best = np.hypot(*(xy - xy[0]).T)
    parent = np.zeros(n, dtype=int)
    edges = []
    for _ in range(n - 1):
        candidates = np.where(inside, np.inf, best)
        child = int(np.argmin(candidates))
        edges.append((int(parent[child]), child))
        inside[child] = True
        d = np.hypot(*(xy - xy[child]).T)
        closer = ~inside & (d < best)
        best[closer] = d[closer]
        parent[closer] = child
    return edges


def _road(
    code: str, name: str, road_class: str, a: tuple[float, float], b: tuple[float, float]
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": code,
        "geometry": {"type": "LineString", "coordinates": [list(a), list(b)]},
        "properties": {"code": code, "name": name, "class": road_class},
    }


def road_features(layers: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    seats = {t.code: (t.seat, t.name) for t in facts.TOWNS}
    roads = []
    codes = [t["properties"]["code"] for t in layers["towns"]]
    seat_points = [seats[c][0] for c in codes]
    linked = set()
    for k, (i, j) in enumerate(spanning_tree(seat_points), start=1):
        a, b = sorted((codes[i], codes[j]))
        linked.add((a, b))
        roads.append(
            _road(f"RD-C{k:02d}", f"{seats[a][1]}—{seats[b][1]}公路", "county", seats[a][0], seats[b][0])
        )
    k = 0
    for code in codes:
        pair = tuple(sorted((code, CITY_SEAT_TOWN)))
        if code == CITY_SEAT_TOWN or pair in linked:
            continue
        k += 1
        name = f"{seats[code][1]}—城区公路"
        roads.append(_road(f"RD-P{k:02d}", name, "provincial", seats[code][0], seats[CITY_SEAT_TOWN][0]))
    for code in codes:
        villages = sorted(
            (v for v in layers["villages"] if v["properties"]["town_code"] == code),
            key=lambda v: v["properties"]["code"],
        )
        points = [seats[code][0]] + [tuple(v["geometry"]["coordinates"]) for v in villages]
        names = [seats[code][1]] + [v["properties"]["name"] for v in villages]
        for k, (i, j) in enumerate(spanning_tree(points), start=1):
            roads.append(
                _road(f"RD-{code}-{k:03d}", f"{names[i]}—{names[j]}", "village", points[i], points[j])
            )
    return roads
