"""Scenarios on the demo and a compact digest of their answers, recorded when scenarios still wrote to the
inventory tables inside a rolled-back transaction (tests/data/scenario_answers.json): playing them on
copies must give the same answers."""

from __future__ import annotations

from typing import Any

from service.planning import scenarios as sc

DEMO_SCENARIOS = {
    "transfer stations: close one, shrink one, add one": sc.Scenario(
        "ts",
        "transfer_stations",
        5000,
        add=[sc.NewSite(119.30, 36.05, 20.0, "TS-NEW")],
        remove=["TS-370782001"],
        capacity={"TS-370782002": 5.0},
    ),
    "collection points: close three, add two, longer reach after": sc.Scenario(
        "cp",
        "collection_points",
        1000,
        distance_m_after=1500,
        add=[sc.NewSite(119.41, 36.00), sc.NewSite(119.22, 35.98, 0.5, "CP-NEW-2")],
        remove=["CP-37078200120101", "CP-37078200120102", "CP-37078200120103"],
    ),
    "manure centres: close one, cap one, add one": sc.Scenario(
        "mc",
        "manure_centers",
        10000,
        add=[sc.NewSite(119.35, 36.10, 300.0)],
        remove=["MC-01"],
        capacity={"MC-02": 100.0},
    ),
    "transfer stations along the roads: close one": sc.Scenario(
        "road", "transfer_stations", 5000, remove=["TS-370782003"], distance_mode="road"
    ),
}


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def digest(result: dict[str, Any]) -> dict[str, Any]:
    """Coverage before/after, town differences, sources moved, unconnected flows and every facility
    whose load the scenario changes (the unchanged ones are the same rows before and after)."""
    changed = [f for f in result["chain"]["facilities"] if f["before"] != f["after"]]
    return _rounded(
        {
            "distance_m": result["distance_m"],
            "coverage": result["coverage"],
            "sources_moved": result["chain"]["sources_moved"],
            "unconnected_t_per_day": result["chain"]["unconnected_t_per_day"],
            "facilities_changed": changed,
            "facilities": len(result["chain"]["facilities"]),
        }
    )
