"""What an edit does to the chain: two snapshots of the computed chain, taken in the edit's own
transaction before and after the change, and their difference.

    before = snapshot(conn, touched)   # touched: (layer name, feature id) of each edited feature
    ... the edit's writes ...
    after = snapshot(conn, touched)
    consequences = compare(before, after)   # JSON-ready

Each snapshot reads the stored chain (D113) brought up to date in this transaction, so the second one
sees the edit folded in; what it folds in goes with the transaction when a dry run rolls back. A snapshot
holds the whole city's chain (facility loads, links, integrity findings, which sources are served,
stream totals) so that the difference can name facilities downstream of an edited link that is gone
after the edit, or of a new one that was not there before. The difference is kept compact: the
touched facilities, and the facilities downstream of them whose figures changed; findings created,
cleared or changed; villages and farms that lost or gained service; streams whose totals changed.
docs/editing.md "Consequences of an edit" describes the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from service.chain import flows, indicators, integrity
from service.chain.computation import prepare
from service.chain.parameters import SOURCE_LAYERS, ChainParameters
from service.models import FACILITY_LAYERS

DIGITS = (
    4  # t/day and utilisation are compared and shown to this many decimals (sums differ in the last bits)
)

Node = tuple[str, int]  # (layer name, feature id)
# (rule, layer, id, stream, link id or None): the identity of a finding; its message may change
FindingKey = tuple[str, str, int, str | None, int | None]
Sources = dict[str, dict[Node, dict[str, Any]]]  # stream → (layer, id) → code and name


@dataclass(frozen=True)
class Snapshot:
    touched: tuple[Node, ...]
    facilities: dict[Node, dict[str, Any]]
    links: dict[int, tuple[str, Node, Node]]  # link id → (stream, source, target)
    findings: dict[FindingKey, dict[str, Any]]
    served: Sources
    unserved: Sources  # sources that generate but are not served
    streams: dict[str, dict[str, float]]


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def _facilities(conn: Connection) -> dict[Node, dict[str, Any]]:
    rows = conn.execute(
        text(
            """
            SELECT layer, id, code, name, status, capacity, capacity_unit, inflow_t_per_day, utilisation
            FROM chain_facility
            """
        )
    ).mappings()
    return {
        (r["layer"], int(r["id"])): {
            "code": r["code"],
            "name": r["name"],
            "status": r["status"],
            "capacity": _round(r["capacity"]),
            "capacity_unit": r["capacity_unit"],
            "load_t_per_day": _round(r["inflow_t_per_day"]),
            "utilisation": _round(r["utilisation"]),
        }
        for r in rows
    }


def _links(conn: Connection) -> dict[int, tuple[str, Node, Node]]:
    rows = conn.execute(
        text("SELECT id, stream, source_layer, source_id, target_layer, target_id FROM chain_links")
    )
    return {int(r[0]): (r[1], (r[2], int(r[3])), (r[4], int(r[5]))) for r in rows}


def _findings(conn: Connection, params: ChainParameters) -> dict[FindingKey, dict[str, Any]]:
    found: dict[FindingKey, dict[str, Any]] = {}
    for f in integrity.check(conn, params):
        key = (f.rule, f.layer, f.id, f.stream, f.numbers.get("link_id"))
        found[key] = {
            "rule": f.rule,
            "severity": f.severity,
            "layer": f.layer,
            "id": f.id,
            "code": f.code,
            "name": f.name,
            "stream": f.stream,
            "message": f.message,
        }
    return found


def _sources(conn: Connection) -> tuple[Sources, Sources]:
    """Per stream, the sources served (their material reaches an operational end facility through
    operational facilities only: the indicators' rule) and those that generate but are not."""
    served: Sources = {}
    unserved: Sources = {}
    for stream, layer in SOURCE_LAYERS.items():
        connected = indicators.connected_ids(conn, stream, layer)
        rows = conn.execute(
            text(
                """
                SELECT n.id, n.code, n.name FROM chain_generation g
                JOIN chain_node n ON n.layer = g.layer AND n.id = g.id
                WHERE g.stream = :stream AND g.t_per_day > 0
                """
            ),
            {"stream": stream},
        )
        served[stream], unserved[stream] = {}, {}
        for feature_id, code, name in rows:
            side = served if int(feature_id) in connected else unserved
            side[stream][(layer, int(feature_id))] = {"code": code, "name": name}
    return served, unserved


def _streams(conn: Connection) -> dict[str, dict[str, float]]:
    return {
        s.stream: {
            "generated_t_per_day": round(s.generated_t_per_day, DIGITS),
            "unconnected_t_per_day": round(s.unconnected_t_per_day, DIGITS),
            "delivered_t_per_day": round(s.delivered_t_per_day, DIGITS),
            "retained_t_per_day": round(s.retained_t_per_day, DIGITS),
        }
        for s in flows.stream_totals(conn)
    }


def snapshot(
    conn: Connection, touched: Sequence[tuple[str, int]], params: ChainParameters | None = None
) -> Snapshot:
    """The chain as it stands in this transaction (the stored chain with this transaction's changes)."""
    params = params or ChainParameters()
    prepare(conn, params)
    served, unserved = _sources(conn)
    return Snapshot(
        touched=tuple((layer, int(feature_id)) for layer, feature_id in touched),
        facilities=_facilities(conn),
        links=_links(conn),
        findings=_findings(conn, params),
        served=served,
        unserved=unserved,
        streams=_streams(conn),
    )


def _starts(snap: Snapshot, touched: Iterable[Node]) -> set[Node]:
    """The chain nodes an edit starts from: a touched feature itself, or both ends of a touched link."""
    nodes: set[Node] = set()
    for layer, feature_id in touched:
        if layer == "chain_links":
            if feature_id in snap.links:
                _, source, target = snap.links[feature_id]
                nodes.update((source, target))
        else:
            nodes.add((layer, feature_id))
    return nodes


def _downstream(snap: Snapshot, starts: set[Node]) -> set[Node]:
    """The starts and every node their links lead to, in any stream (links may form cycles)."""
    onward: dict[Node, list[Node]] = {}
    for _, source, target in snap.links.values():
        onward.setdefault(source, []).append(target)
    seen, todo = set(starts), list(starts)
    while todo:
        for nxt in onward.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


FIGURES = ("status", "capacity", "load_t_per_day", "utilisation")


def _facility_changes(before: Snapshot, after: Snapshot) -> list[dict[str, Any]]:
    touched = set(before.touched) | set(after.touched)
    # an edited facility, or either end of an edited link, is always shown
    shown = {n for n in _starts(before, touched) | _starts(after, touched) if n[0] in FACILITY_LAYERS}
    reach = _downstream(before, _starts(before, touched)) | _downstream(after, _starts(after, touched))
    changes = []
    for node in sorted(n for n in reach | shown if n[0] in FACILITY_LAYERS):
        was, now = before.facilities.get(node), after.facilities.get(node)
        if was is None and now is None:
            continue
        differs = was is None or now is None or any(was[k] != now[k] for k in FIGURES)
        if not differs and node not in shown:
            continue
        named = now or was
        assert named is not None
        changes.append(
            {
                "layer": node[0],
                "id": node[1],
                "code": named["code"],
                "name": named["name"],
                "touched": node in shown,
                "capacity_unit": named["capacity_unit"],
                **{k: {"before": was and was[k], "after": now and now[k]} for k in FIGURES},
            }
        )
    return changes


def _finding_changes(before: Snapshot, after: Snapshot) -> dict[str, list[dict[str, Any]]]:
    changed = [
        {**after.findings[key], "message_before": before.findings[key]["message"]}
        for key in sorted(before.findings.keys() & after.findings.keys(), key=str)
        if before.findings[key]["message"] != after.findings[key]["message"]
        or before.findings[key]["severity"] != after.findings[key]["severity"]
    ]
    return {
        "created": [
            after.findings[k] for k in sorted(after.findings.keys() - before.findings.keys(), key=str)
        ],
        "cleared": [
            before.findings[k] for k in sorted(before.findings.keys() - after.findings.keys(), key=str)
        ],
        "changed": changed,
    }


def _source_changes(before: Snapshot, after: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """Sources that were served and now generate without being served, and the other way round (a
    source that stops generating, a closed farm, is in neither)."""

    def moved(was: dict[str, dict[Node, Any]], now: dict[str, dict[Node, Any]]) -> list[dict[str, Any]]:
        return [
            {"stream": stream, "layer": node[0], "id": node[1], **now[stream][node]}
            for stream in SOURCE_LAYERS
            for node in sorted(was[stream].keys() & now[stream].keys())
        ]

    return {
        "left_unserved": moved(before.served, after.unserved),
        "newly_served": moved(before.unserved, after.served),
    }


def _stream_changes(before: Snapshot, after: Snapshot) -> list[dict[str, Any]]:
    changes = []
    for stream, was in before.streams.items():
        now = after.streams.get(stream, {})
        if was != now:
            changes.append(
                {"stream": stream, **{k: {"before": v, "after": now.get(k)} for k, v in was.items()}}
            )
    return changes


def compare(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """What changed between two snapshots of one transaction, JSON-ready (see the module's docstring)."""
    facilities = _facility_changes(before, after)
    findings = _finding_changes(before, after)
    sources = _source_changes(before, after)
    streams = _stream_changes(before, after)
    return {
        "summary": {
            "facilities_changed": sum(
                any(f[k]["before"] != f[k]["after"] for k in FIGURES) for f in facilities
            ),
            "findings_created": len(findings["created"]),
            "findings_cleared": len(findings["cleared"]),
            "sources_left_unserved": len(sources["left_unserved"]),
            "sources_newly_served": len(sources["newly_served"]),
            "errors_before": sum(f["severity"] == integrity.ERROR for f in before.findings.values()),
            "errors_after": sum(f["severity"] == integrity.ERROR for f in after.findings.values()),
        },
        "facilities": facilities,
        "findings": findings,
        "sources": sources,
        "streams": streams,
    }
