"""Coverage along the roads (pgRouting): which road nodes each facility reaches, and the pairs within reach.

The road distance between a facility and a village or farm is access leg + network distance between
their nodes + access leg (`service.roads.graph`). `pgr_drivingDistance` from all facility nodes at once,
bounded by the reach, finds every node within reach of each facility without computing paths to the
rest of the network. A point farther than `snap_m` from every road node is off the network:
unreachable, so unserved, and reported.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from service.errors import DependencyMissing
from service.roads import network
from service.roads.graph import EDGES_SQL, nearest_node_sql

NO_NETWORK = "distance_mode: road needs a road network and none is loaded (sanichain roads import FILE)"


class RoadNetworkMissing(DependencyMissing):
    """distance_mode=road was asked for and no road network is loaded."""

    def __init__(self, message: str = NO_NETWORK) -> None:
        super().__init__(message, parameter="distance_mode")


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
    if not network.loaded(conn):
        raise RoadNetworkMissing()
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


OFF_ROAD_SQL = """
        SELECT count(*) FROM {source}
        WHERE {where} AND NOT EXISTS (
            SELECT 1 FROM road_nodes n
            WHERE ST_DWithin(n.geom::geography, s.geom::geography, :snap))"""


def road_access(
    conn: Connection, snap_m: float, subjects: list[tuple[str, str, str, dict[str, Any]]]
) -> dict[str, Any]:
    """The snap tolerance and what lies off the road network (unreachable, so unserved).

    `subjects`: (name, source aliased `s`, where, params) of each subject asked for.
    """
    off = conn.execute(
        text("SELECT code FROM cov_facility WHERE id NOT IN (SELECT id FROM cov_road_facility) ORDER BY code")
    ).scalars()
    access: dict[str, Any] = {"snap_m": snap_m, "facilities_off_road": list(off)}
    for name, source, where, params in subjects:
        access[f"{name}_off_road"] = conn.execute(
            text(OFF_ROAD_SQL.format(source=source, where=where)), {"snap": snap_m, **params}
        ).scalar_one()
    return access
