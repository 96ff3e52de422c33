"""SFD-style flow diagram of one stream for the city or one town, from the computed flows.

Columns: sources (households / farms) → groups (towns for the city, rural communities or species for
a town; village collection points are part of their group) → facilities by stage → end of chain.
Flow that reaches no facility is drawn red ("unconnected"); what a manure centre treats on site
instead of forwarding is drawn green ("treated on site").
For a town, downstream bands carry the town's share of each facility's inflow.
Run `flows.compute()` first in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, text

from service.chain.parameters import STAGES
from service.chain.sankey import Band, Diagram, Node

SOURCE_LEVEL = ("villages", "livestock_farms", "collection_points")
LAYER_LABELS = {
    "transfer_stations": ("转运站", "transfer stations"),
    "treatment_plants": ("处理厂", "treatment plants"),
    "manure_centers": ("粪污处理中心", "manure centres"),
    "biogas_centers": ("沼气中心", "biogas centre"),
}
STREAM_LABELS = {
    "domestic_waste": ("生活垃圾", "domestic waste", "农户", "households"),
    "fecal_sludge": ("厕所粪污", "toilet fecal sludge", "农户厕所", "household toilets"),
    "manure": ("畜禽粪污", "livestock manure", "规模养殖场", "large farms"),
}
SPECIES_LABELS = {
    "pig": "生猪",
    "dairy": "奶牛",
    "beef": "肉牛",
    "sheep": "肉羊",
    "layer": "蛋鸡",
    "broiler": "肉鸡",
}


def _group_sql(town_scope: bool) -> str:
    """(layer, id, group_key, label, label_en) for every source-level node in scope."""
    if not town_scope:
        return """
        SELECT 'villages' AS layer, v.id, 't' || t.code AS group_key, t.name AS label, t.name_en AS label_en
        FROM villages v JOIN towns t ON t.id = v.town_id
        UNION ALL
        SELECT 'livestock_farms', f.id, 't' || t.code, t.name, t.name_en
        FROM livestock_farms f JOIN towns t ON t.id = f.town_id
        UNION ALL
        SELECT 'collection_points', c.id, 't' || t.code, t.name, t.name_en
        FROM collection_points c JOIN towns t ON t.id = c.town_id
        """
    return """
        SELECT 'villages' AS layer, v.id, 'c' || c.code AS group_key, c.name AS label, c.code AS label_en
        FROM villages v JOIN communities c ON c.id = v.community_id WHERE v.town_id = :town
        UNION ALL
        SELECT 'livestock_farms', f.id, 's' || f.species, f.species, f.species
        FROM livestock_farms f WHERE f.town_id = :town
        UNION ALL
        SELECT 'collection_points', p.id, 'c' || c.code, c.name, c.code
        FROM collection_points p JOIN villages v ON v.id = p.village_id
        JOIN communities c ON c.id = v.community_id WHERE p.town_id = :town
    """


def _query(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def build(conn: Connection, stream: str, town: dict[str, Any] | None = None) -> Diagram:
    """The diagram of `stream` for the city, or for `town` (a row with id, code, name, name_en)."""
    params: dict[str, Any] = {"stream": stream, "town": town["id"] if town else None}
    groups_sql = _group_sql(town is not None)
    generation = _query(
        conn,
        f"""
        WITH grp AS ({groups_sql})
        SELECT grp.group_key, min(grp.label) AS label, min(grp.label_en) AS label_en,
               sum(g.t_per_day) AS generated,
               coalesce(sum(g.t_per_day) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM chain_links l WHERE l.stream = g.stream
                   AND l.source_layer = g.layer AND l.source_id = g.id)), 0) AS unlinked
        FROM chain_generation g JOIN grp ON grp.layer = g.layer AND grp.id = g.id
        WHERE g.stream = :stream
        GROUP BY grp.group_key HAVING sum(g.t_per_day) > 0
        ORDER BY grp.group_key
        """,
        **params,
    )
    group_edges = _query(
        conn,
        f"""
        WITH grp AS ({groups_sql})
        SELECT grp.group_key, l.target_layer, l.target_id, sum(f.flow_t_per_day) AS flow
        FROM chain_links l JOIN chain_link_flow f ON f.link_id = l.id
        JOIN grp ON grp.layer = l.source_layer AND grp.id = l.source_id
        WHERE l.stream = :stream AND l.target_layer <> 'collection_points'
        GROUP BY 1, 2, 3
        """,
        **params,
    )
    facility_edges = _query(
        conn,
        """
        SELECT l.source_layer, l.source_id, l.target_layer, l.target_id, f.flow_t_per_day AS flow
        FROM chain_links l JOIN chain_link_flow f ON f.link_id = l.id
        WHERE l.stream = :stream
          AND l.source_layer NOT IN ('villages', 'livestock_farms', 'collection_points')
        """,
        stream=stream,
    )
    stuck_at_points = _query(
        conn,
        f"""
        WITH grp AS ({groups_sql})
        SELECT grp.group_key,
               sum(coalesce((f.inflow_by_stream ->> :stream)::float8, 0) - coalesce(o.out, 0)) AS stuck
        FROM chain_facility f JOIN grp ON grp.layer = 'collection_points' AND grp.id = f.id
        LEFT JOIN (SELECT l.source_id, sum(lf.flow_t_per_day) AS out FROM chain_links l
                   JOIN chain_link_flow lf ON lf.link_id = l.id
                   WHERE l.stream = :stream AND l.source_layer = 'collection_points' GROUP BY 1) o
               ON o.source_id = f.id
        WHERE f.layer = 'collection_points'
        GROUP BY 1
        """,
        **params,
    )
    facility_names = {
        (r["layer"], r["id"]): r
        for r in _query(
            conn,
            "SELECT layer, id, code, name, coalesce((inflow_by_stream ->> :stream)::float8, 0) AS inflow "
            "FROM chain_facility WHERE layer <> 'collection_points'",
            stream=stream,
        )
    }
    return _assemble(stream, town, generation, group_edges, facility_edges, stuck_at_points, facility_names)


def _assemble(
    stream: str,
    town: dict[str, Any] | None,
    generation: list[dict[str, Any]],
    group_edges: list[dict[str, Any]],
    facility_edges: list[dict[str, Any]],
    stuck_at_points: list[dict[str, Any]],
    facility_names: dict[tuple[str, int], dict[str, Any]],
) -> Diagram:
    zh, en, source_zh, source_en = STREAM_LABELS[stream]
    where_zh, where_en = (town["name"], town["name_en"] or town["code"]) if town else ("全市", "city")
    d = Diagram(title=f"{where_zh}{zh}流向", title_en=f"{en} flows, {where_en}", unit="t/d")
    stage = STAGES[stream]
    column_of = {layer: n + 1 for layer, n in stage.items() if layer not in SOURCE_LEVEL}
    d.nodes.append(Node("source", source_zh, source_en, 0))
    for g in generation:
        label = SPECIES_LABELS.get(g["label"], g["label"])
        d.nodes.append(Node(g["group_key"], label, g["label_en"] or g["group_key"], 1))
        d.bands.append(Band("source", g["group_key"], float(g["generated"])))
    in_scope_inflow: dict[tuple[str, int], float] = defaultdict(float)
    for e in group_edges:
        key = (e["target_layer"], e["target_id"])
        in_scope_inflow[key] += float(e["flow"])
        d.bands.append(Band(e["group_key"], _facility_key(key), float(e["flow"])))
    unconnected = {g["group_key"]: float(g["unlinked"]) for g in generation}
    for s in stuck_at_points:
        unconnected[s["group_key"]] = unconnected.get(s["group_key"], 0.0) + max(0.0, float(s["stuck"] or 0))
    total_inflow = {key: float(info["inflow"]) for key, info in facility_names.items()}
    _downstream(d, facility_edges, in_scope_inflow, total_inflow, column_of)
    for key in in_scope_inflow:
        info = facility_names.get(key, {"code": _facility_key(key), "name": _facility_key(key)})
        d.nodes.append(Node(_facility_key(key), info["name"], info["code"], column_of.get(key[0], 2)))
    last = max(column_of.values(), default=2)
    for group, value in unconnected.items():
        if value > 1e-9:
            d.bands.append(Band(group, "unconnected", value, "unconnected"))
    if any(b.target == "unconnected" for b in d.bands):
        d.nodes.append(Node("unconnected", "未接入", "unconnected", last, colour="#e45756"))
    if any(b.kind == "retained" for b in d.bands):
        d.nodes.append(Node("retained", "就地处理", "treated on site", last, colour="#54a24b"))
    return d


def _facility_key(key: tuple[str, int]) -> str:
    return f"{key[0]}:{key[1]}"


def _downstream(
    d: Diagram,
    facility_edges: list[dict[str, Any]],
    in_scope_inflow: dict[tuple[str, int], float],
    total_inflow: dict[tuple[str, int], float],
    column_of: dict[str, int],
) -> None:
    """Carry the in-scope share of each facility's inflow down the facility → facility links, stage by
    stage; what a facility does not pass on becomes a sink band (treated on site, or stuck)."""
    outgoing: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for e in facility_edges:
        outgoing[(e["source_layer"], e["source_id"])].append(e)
    for column in sorted(set(column_of.values())):
        for key in sorted(k for k in list(in_scope_inflow) if column_of.get(k[0]) == column):
            inflow = in_scope_inflow[key]
            share = inflow / total_inflow[key] if total_inflow.get(key) else 0.0
            passed = 0.0
            for e in outgoing.get(key, []):
                target = (e["target_layer"], e["target_id"])
                value = float(e["flow"]) * share
                if value > 0:
                    passed += value
                    in_scope_inflow[target] += value
                    d.bands.append(Band(_facility_key(key), _facility_key(target), value))
            leftover = inflow - passed
            if key[0] not in ("treatment_plants", "biogas_centers") and leftover > 1e-9:
                kind = "retained" if key[0] == "manure_centers" else "unconnected"
                d.bands.append(Band(_facility_key(key), kind, leftover, kind))
