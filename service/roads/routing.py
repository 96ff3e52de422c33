"""Distances along the road network with pgRouting, for coverage.

A point (facility, village, farm) joins the network at its nearest road node, if that node lies within
`snap_m` (geodesic); beyond it the point is off the road network: unreachable, and reported. The road
distance between two points is access leg + network distance between their nodes + access leg, the
network distance being pgRouting's shortest path over `road_segments.cost` (geodesic metres, both
directions). `pgr_drivingDistance` from all facility nodes at once, bounded by the reach, finds every
node within reach of each facility without computing paths to the rest of the network.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from service.errors import DependencyMissing

DEFAULT_SNAP_M = 1000.0
MAX_SNAP_M = 10_000.0
EDGES_SQL = "SELECT id, source, target, cost, cost AS reverse_cost FROM road_segments"


class RoadNetworkMissing(DependencyMissing):
    """distance_mode=road was asked for and no road network is loaded."""


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


def _start_column(conn: Connection) -> str:
    """pgr_drivingDistance's root column: `from_v` up to pgRouting 3.5, `start_vid` since 3.6."""
    cur = conn.execute(
        text(f"SELECT * FROM pgr_drivingDistance('{EDGES_SQL} LIMIT 0', ARRAY[0]::bigint[], 0) LIMIT 0")
    )
    return "start_vid" if "start_vid" in list(cur.keys()) else "from_v"


def prepare_reach(conn: Connection, distance: float, snap_m: float) -> None:
    """Fill `cov_road_facility` (id, node, leg_m) and `cov_road_reach` (facility_id, node, road_m).

    Needs `cov_facility`; `road_m` includes the facility's access leg (not yet the subject's).
    """
    exists = conn.execute(text("SELECT EXISTS (SELECT 1 FROM road_segments)")).scalar()
    if not exists:
        raise RoadNetworkMissing(
            "distance_mode: road needs a road network and none is loaded (sanichain roads import FILE)"
        )
    for table in ("cov_road_facility", "cov_road_reach"):
        conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
    conn.execute(
        text(
            "CREATE TEMP TABLE cov_road_facility ON COMMIT DROP AS "
            + nearest_node_sql("SELECT id, geom FROM cov_facility")
        ),
        {"snap": snap_m},
    )
    roots = conn.execute(text("SELECT coalesce(array_agg(DISTINCT node), '{}') FROM cov_road_facility"))
    if not roots.scalar():  # no facility on the network: nothing within reach
        conn.execute(
            text(
                "CREATE TEMP TABLE cov_road_reach (facility_id bigint, node bigint, road_m float8) "
                "ON COMMIT DROP"
            )
        )
        return
    start = _start_column(conn)
    conn.execute(
        text(
            f"""
            CREATE TEMP TABLE cov_road_reach ON COMMIT DROP AS
            SELECT f.id AS facility_id, d.node, f.leg_m + d.agg_cost AS road_m
            FROM (SELECT * FROM pgr_drivingDistance(
                      :edges, (SELECT coalesce(array_agg(DISTINCT node), '{{}}') FROM cov_road_facility),
                      :d, directed => false)) d
            JOIN cov_road_facility f ON f.node = d.{start}
            WHERE f.leg_m + d.agg_cost <= :d
            """
        ),
        {"edges": EDGES_SQL, "d": distance},
    )


def pairs_sql(subject_source: str, values: str, where: str) -> str:
    """(facility, subject) pairs within :d along the roads; needs prepare_reach and `:snap`."""
    return f"""
        SELECT r.facility_id, s.id AS subject_id, s.town_id, {values}, r.road_m + a.leg_m AS distance_m
        FROM ({nearest_node_sql("SELECT s.id, s.geom FROM " + subject_source + " WHERE " + where)}) a
        JOIN cov_road_reach r ON r.node = a.node
        JOIN {subject_source} ON s.id = a.id
        WHERE r.road_m + a.leg_m <= :d"""


def off_road_sql(subject_source: str, where: str) -> str:
    """How many subjects have no road node within :snap."""
    return f"""
        SELECT count(*) FROM {subject_source}
        WHERE {where} AND NOT EXISTS (
            SELECT 1 FROM road_nodes n
            WHERE ST_DWithin(n.geom::geography, s.geom::geography, :snap))"""
