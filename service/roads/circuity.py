"""Detour index (circuity) of the loaded road network: road distance / geodesic distance.

Measured from each village to its geodesically nearest facility of a layer, the trip coverage asks
about. Both ends join the network as in `graph` (nearest road node within `snap_m`, access legs
counted); the network part is pgRouting's `pgr_dijkstraCost` over the same edges.
"""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy import Connection, text

from service.models import FACILITY_LAYERS
from service.roads import graph

TRIPS_SQL = """
    CREATE TEMP TABLE circuity_trip ON COMMIT DROP AS
    WITH pair AS (
        SELECT v.id, v.code, f.id AS facility_id, f.geodesic_m
        FROM villages v CROSS JOIN LATERAL (
            SELECT c.id, ST_Distance(c.geom::geography, v.geom::geography) AS geodesic_m
            FROM (SELECT id, geom FROM {layer} ORDER BY geom <-> v.geom LIMIT 4) c
            ORDER BY 2, 1 LIMIT 1
        ) f
        WHERE f.geodesic_m > 0
    ),
    v AS ({villages_snapped}),
    f AS ({facilities_snapped})
    SELECT p.code, p.geodesic_m, v.node AS v_node, f.node AS f_node, v.leg_m + f.leg_m AS legs_m
    FROM pair p JOIN v ON v.id = p.id JOIN f ON f.id = p.facility_id
"""
COMBINATIONS_SQL = (
    "SELECT DISTINCT f_node AS source, v_node AS target FROM circuity_trip WHERE f_node <> v_node"
)
DETOURS_SQL = """
    SELECT t.code, t.geodesic_m, t.legs_m + coalesce(n.agg_cost, 0) AS road_m
    FROM circuity_trip t LEFT JOIN pgr_dijkstraCost(
        :edges, :combinations, directed => false) n ON n.start_vid = t.f_node AND n.end_vid = t.v_node
    WHERE t.v_node = t.f_node OR n.agg_cost IS NOT NULL
    ORDER BY t.code
"""


def village_detours(
    conn: Connection, layer: str, snap_m: float = graph.DEFAULT_SNAP_M
) -> list[dict[str, Any]]:
    """Per village on the network: code, geodesic and road metres to its nearest facility of `layer`.

    A pair is left out when either end is off the network or no road joins them.
    """
    if layer not in FACILITY_LAYERS:
        raise ValueError(f"layer: {layer!r} is not a facility layer ({', '.join(FACILITY_LAYERS)})")
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.circuity_trip"))
    trips = TRIPS_SQL.format(
        layer=layer,
        villages_snapped=graph.nearest_node_sql("SELECT id, geom FROM villages"),
        facilities_snapped=graph.nearest_node_sql(f"SELECT id, geom FROM {layer}"),
    )
    conn.execute(text(trips), {"snap": snap_m})
    rows = conn.execute(text(DETOURS_SQL), {"edges": graph.EDGES_SQL, "combinations": COMBINATIONS_SQL})
    return [dict(r) for r in rows.mappings()]


def summary(detours: list[dict[str, Any]]) -> dict[str, Any]:
    """Pairs, median/mean detour index and its 10th and 90th percentiles."""
    ratios = sorted(d["road_m"] / d["geodesic_m"] for d in detours)
    if not ratios:
        return {"pairs": 0}
    deciles = statistics.quantiles(ratios, n=10, method="inclusive")
    return {
        "pairs": len(ratios),
        "median": round(statistics.median(ratios), 3),
        "mean": round(statistics.fmean(ratios), 3),
        "p10": round(deciles[0], 3),
        "p90": round(deciles[-1], 3),
    }
