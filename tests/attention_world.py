"""A copy of the demo with problems of known size: the demo itself has none (every facility below 80 %).

The station's inflow is computed here from the villages and links alone (population × waste rate, summed
over the villages whose collection point delivers to the station), not by the chain's flow computation,
so a test comparing the problems view with it checks that computation too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

OVERLOADED_STATION = "TS-370782101"  # 枳沟镇垃圾压缩中转站
SUSPENDED_STATION = "TS-370782117"
UNCONNECTED_VILLAGE = "37078211020103"  # a village of another town: the station's inflow is unchanged
OVERLOAD = 2.0  # the capacity is set to half the inflow

STATION_INFLOW_SQL = """
SELECT s.id, s.name, sum(v.population * coalesce(v.waste_rate_kg_per_person_day, :rate) / 1000.0) AS inflow
FROM transfer_stations s
JOIN chain_links l2 ON l2.target_layer = 'transfer_stations' AND l2.target_id = s.id
     AND l2.source_layer = 'collection_points' AND l2.stream = 'domestic_waste'
JOIN chain_links l1 ON l1.target_layer = 'collection_points' AND l1.target_id = l2.source_id
     AND l1.source_layer = 'villages' AND l1.stream = 'domestic_waste'
JOIN villages v ON v.id = l1.source_id
WHERE s.code = :code
GROUP BY s.id, s.name
"""


@dataclass(frozen=True)
class Overloaded:
    id: int
    code: str
    name: str
    inflow_t_per_day: float
    capacity: float


def make_problems(engine: Engine) -> Overloaded:
    """Overload one station (capacity = half its inflow), suspend another (its links stay) and cut one
    village's waste link (`UNCONNECTED_VILLAGE`)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM chain_links WHERE stream = 'domestic_waste' AND source_layer = 'villages' "
                "AND source_id = (SELECT id FROM villages WHERE code = :code)"
            ),
            {"code": UNCONNECTED_VILLAGE},
        )
        row = conn.execute(text(STATION_INFLOW_SQL), {"code": OVERLOADED_STATION, "rate": 0.4}).one()
        inflow = float(row.inflow)
        capacity = round(inflow / OVERLOAD, 2)
        conn.execute(
            text("UPDATE transfer_stations SET capacity = :c WHERE code = :code"),
            {"c": capacity, "code": OVERLOADED_STATION},
        )
        conn.execute(
            text("UPDATE transfer_stations SET status = 'suspended' WHERE code = :code"),
            {"code": SUSPENDED_STATION},
        )
    return Overloaded(row.id, OVERLOADED_STATION, row.name, inflow, capacity)
