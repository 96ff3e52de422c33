"""What needs attention now: the problems of the chain, most urgent first, each with the map that shows it.

Five kinds, in this order: facilities over capacity (inflow above 100 %), facilities near it (80–100 %,
the legend's orange), non-operational facilities that links still deliver to, villages and farms whose
material goes nowhere, and the other integrity findings (service.chain.integrity). Loads come from the
computed flows (`flows.compute()` must have run in the transaction).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, text

from service import names
from service.chain import integrity
from service.chain.parameters import ChainParameters

OVER, NEAR = 1.0, 0.8  # utilisation bounds of "overloaded" and "near capacity" (the map legend's)
KINDS: dict[str, tuple[str, str]] = {
    "overloaded": ("超负荷设施（>100%）", "Overloaded facilities (>100 %)"),
    "near_capacity": ("接近满负荷设施（80–100%）", "Facilities near capacity (80–100 %)"),
    "inactive_with_flows": ("非运行设施仍有流入", "Non-operational facilities still receiving flows"),
    "unconnected": ("未接入的村庄和养殖场", "Unconnected villages and farms"),
    "integrity": ("其他完整性问题", "Other integrity findings"),
}
# Integrity rules shown under their own kind; capacity is judged here, with the legend's bounds.
RULE_KIND = {"inactive_target": "inactive_with_flows", "source_unconnected": "unconnected"}
CAPACITY_RULES = ("over_capacity", "near_capacity")


@dataclass(frozen=True)
class Problem:
    kind: str
    severity: str
    layer: str
    id: int
    code: str
    name: str
    town_code: str | None
    town_name: str | None
    message: str
    rule: str | None = None
    stream: str | None = None
    numbers: dict[str, Any] = field(default_factory=dict)
    name_en: str | None = None  # (English names where the feature and its town have one)
    town_name_en: str | None = None

    def map_path(self) -> str:
        return f"/maps/facilities/{self.layer}/{self.id}"


LOADED_SQL = """
SELECT f.layer, f.id, f.code, f.name, f.capacity, f.capacity_unit, f.inflow_t_per_day, f.utilisation,
       t.code AS town_code, t.name AS town_name
FROM chain_facility f LEFT JOIN towns t ON t.id = f.town_id
WHERE f.status = 'operational' AND f.utilisation >= :near
ORDER BY f.utilisation DESC, f.layer, f.code
"""


def _loaded(conn: Connection) -> list[Problem]:
    """Operational facilities at 80 % of their capacity or more, fullest first."""
    problems = []
    for r in conn.execute(text(LOADED_SQL), {"near": NEAR}).mappings():
        share = float(r["utilisation"])
        over = share > OVER
        problems.append(
            Problem(
                "overloaded" if over else "near_capacity",
                integrity.ERROR if over else integrity.WARNING,
                r["layer"],
                r["id"],
                r["code"],
                r["name"],
                r["town_code"],
                r["town_name"],
                f"inflow {float(r['inflow_t_per_day']):.1f} t/day = {share:.0%} of capacity "
                f"{float(r['capacity']):g} {r['capacity_unit']}",
                numbers={
                    "inflow_t_per_day": float(r["inflow_t_per_day"]),
                    "capacity": float(r["capacity"]),
                    "capacity_unit": r["capacity_unit"],
                    "utilisation": share,
                },
            )
        )
    return problems


def _town_names(conn: Connection) -> dict[str, tuple[str, str | None]]:
    return {r.code: (r.name, r.name_en) for r in conn.execute(text("SELECT code, name, name_en FROM towns"))}


def problems(conn: Connection, params: ChainParameters | None = None) -> list[Problem]:
    """Every problem, grouped by kind in `KINDS` order."""
    found = _loaded(conn)
    towns = _town_names(conn)
    no_town: tuple[str | None, str | None] = (None, None)
    for f in integrity.check(conn, params):
        if f.rule in CAPACITY_RULES:
            continue
        found.append(
            Problem(
                RULE_KIND.get(f.rule, "integrity"),
                f.severity,
                f.layer,
                f.id,
                f.code,
                f.name,
                f.town_code,
                towns.get(f.town_code or "", no_town)[0],
                f.message,
                f.rule,
                f.stream,
                f.numbers,
            )
        )
    order = {kind: n for n, kind in enumerate(KINDS)}
    english = names.english_names(conn, [(p.layer, p.id) for p in found])
    found = [
        replace(
            p, name_en=english.get((p.layer, p.id)), town_name_en=towns.get(p.town_code or "", no_town)[1]
        )
        for p in found
    ]
    return sorted(found, key=lambda p: order[p.kind])  # stable: each kind keeps its own order


def report(found: list[Problem], base: str = "", lang: str = "zh") -> dict[str, Any]:
    """The JSON document: counts by kind, then each problem with its map's URL; names in `lang`
    (English where the feature has one)."""
    by_kind = {kind: sum(p.kind == kind for p in found) for kind in KINDS}
    suffix = "?lang=en" if lang == "en" else ""
    return {
        "summary": {"total": len(found), "by_kind": by_kind},
        "kinds": {kind: en for kind, (_, en) in KINDS.items()},
        "problems": [_localised(p, lang) | {"map": base + p.map_path() + suffix} for p in found],
    }


def _localised(p: Problem, lang: str) -> dict[str, Any]:
    plain = asdict(p)
    name_en, town_name_en = plain.pop("name_en"), plain.pop("town_name_en")
    return plain | {
        "name": names.local(p.name, name_en, lang),
        "town_name": names.local(p.town_name, town_name_en, lang),
    }
