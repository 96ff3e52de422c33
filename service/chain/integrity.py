"""Integrity of the chain: each rule is one SQL query over the inventory and the computed flows.

Every finding names the feature (layer, id, code, name), the rule, its severity and the numbers
behind it. Run `flows.compute()` first, in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from service.chain import flows
from service.chain.parameters import ALLOWED_SKIPS, SOURCE_LAYERS, STAGES, ChainParameters
from service.models import END_LAYERS, SOURCE_COLUMNS, TARGET_COLUMNS
from service.models.base import sql_in

ERROR, WARNING = "error", "warning"

RULES = {
    "source_unconnected": "a village or farm generates material but has no downstream link in the stream",
    "no_downstream": "an operational facility receives material but passes it nowhere",
    "stage_skip": "a link jumps over a stage of the chain (e.g. village straight to a transfer station)",
    "stage_reverse": "a link goes upstream or sideways (target stage not after source stage)",
    "wrong_stream": "a link's source or target layer takes no part in the link's stream",
    "cycle": "links form a cycle",
    "inactive_target": "a link delivers to a facility that is not operational",
    "over_capacity": "a facility's inflow exceeds its capacity",
    "near_capacity": "a facility's inflow is above the warning ratio of its capacity",
    "no_capacity": "a facility receives material but has no capacity recorded",
    "link_too_long": "a link is longer than the standard's transport distance",
    "facility_unfed": "an operational facility that nothing feeds",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    layer: str
    id: int
    code: str
    name: str
    town_code: str | None
    stream: str | None
    message: str
    numbers: dict[str, Any] = field(default_factory=dict)


NODE_COLUMNS = "n.layer, n.id, n.code, n.name, t.code AS town_code"
# The node of each of a rule's few rows, looked up row by row (OFFSET 0 keeps the subquery from being
# flattened into a join): joined, the planner's guess for a rule's result (millions) made it sort every
# node of the view (2.9 s on national data, for no row).
NODE_OF = (
    "CROSS JOIN LATERAL (SELECT * FROM chain_node n "
    "WHERE n.layer = {row}.layer AND n.id = {row}.id OFFSET 0) n"
)


def _rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]


UNCONNECTED_SOUGHT_SQL = """
SELECT g.layer, g.id, g.stream, g.t_per_day FROM chain_generation g
WHERE g.t_per_day > 0 AND NOT EXISTS (
    SELECT 1 FROM chain_link_step l
    WHERE l.stream = g.stream AND l.source_layer = g.layer AND l.source_id = g.id
      AND l.source_layer IN ('villages', 'livestock_farms'))"""


STUCK_SOUGHT_SQL = f"""
SELECT f.layer, f.id, s.key AS stream, s.value::float8 AS t_per_day
FROM chain_facility f
CROSS JOIN LATERAL jsonb_each_text(f.inflow_by_stream) s
LEFT JOIN manure_centers mc ON f.layer = 'manure_centers' AND mc.id = f.id
WHERE NOT {sql_in("f.layer", END_LAYERS)}
  AND s.value::float8 > 0 AND coalesce(mc.forwarded_share, 1) > 0
  AND NOT EXISTS (SELECT 1 FROM chain_link_step l
                  WHERE l.stream = s.key AND l.source_layer = f.layer AND l.source_id = f.id
                    AND l.source_layer NOT IN ('villages', 'livestock_farms'))"""
UNFED_SOUGHT_SQL = """
SELECT f.layer, f.id FROM chain_facility f
WHERE f.status = 'operational' AND NOT EXISTS (
    SELECT 1 FROM chain_link_step l WHERE l.target_layer = f.layer AND l.target_id = f.id)"""


def _found_or_sought(conn: Connection, table: str, sought: str) -> str:
    """The rows `flows.compute()` set aside in the temporary `table` on its way (D122), or, where it
    did not (the stored chain, a chain with a cycle), the query `sought` that looks for them."""
    found = conn.execute(text(f"SELECT to_regclass('pg_temp.{table}') IS NOT NULL")).scalar_one()
    return f"SELECT * FROM {table}" if found else sought


def _source_unconnected(conn: Connection) -> list[Finding]:
    rows = _rows(
        conn,
        f"""
        WITH gone AS MATERIALIZED ({_found_or_sought(conn, "chain_unconnected", UNCONNECTED_SOUGHT_SQL)}
        )
        SELECT {NODE_COLUMNS}, g.stream, g.t_per_day
        FROM gone g
        {NODE_OF.format(row="g")}
        LEFT JOIN towns t ON t.id = n.town_id
        ORDER BY g.stream, n.layer, n.code
        """,
    )
    return [
        _finding(
            "source_unconnected",
            ERROR,
            r,
            r["stream"],
            f"{r['t_per_day']:.3f} t/day of {r['stream']} go nowhere",
            t_per_day=r["t_per_day"],
        )
        for r in rows
    ]


def _no_downstream(conn: Connection) -> list[Finding]:
    rows = _rows(
        conn,
        f"""
        WITH stuck AS MATERIALIZED ({_found_or_sought(conn, "chain_stuck", STUCK_SOUGHT_SQL)}
        )
        SELECT {NODE_COLUMNS}, f.stream, f.t_per_day
        FROM stuck f
        {NODE_OF.format(row="f")}
        LEFT JOIN towns t ON t.id = n.town_id
        ORDER BY n.layer, n.code
        """,
    )
    return [
        _finding(
            "no_downstream",
            ERROR,
            r,
            r["stream"],
            f"receives {r['t_per_day']:.3f} t/day of {r['stream']} and passes it nowhere",
            t_per_day=r["t_per_day"],
        )
        for r in rows
    ]


def _stage_rule(stream: str, source_layer: str, target_layer: str) -> str | None:
    """Which stage rule a link of this kind breaks, if any: they depend on the kind alone."""
    stages = STAGES.get(stream, {})
    source, target = stages.get(source_layer), stages.get(target_layer)
    if source is None or target is None:
        return "wrong_stream"
    if target <= source:
        return "stage_reverse"
    if target > source + 1 and (stream, source_layer, target_layer) not in ALLOWED_SKIPS:
        return "stage_skip"
    return None


# The kinds of link there are (a handful), then only the links of the kinds that break a rule:
# 0.35 s on national data, against 0.7 s for putting a stage on both ends of every link (D122).
LINK_KINDS_SQL = "SELECT DISTINCT stream, source_layer, target_layer FROM chain_link_step"
LINKS_OF_KINDS_SQL = f"""
WITH kind AS (
    SELECT * FROM json_to_recordset(CAST(:kinds AS json))
        AS k(stream text, source_layer text, target_layer text)
)
SELECT {NODE_COLUMNS}, l.id AS link_id, l.stream, l.source_layer, l.target_layer, tn.code AS target_code
FROM chain_link_step l  -- the links' ends without their lines: a fifth of chain_links to read
JOIN kind k ON k.stream = l.stream AND k.source_layer = l.source_layer AND k.target_layer = l.target_layer
JOIN chain_node n ON n.layer = l.source_layer AND n.id = l.source_id
JOIN chain_node tn ON tn.layer = l.target_layer AND tn.id = l.target_id
LEFT JOIN towns t ON t.id = n.town_id
ORDER BY l.id
"""
STAGE_RULE_SEVERITY = {"wrong_stream": ERROR, "stage_reverse": ERROR, "stage_skip": WARNING}


def _stage_message(rule: str, arrow: str, stream: str, source_stage: int, target_stage: int) -> str:
    if rule == "wrong_stream":
        return f"link {arrow} has no place in the {stream} chain"
    if rule == "stage_reverse":
        return f"link {arrow} goes upstream"
    return f"link {arrow} skips {target_stage - source_stage - 1} stage(s)"


def _stage_rules(conn: Connection) -> list[Finding]:
    kinds = conn.execute(text(_found_or_sought(conn, "chain_link_kind", LINK_KINDS_SQL))).all()
    broken = [
        {"stream": s, "source_layer": a, "target_layer": b} for s, a, b in kinds if _stage_rule(s, a, b)
    ]
    if not broken:
        return []
    findings = []
    for r in _rows(conn, LINKS_OF_KINDS_SQL, kinds=json.dumps(broken)):
        rule = _stage_rule(r["stream"], r["source_layer"], r["target_layer"])
        assert rule is not None  # only the kinds that break one were read
        stages = STAGES.get(r["stream"], {})
        source_stage, target_stage = stages.get(r["source_layer"]), stages.get(r["target_layer"])
        arrow = f"{r['source_layer']} {r['code']} → {r['target_layer']} {r['target_code']}"
        numbers = {
            "link_id": r["link_id"],
            "source_stage": source_stage,
            "target_stage": target_stage,
            "source_layer": r["source_layer"],
            "target_layer": r["target_layer"],
            "target_code": r["target_code"],
        }
        message = _stage_message(rule, arrow, r["stream"], source_stage or 0, target_stage or 0)
        findings.append(_finding(rule, STAGE_RULE_SEVERITY[rule], r, r["stream"], message, **numbers))
    return findings


# The links that may lie on a cycle. Only a link between two facilities can close one (villages and
# farms are never targets), and only into a layer that also sends; and a link whose source nothing
# feeds, or whose target feeds nothing, in this set lies on none. Peeling those off until none is left
# keeps every cycle and, in a chain without one, nothing (two passes on national data, instead of
# walking from 500,000 links).
FEEDING = sql_in("target_layer", tuple(sorted(set(SOURCE_COLUMNS.values()) & set(TARGET_COLUMNS.values()))))
CYCLE_CANDIDATES_SQL = f"""
CREATE TEMP TABLE chain_cycle_link ON COMMIT DROP AS
SELECT id, source_layer, source_id, target_layer, target_id FROM chain_link_step
WHERE source_layer NOT IN ('villages', 'livestock_farms') AND {FEEDING}
"""
PEEL_SQL = """
DELETE FROM chain_cycle_link
WHERE (source_layer, source_id) NOT IN (SELECT target_layer, target_id FROM chain_cycle_link)
   OR (target_layer, target_id) NOT IN (SELECT source_layer, source_id FROM chain_cycle_link)
