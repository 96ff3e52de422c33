"""The road network as a routing graph: its edges for pgRouting, and how a point joins it.

A point (facility, village, farm) joins the network at its nearest road node, if that node lies within
`snap_m` (geodesic); beyond it the point is off the road network. The network distance between two
nodes is pgRouting's shortest path over `road_segments.cost` (geodesic metres, both directions).
"""

from __future__ import annotations

DEFAULT_SNAP_M = 1000.0
MAX_SNAP_M = 10_000.0
EDGES_SQL = "SELECT id, source, target, cost, cost AS reverse_cost FROM road_segments"


def nearest_node_sql(points: str) -> str:
    """(id, node, leg_m) for each row of `points` (id, geom) whose nearest road node is within :snap.

    The index orders a few candidates by planar distance; the geodesic distance picks among them.
    """
    return f"""
        SELECT p.id, n.node, n.leg_m
        FROM ({points}) p CROSS JOIN LATERAL (
            SELECT c.id AS node, ST_Distance(c.geom::geography, p.geom::geography) AS leg_m
            FROM (SELECT id, geom FROM road_nodes ORDER BY geom <-> p.geom LIMIT 4) c
            ORDER BY 2, 1 LIMIT 1
        ) n
        WHERE n.leg_m <= :snap"""
