"""SYNTHETIC road network of the Zhucheng demo, derived from the generated places and facilities.

Village roads form a mesh: the relative neighbourhood graph (RNG) over the town seats, the villages and
the facilities of the chain (transfer stations, plants, manure and biogas centres), i.e. the straight
road between two places exists unless a third place is closer to both of them. The RNG is connected
(it contains the minimum spanning tree), planar (a subgraph of the Delaunay triangulation, so its roads
never cross one another) and its shortest paths are about 1.3-1.4 times the straight line, as rural
road networks are (docs/decisions.md, D53). Main roads follow the mesh: the shortest path between
neighbouring seats (`county`) and from every seat to the city seat (`provincial`). Each large farm
joins its nearest mesh place by an access track (`other`). Roads meet only at shared end points, so the
graph is already noded. Deterministic: no randomness, edges in index order, coordinates as given.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from service.demo import facts

CITY_SEAT_TOWN = "370782001"  # 密州街道: the city's seat
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320 * math.cos(math.radians(36.0))
MESH_FACILITY_LAYERS = ("transfer_stations", "treatment_plants", "manure_centers", "biogas_centers")
CLASS_RANK = {"village": 0, "county": 1, "provincial": 2}  # a road on several routes takes the highest


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    lonlat: tuple[float, float]


def _km(points: list[tuple[float, float]]) -> np.ndarray:
    """Planar km coordinates (local equirectangular), where the straight-line geometry is done."""
    return np.array([(x * KM_PER_DEG_LON, y * KM_PER_DEG_LAT) for x, y in points])


def delaunay_edges(xy: np.ndarray) -> list[tuple[int, int]]:
    """Edges (i < j) of the Delaunay triangulation of the points, sorted."""
    index = {p: i for i, p in enumerate(map(tuple, xy.tolist()))}
    if len(index) != len(xy):
        raise ValueError("two places share a position")
    lines = shapely.get_parts(shapely.delaunay_triangles(shapely.multipoints(xy), only_edges=True))
    edges = set()
    for line in lines:
        a, b = (index[tuple(p)] for p in shapely.get_coordinates(line).tolist())
        edges.add((min(a, b), max(a, b)))
    return sorted(edges)


def relative_neighbourhood_edges(xy: np.ndarray) -> list[tuple[int, int]]:
    """Delaunay edges (i, j) with no third point k closer to both ends than they are to each other."""
    edges = np.array(delaunay_edges(xy))
    i, j = edges.T
    length = np.hypot(*(xy[i] - xy[j]).T)
    # candidates k: the points within `length` of i (the lune lies inside that disc)
    points = shapely.points(xy)
    e, k = shapely.STRtree(points).query(points[i], predicate="dwithin", distance=length)
    inside = (k != i[e]) & (k != j[e])
    inside &= np.maximum(np.hypot(*(xy[k] - xy[i[e]]).T), np.hypot(*(xy[k] - xy[j[e]]).T)) < length[e]
    blocked = np.zeros(len(edges), dtype=bool)
    blocked[e[inside]] = True
    return [(int(a), int(b)) for a, b in edges[~blocked]]


def shortest_path_trees(xy: np.ndarray, edges: list[tuple[int, int]], sources: range) -> list[list[int]]:
    """Dijkstra from each source over straight edge lengths: each point's predecessor (-1 at the root)."""
    adjacent: list[list[tuple[int, float]]] = [[] for _ in range(len(xy))]
    for i, j in edges:
        w = math.dist(xy[i], xy[j])
        adjacent[i].append((j, w))
        adjacent[j].append((i, w))
    trees = []
    for source in sources:
        dist = [math.inf] * len(xy)
        prev = [-1] * len(xy)
        dist[source] = 0.0
        heap = [(0.0, source)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            for v, w in adjacent[u]:
                if d + w < dist[v]:
                    dist[v], prev[v] = d + w, u
                    heapq.heappush(heap, (d + w, v))
        trees.append(prev)
    return trees


def _path_edges(prev: list[int], target: int) -> list[tuple[int, int]]:
    edges = []
    while prev[target] >= 0:
        edges.append((min(target, prev[target]), max(target, prev[target])))
        target = prev[target]
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


def mesh_places(layers: dict[str, list[dict[str, Any]]]) -> list[Place]:
    """Town seats first (in the towns layer's order), then villages, then facilities of the chain."""
    seats = {t.code: t for t in facts.TOWNS}
    places = [
        Place(
            t["properties"]["code"], seats[t["properties"]["code"]].name, seats[t["properties"]["code"]].seat
        )
        for t in layers["towns"]
    ]
    for layer in ("villages", *MESH_FACILITY_LAYERS):
        for f in layers[layer]:
            p = f["properties"]
            places.append(Place(p["code"], p["name"], tuple(f["geometry"]["coordinates"])))
    return places


def main_routes(
    xy: np.ndarray, edges: list[tuple[int, int]], places: list[Place], seats: int
) -> dict[tuple[int, int], tuple[str, str]]:
    """Mesh edge → (class, name) of the main road it carries, for the edges on a main road."""
    city = next(i for i in range(seats) if places[i].code == CITY_SEAT_TOWN)
    trees = shortest_path_trees(xy, edges, range(seats))
    routes = []
    neighbours = delaunay_edges(xy[:seats])  # seats adjacent on the map
    for i, j in neighbours:
        routes.append(("county", f"{places[i].name}—{places[j].name}公路", _path_edges(trees[i], j)))
    for i in range(seats):
        if i != city:
            routes.append(("provincial", f"{places[i].name}—城区公路", _path_edges(trees[city], i)))
    carried: dict[tuple[int, int], tuple[str, str]] = {}
    for road_class, name, path in routes:
        for e in path:
            if e not in carried or CLASS_RANK[road_class] > CLASS_RANK[carried[e][0]]:
                carried[e] = (road_class, name)
    return carried


def road_features(layers: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    places = mesh_places(layers)
    xy = _km([p.lonlat for p in places])
    edges = relative_neighbourhood_edges(xy)
    carried = main_routes(xy, edges, places, len(layers["towns"]))
    roads = []
    for k, (i, j) in enumerate(edges, start=1):
        road_class, name = carried.get((i, j), ("village", f"{places[i].name}—{places[j].name}"))
        roads.append(_road(f"RD-{k:05d}", name, road_class, places[i].lonlat, places[j].lonlat))
    # farms: an access track to the nearest mesh place
    for f in layers["livestock_farms"]:
        p = f["properties"]
        lonlat = tuple(f["geometry"]["coordinates"])
        nearest = int(np.argmin(np.hypot(*(xy - _km([lonlat])[0]).T)))
        roads.append(_road(f"RD-{p['code']}", f"{p['name']}进场路", "other", lonlat, places[nearest].lonlat))
    return roads
