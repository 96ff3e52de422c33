"""Coverage along the roads (pgRouting): which road nodes each facility reaches, and the pairs within reach.

The road distance between a facility and a village or farm is access leg + network distance between
their nodes + access leg (`service.roads.graph`). `pgr_drivingDistance` from all facility nodes at once,
bounded by the reach, finds every node within reach of each facility without computing paths to the
rest of the network. A point farther than `snap_m` from every road node is off the network:
unreachable, so unserved, and reported.

The routing is refused before it starts when its estimated size (`ReachEstimate`) exceeds the limit.
Snapping is bounded by construction: each point probes the index for its 4 nearest nodes, whatever
`snap_m` is, and the off-network counts stop at the first node within `snap_m`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from service.errors import DependencyMissing, TooLarge
from service.roads import network
from service.roads.graph import EDGES_SQL, nearest_node_sql

NO_NETWORK = "distance_mode: road needs a road network and none is loaded (sanichain roads import FILE)"


class RoadNetworkMissing(DependencyMissing):
    """distance_mode=road was asked for and no road network is loaded."""

    def __init__(self, message: str = NO_NETWORK) -> None:
        super().__init__(message, parameter="distance_mode")


LIMIT_VARIABLE = "SANICHAIN_ROAD_MAX_NODE_VISITS"
NETWORK_SIZE_SQL = """
    SELECT count(*), coalesce(ST_Area(ST_SetSRID(ST_Extent(geom)::geometry, 4326)::geography), 0)
    FROM road_nodes"""


@dataclass(frozen=True)
class ReachEstimate:
    """How many road nodes the routing visits, from the network's size and mean density.

    pgRouting searches from each distinct road node of the facilities (a root) up to the reach; a
    segment's cost is its geodesic length, so a root visits at most the nodes within the reach as the
    crow flies: about the network's nodes per m² × the disc's area, and never more than all of them.
    (On the demo: 2,296,480 visits estimated and counted at 100 km; 0.93 M estimated, 0.53 M counted
    at 20 km: the network's edge lies inside many discs.)
    """

    roots: int
    nodes: int
    area_m2: float  # of the network's bounding box

    def per_root(self, distance: float) -> float:
        if self.area_m2 <= 0:  # all nodes on a line: no density to speak of
            return float(self.nodes)
        return min(float(self.nodes), self.nodes * math.pi * distance**2 / self.area_m2)

    def visits(self, distance: float) -> int:
        return math.ceil(self.roots * self.per_root(distance))

    def fitting_distance(self, max_visits: int) -> float | None:
        """The longest reach whose estimate is within `max_visits` (None: no reach is)."""
        allowed = max_visits / self.roots  # per root
        if allowed < 1 or self.area_m2 <= 0:
            return None
        return math.floor(math.sqrt(allowed * self.area_m2 / (self.nodes * math.pi)) / 10) * 10


class RoadReachTooLarge(TooLarge):
    """Routing that would visit more road nodes than the configured limit (HTTP 422)."""

    def __init__(self, distance: float, estimate: ReachEstimate, max_visits: int) -> None:
        visits = estimate.visits(distance)
        fits = estimate.fitting_distance(max_visits)
        advice = (
            f"ask for at most {fits:,.0f} m"
            if fits
            else "no reach fits: consider fewer facilities (status, kind)"
        )
        super().__init__(
            f"distance_m: road reach of {distance:,.0f} m from {estimate.roots:,} facility road nodes "
            f"needs about {visits:,} road node visits; the limit is {max_visits:,} ({LIMIT_VARIABLE}); "
            + advice,
            parameter="distance_m",
            measure="road node visits (estimated)",
            size=visits,
            max_size=max_visits,
            setting=LIMIT_VARIABLE,
            fits_distance_m=fits,
        )


def estimate_reach(conn: Connection) -> ReachEstimate:
    """The routing's size for the roots in `cov_road_facility`: one pass over the road nodes."""
    roots = conn.execute(text("SELECT count(DISTINCT node) FROM cov_road_facility")).scalar_one()
    nodes, area = conn.execute(text(NETWORK_SIZE_SQL)).one()
    return ReachEstimate(int(roots), int(nodes), float(area))


def _start_column(conn: Connection) -> str:
    """pgr_drivingDistance's root column: `from_v` up to pgRouting 3.5, `start_vid` since 3.6."""
    cur = conn.execute(
        text(f"SELECT * FROM pgr_drivingDistance('{EDGES_SQL} LIMIT 0', ARRAY[0]::bigint[], 0) LIMIT 0")
    )
    return "start_vid" if "start_vid" in list(cur.keys()) else "from_v"


def prepare_reach(conn: Connection, distance: float, snap_m: float, max_visits: int) -> None:
    """Fill `cov_road_facility` (id, node, leg_m) and `cov_road_reach` (facility_id, node, road_m).

    Needs `cov_facility`; `road_m` includes the facility's access leg (not yet the subject's).
    RoadReachTooLarge, before routing, when the estimate exceeds `max_visits`.
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
    estimate = estimate_reach(conn)
    if estimate.visits(distance) > max_visits:
        raise RoadReachTooLarge(distance, estimate, max_visits)
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
    # temporary tables get no statistics of their own: without them the pair joins plan badly
    conn.execute(text("ANALYZE pg_temp.cov_road_reach"))


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