"""


def _cycle_candidates(conn: Connection) -> bool:
    """Fill chain_cycle_link with the links that may lie on a cycle; whether there are any."""
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.chain_cycle_link"))
    conn.execute(text(CYCLE_CANDIDATES_SQL))
    while conn.execute(text(PEEL_SQL)).rowcount:
        pass
    return bool(conn.execute(text("SELECT EXISTS (SELECT FROM chain_cycle_link)")).scalar_one())


def _layers_ranked_alike(stages: dict[str, dict[str, int]]) -> bool:
    """Whether each layer has the same stage in every stream it takes part in. Then a link that goes
    forward in its own stream goes forward in one order of all layers, and links that all go forward
    form no cycle, whichever streams they mix."""
    seen: dict[str, int] = {}
    return all(seen.setdefault(layer, n) == n for layers in stages.values() for layer, n in layers.items())


# A cycle needs a link that does not go forward: `stage_reverse` or `wrong_stream` reports it first.
# Without one the walk is skipped (0.7 s on national data, where no link goes back).
CYCLE_NEEDS_A_BACKWARD_LINK = _layers_ranked_alike(STAGES)
BACKWARD_RULES = ("stage_reverse", "wrong_stream")


def _cycles(conn: Connection, stage_findings: list[Finding]) -> list[Finding]:
    if CYCLE_NEEDS_A_BACKWARD_LINK and not any(f.rule in BACKWARD_RULES for f in stage_findings):
        return []
    if not _cycle_candidates(conn):
        return []
    conn.execute(text("ANALYZE chain_cycle_link"))
    rows = _rows(
        conn,
        f"""
        WITH RECURSIVE walk(start_id, start_layer, start_node, layer, id, path) AS (
            SELECT l.id, l.source_layer, l.source_id, l.target_layer, l.target_id, ARRAY[l.id]
            FROM chain_cycle_link l
            UNION ALL
            SELECT w.start_id, w.start_layer, w.start_node, l.target_layer, l.target_id, w.path || l.id
            FROM walk w JOIN chain_cycle_link l ON l.source_layer = w.layer AND l.source_id = w.id
            WHERE l.id <> ALL(w.path) AND cardinality(w.path) < 32
        )
        SELECT DISTINCT ON (w.start_id) {NODE_COLUMNS}, w.start_id AS link_id, w.path, cl.stream
        FROM walk w
        JOIN chain_links cl ON cl.id = w.start_id
        JOIN chain_node n ON n.layer = w.start_layer AND n.id = w.start_node
        LEFT JOIN towns t ON t.id = n.town_id
        WHERE w.layer = w.start_layer AND w.id = w.start_node
        ORDER BY w.start_id, cardinality(w.path)
        """,
    )
    return [
        _finding(
            "cycle",
            ERROR,
            r,
            r["stream"],
            f"link {r['link_id']} is on a cycle of {len(r['path'])} link(s): {r['path']}",
            link_id=r["link_id"],
            cycle_links=list(r["path"]),
        )
        for r in rows
    ]


def _inactive_targets(conn: Connection) -> list[Finding]:
    rows = _rows(
        conn,
        f"""
        WITH idle AS MATERIALIZED (
            SELECT l.target_layer AS layer, l.target_id AS id, l.stream,
                   count(*) AS links, sum(f.flow_t_per_day) AS t_per_day
            FROM chain_facility c
            JOIN chain_link_step l ON l.target_layer = c.layer AND l.target_id = c.id
            JOIN chain_link_flow f ON f.link_id = l.id
            WHERE c.status <> 'operational'
            GROUP BY l.target_id, l.target_layer, l.stream
        )
        SELECT {NODE_COLUMNS}, n.status, i.stream, i.links, i.t_per_day
        FROM idle i
        {NODE_OF.format(row="i")}
        LEFT JOIN towns t ON t.id = n.town_id
        ORDER BY n.layer, n.code
        """,
    )
    return [
        _finding(
            "inactive_target",
            ERROR if r["status"] in ("closed", "suspended") else WARNING,
            r,
            r["stream"],
            f"{r['links']} link(s) deliver {r['t_per_day']:.3f} t/day to a facility that is {r['status']}",
            status=r["status"],
            links=r["links"],
            t_per_day=r["t_per_day"],
        )
        for r in rows
    ]


def _capacity(conn: Connection, warning_ratio: float) -> list[Finding]:
    rows = _rows(
        conn,
        f"""
        WITH loaded AS MATERIALIZED (
            SELECT f.layer, f.id, f.capacity, f.capacity_unit, f.inflow_t_per_day, f.utilisation
            FROM chain_facility f
            WHERE f.inflow_t_per_day > 0 AND (f.capacity IS NULL OR f.capacity = 0 OR f.utilisation > :ratio)
        )
        SELECT {NODE_COLUMNS}, f.capacity, f.capacity_unit, f.inflow_t_per_day, f.utilisation
        FROM loaded f
        {NODE_OF.format(row="f")}
        LEFT JOIN towns t ON t.id = n.town_id
        ORDER BY n.layer, n.code
        """,
        ratio=warning_ratio,
    )
    findings = []
    for r in rows:
        numbers = {
            "inflow_t_per_day": r["inflow_t_per_day"],
            "capacity": r["capacity"],
            "capacity_unit": r["capacity_unit"],
            "utilisation": r["utilisation"],
        }
        if not r["capacity"]:
            findings.append(
                _finding(
                    "no_capacity",
                    WARNING,
                    r,
                    None,
                    f"receives {r['inflow_t_per_day']:.3f} t/day, no capacity recorded",
                    **numbers,
                )
            )
        elif r["utilisation"] > 1:
            findings.append(
                _finding(
                    "over_capacity",
                    ERROR,
                    r,
                    None,
                    f"inflow {r['inflow_t_per_day']:.1f} t/day exceeds capacity "
                    f"{r['capacity']:g} {r['capacity_unit']} ({r['utilisation']:.0%})",
                    **numbers,
                )
            )
        else:
            findings.append(
                _finding(
                    "near_capacity",
                    WARNING,
                    r,
                    None,
                    f"inflow {r['inflow_t_per_day']:.1f} t/day is {r['utilisation']:.0%} of "
                    f"capacity (warning above {warning_ratio:.0%})",
                    **numbers,
                )
            )
    return findings


# No line on the WGS 84 ellipsoid is longer than this many metres per degree of its lon/lat length:
# a degree of latitude is at most 111,694 m (at the poles), a degree of longitude at most 111,320 m
# (at the equator). So a link whose planar length times this is within the limit is within it on
# the ellipsoid too, and only the few others need the geodesic length (D122).
METRES_PER_DEGREE_AT_MOST = 111_700


def _long_links(conn: Connection, max_village_collection_m: float) -> list[Finding]:
    rows = _rows(
        conn,
        f"""
        SELECT {NODE_COLUMNS}, l.id AS link_id, l.stream, ST_Length(l.geom::geography) AS length_m,
               tn.code AS target_code
        FROM chain_links l
        JOIN chain_node n ON n.layer = l.source_layer AND n.id = l.source_id
        JOIN chain_node tn ON tn.layer = l.target_layer AND tn.id = l.target_id
        LEFT JOIN towns t ON t.id = n.town_id
        WHERE l.source_layer = 'villages' AND l.target_layer = 'collection_points'
          AND ST_Length(l.geom) * {METRES_PER_DEGREE_AT_MOST} > :limit
          AND ST_Length(l.geom::geography) > :limit
        ORDER BY l.id
        """,
        limit=max_village_collection_m,
    )
    return [
        _finding(
            "link_too_long",
            WARNING,
            r,
            r["stream"],
            f"village → collection point {r['target_code']} is {r['length_m']:.0f} m, "
            f"more than {max_village_collection_m:.0f} m (GB/T 51435-2021 §4.4)",
            link_id=r["link_id"],
            length_m=r["length_m"],
            limit_m=max_village_collection_m,
            target_code=r["target_code"],
        )
        for r in rows
    ]


def _unfed(conn: Connection) -> list[Finding]:
    rows = _rows(
        conn,
        f"""
        WITH unfed AS MATERIALIZED ({_found_or_sought(conn, "chain_unfed", UNFED_SOUGHT_SQL)}
        )
        SELECT {NODE_COLUMNS}
        FROM unfed f
        {NODE_OF.format(row="f")}
        LEFT JOIN towns t ON t.id = n.town_id
        ORDER BY n.layer, n.code
        """,
    )
    return [_finding("facility_unfed", WARNING, r, None, "operational, but nothing feeds it") for r in rows]


def _finding(
    rule: str, severity: str, row: dict[str, Any], stream: str | None, message: str, **numbers: Any
) -> Finding:
    return Finding(
        rule,
        severity,
        row["layer"],
        row["id"],
        row["code"],
        row["name"],
        row["town_code"],
        stream,
        message,
        {k: _plain(v) for k, v in numbers.items()},
    )


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def check(conn: Connection, params: ChainParameters | None = None) -> list[Finding]:
    """All findings, errors first. `flows.compute()` must have run in this transaction."""
    params = params or ChainParameters()
    flows.whole_chain_settings(conn)  # the rules hash whole layers too
    stage_findings = _stage_rules(conn)
    findings = [
        *_source_unconnected(conn),
        *_no_downstream(conn),
        *stage_findings,
        *_cycles(conn, stage_findings),
        *_inactive_targets(conn),
        *_capacity(conn, params.utilisation_warning),
        *_long_links(conn, params.max_village_collection_m),
        *_unfed(conn),
    ]
    return sorted(findings, key=lambda f: (f.severity != ERROR, f.rule, f.layer, f.code))


def report(findings: list[Finding]) -> dict[str, Any]:
    by_rule: dict[str, int] = {}
    for f in findings:
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    return {
        "summary": {
            "errors": sum(f.severity == ERROR for f in findings),
            "warnings": sum(f.severity == WARNING for f in findings),
            "by_rule": by_rule,
        },
        "rules": RULES,
        "findings": [asdict(f) for f in findings],
    }


__all__ = ["ERROR", "RULES", "SOURCE_LAYERS", "WARNING", "Finding", "check", "report"]
