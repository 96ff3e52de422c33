"""Response bodies of the what-if scenarios: played, saved, listed.

Coverage figures are counts of what is served within the reach (people, households, villages, farms,
pig equivalents); loads are in t/day and utilisation a fraction (0–1)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from service.api.schemas.common import Body, Link

T_DAY = "t/day"


class Served(Body):
    """What the layer's facilities serve within the reach, city-wide (or its change)."""

    villages_served: int = Field(description="administrative villages within reach of a facility")
    population_served: int = Field(description="people living in them")
    households_served: int = Field(description="rural households in them")
    farms_served: int = Field(description="large-scale farms within reach")
    pig_equivalents_served: float = Field(description="their livestock, in pig equivalents")


class TownDifference(Body):
    code: str = Field(description="9-digit town code")
    name: str = Field(description="Chinese name")
    difference: Served = Field(description="after − before, in the town")


class ScenarioCoverage(Body):
    before: Served = Field(description="the inventory as it is")
    after: Served = Field(description="with the scenario's changes")
    difference: Served = Field(description="after − before (negative: fewer served)")
    towns: list[TownDifference] = Field(description="every town's difference")


class Load(Body):
    status: str = Field(description="operational, closed (a removed site), …")
    capacity: float | None = Field(description=f"{T_DAY}; null when none is recorded")
    inflow_t_per_day: float | None = Field(description=f"material arriving, {T_DAY}")
    utilisation: float | None = Field(description="inflow / capacity, a fraction 0–1 (1 = full)")


class ScenarioFacility(Body):
    code: str = Field(description="the facility's code (SCENARIO-n or the one given for a new site)")
    name: str | None = Field(description="Chinese name (a new site's given name, or 规划新址 n)")
    hypothetical: bool = Field(description="a site the scenario adds")
    before: Load | None = Field(description="its load now; null for a new site")
    after: Load | None = Field(description="its load with the scenario")


class StreamTonnes(Body):
    """stream → t/day"""

    domestic_waste: float | None = Field(default=None, description=T_DAY)
    fecal_sludge: float | None = Field(default=None, description=T_DAY)
    manure: float | None = Field(default=None, description=T_DAY)


class UnconnectedTonnes(Body):
    before: StreamTonnes = Field(description=f"material with no downstream link now, {T_DAY} by stream")
    after: StreamTonnes = Field(description=f"the same with the scenario, {T_DAY} by stream")


class ScenarioChain(Body):
    sources_moved: int = Field(description="villages, farms or facilities whose downstream link changed")
    unconnected_t_per_day: UnconnectedTonnes
    facilities: list[ScenarioFacility] = Field(description="every facility of the layer, before and after")


class Reach(Body):
    before: float | None = Field(description="reach of the coverage before, m")
    after: float | None = Field(description="reach after (distance_m_after, else the same), m")


class Scenario(Body):
    """A played scenario: what was asked, coverage before/after and the chain's loads."""

    name: str | None = Field(description="the scenario's name")
    layer: str = Field(description="the facility layer played with")
    distance_m: Reach
    distance_mode: str = Field(description="geodesic, or road (along the loaded network)")
    coverage: ScenarioCoverage
    chain: ScenarioChain
    id: int | None = Field(default=None, description="the saved scenario's id (`save`), else null")


class SavedScenario(Body):
    """A saved scenario: its id, name, the request as given and the result as played then."""

    id: int
    name: str | None = Field(description="the scenario's name")
    created_at: str = Field(description="ISO 8601 time it was saved")
    request: dict[str, Any] = Field(description="the body of POST /planning/scenarios, as given")
    result: Scenario


class ListedScenario(Body):
    id: int
    name: str | None = Field(description="the scenario's name")
    created_at: str = Field(description="ISO 8601 time it was saved")
    layer: str = Field(description="the facility layer played with")
    difference: Served = Field(description="the city's coverage difference, after − before")


class ScenarioPage(Body):
    scenarios: list[ListedScenario] = Field(description="saved scenarios, oldest first")
    links: list[Link] = Field(description="`next` when there are more")
