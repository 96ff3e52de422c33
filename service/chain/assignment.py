"""Automatic assignment: attach every unconnected source or facility to the nearest suitable operational
facility of the next stage, by geodesic distance, optionally within the remaining capacity.

`propose()` is a dry run (nothing written); `apply()` writes the proposed links. Candidates come from a
KNN search on the GIST index (`<->`, the few nearest in degrees), re-ranked by geodesic distance on the
spheroid. Road distance will take over once a road network is loaded.
Run `flows.compute()` first in the same transaction (amounts and loads come from it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, text

from service.models import SOURCE_COLUMNS, TARGET_COLUMNS

CANDIDATES = 8  # nearest in degrees; ample to contain the geodesic nearest at these latitudes


@dataclass(frozen=True)
class Step:
    """One hop of a stream: unconnected features of `source` get a link to the nearest `target`."""

    stream: str
    source: str
    target: str
    source_filter: str  # SQL on alias s: which sources need a link
    target_filter: str = "true"  # SQL on alias t: which targets are suitable


def _unlinked(stream: str, layer: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM chain_links l WHERE l.stream = '{stream}' "
        f"AND l.source_layer = '{layer}' AND l.source_id = s.id)"
    )


STEPS: dict[str, tuple[Step, ...]] = {
    "domestic_waste": (
        Step("domestic_waste", "villages", "collection_points", _unlinked("domestic_waste", "villages")),
        Step(
            "domestic_waste",
            "collection_points",
            "transfer_stations",
            f"s.status = 'operational' AND {_unlinked('domestic_waste', 'collection_points')}",
        ),
        Step(
            "domestic_waste",
            "transfer_stations",
            "treatment_plants",
            f"s.status = 'operational' AND {_unlinked('domestic_waste', 'transfer_stations')}",
        ),
    ),
    "fecal_sludge": (
        Step(
            "fecal_sludge",
            "villages",
            "manure_centers",
            f"s.toilets_rebuilt > 0 AND {_unlinked('fecal_sludge', 'villages')}",
            "t.accepts_fecal_sludge",
        ),
        Step(
            "fecal_sludge",
            "manure_centers",
            "biogas_centers",
            f"s.status = 'operational' AND s.accepts_fecal_sludge AND s.forwarded_share > 0 "
            f"AND {_unlinked('fecal_sludge', 'manure_centers')}",
        ),
    ),
    "manure": (
        Step(
            "manure",
            "livestock_farms",
            "manure_centers",
            f"s.status = 'operational' AND {_unlinked('manure', 'livestock_farms')}",
            "t.accepts_manure",
        ),
        Step(
            "manure",
            "manure_centers",
            "biogas_centers",
            f"s.status = 'operational' AND s.accepts_manure AND s.forwarded_share > 0 "
            f"AND {_unlinked('manure', 'manure_centers')}",
        ),
    ),
}


@dataclass(frozen=True)
class Proposal:
    stream: str
    source_layer: str
    source_id: int
    source_code: str
    target_layer: str
    target_id: int
    target_code: str
    target_name: str
    distance_m: float
    amount_t_per_day: float


@dataclass(frozen=True)
class Unassigned:
    stream: str
    source_layer: str
    source_id: int
    source_code: str
    reason: str


def _candidates(conn: Connection, step: Step) -> list[dict[str, Any]]:
    # The amount a source sends: its generation (villages, farms) or what a facility passes on.
    amount = (
        "coalesce((SELECT g.t_per_day FROM chain_generation g WHERE g.stream = :stream "
        "AND g.layer = :source AND g.id = s.id), 0)"
        if step.source in ("villages", "livestock_farms")
        else "coalesce((SELECT f.inflow_t_per_day FROM chain_facility f "
        "WHERE f.layer = :source AND f.id = s.id), 0)"
    )
    sql = f"""
        SELECT s.id AS source_id, s.code AS source_code, {amount} AS amount,
               c.id AS target_id, c.code AS target_code, c.name AS target_name, c.distance_m,
               coalesce(c.capacity, 0) AS capacity, coalesce(cf.inflow_t_per_day, 0) AS load
        FROM {step.source} s
        CROSS JOIN LATERAL (
            SELECT t.id, t.code, t.name, t.capacity::float8 AS capacity,
                   ST_Distance(t.geom::geography, s.geom::geography) AS distance_m
            FROM {step.target} t
            WHERE t.status = 'operational' AND {step.target_filter}
            ORDER BY t.geom <-> s.geom
            LIMIT {CANDIDATES}
        ) c
        LEFT JOIN chain_facility cf ON cf.layer = :target AND cf.id = c.id
        WHERE {step.source_filter}
        ORDER BY s.id, c.distance_m, c.id
    """
    return [
        dict(r)
        for r in conn.execute(
            text(sql), {"stream": step.stream, "source": step.source, "target": step.target}
        ).mappings()
    ]


def _sources_without_candidates(conn: Connection, step: Step) -> list[dict[str, Any]]:
    sql = f"SELECT s.id, s.code FROM {step.source} s WHERE {step.source_filter} ORDER BY s.id"
    return [dict(r) for r in conn.execute(text(sql)).mappings()]


def propose(
    conn: Connection, stream: str, respect_capacity: bool = False
) -> tuple[list[Proposal], list[Unassigned]]:
    """Dry run for one stream: the links that would be written, and what cannot be assigned."""
    proposals: list[Proposal] = []
    unassigned: list[Unassigned] = []
    for step in STEPS[stream]:
        rows = _candidates(conn, step)
        by_source: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_source.setdefault(row["source_id"], []).append(row)
        for source in _sources_without_candidates(conn, step):
            if source["id"] not in by_source:
                unassigned.append(
                    Unassigned(
                        stream,
                        step.source,
                        source["id"],
                        source["code"],
                        f"no operational {step.target} to attach to",
                    )
                )
        # Nearest first, so that capacity goes to the sources closest to each facility.
        order = sorted(by_source, key=lambda sid: (by_source[sid][0]["distance_m"], sid))
        added_load: dict[int, float] = {}
        for sid in order:
            options = by_source[sid]
            chosen = options[0]
            if respect_capacity:
                fitting = [
                    o
                    for o in options
                    if o["capacity"] > 0
                    and o["load"] + added_load.get(o["target_id"], 0) + o["amount"] <= o["capacity"]
                ]
                if not fitting:
                    unassigned.append(
                        Unassigned(
                            stream,
                            step.source,
                            sid,
                            options[0]["source_code"],
                            f"no {step.target} among the {len(options)} nearest has "
                            f"{options[0]['amount']:.3f} t/day of capacity left",
                        )
                    )
                    continue
                chosen = fitting[0]
            added_load[chosen["target_id"]] = added_load.get(chosen["target_id"], 0) + chosen["amount"]
            proposals.append(
                Proposal(
                    stream,
                    step.source,
                    sid,
                    chosen["source_code"],
                    step.target,
                    chosen["target_id"],
                    chosen["target_code"],
                    chosen["target_name"],
                    float(chosen["distance_m"]),
                    float(chosen["amount"]),
                )
            )
    return proposals, unassigned


def _column(columns: dict[str, str], side: str, layer: str) -> str:
    for column, column_layer in columns.items():
        if column_layer == layer and column.startswith(side):
            return column
    raise ValueError(f"{layer} cannot be a link {side}")


def apply(conn: Connection, proposals: list[Proposal]) -> int:
    """Write the proposed links (in the caller's transaction); returns how many were written."""
    written = 0
    for p in proposals:
        source_column = _column(SOURCE_COLUMNS, "source", p.source_layer)
        target_column = _column(TARGET_COLUMNS, "target", p.target_layer)
        result = conn.execute(
            text(
                f"INSERT INTO chain_links (stream, {source_column}, {target_column}, note) "
                "VALUES (:stream, :source, :target, 'assigned automatically (nearest, geodesic)') "
                "ON CONFLICT DO NOTHING"
            ),
            {"stream": p.stream, "source": p.source_id, "target": p.target_id},
        )
        written += result.rowcount or 0
    return written


def as_dicts(proposals: list[Proposal], unassigned: list[Unassigned]) -> dict[str, Any]:
    return {
        "proposed": [asdict(p) for p in proposals],
        "unassigned": [asdict(u) for u in unassigned],
    }
