"""Response bodies of the analyses: coverage, gaps, siting, scenarios, the chain and the indicators."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from service.api.schemas.common import Body

Figures = dict[str, bool | float | int | str | None]


class Coverage(Body):
    layer: str
    distance_m: float = Field(description="the reach used (given, or the standard's)")
    method: str = Field(description="geodesic, or road (along the loaded network)")
    statuses: list[str] = Field(description="facility statuses that counted")
    kind: str | None
    distance_source: str | None = Field(description="request, or the standard the default comes from")
    city: Figures = Field(
        description="<subject>_total / _served counts (villages, population, households, farms, head "
        "count, pig equivalents) and their _served_share"
    )
    towns: list[Figures] = Field(
        description="the same figures per town, with its code, name and name_en (English, when recorded)"
    )
    facilities: list[Figures] = Field(
        description="what each facility serves, with its id, layer, code, name, name_en (English, when "
        "recorded), town_code and position"
    )


class GapPoint(Body):
    kind: str = Field(description="village or farm")
    id: int
    code: str
    name: str = Field(description="Chinese name")
    name_en: str | None = Field(description="English name, when recorded (villages have none)")
    town_code: str | None
    population: float
    pig_equivalents: float
    lon: float
    lat: float
    gap_rank: int = Field(description="rank of the gap area it belongs to")


class GapArea(Body):
    rank: int
    villages: int
    population: float
    farms: int
    pig_equivalents: float
    lon: float = Field(description="centroid")
    lat: float
    hull: dict[str, Any] = Field(description="GeoJSON geometry of the area's convex hull")
    members: list[str] = Field(description="codes of its villages and farms, at most `limit`")
    members_total: int = Field(description="every member, whether listed or not")
    members_truncated: bool = Field(description="true when `limit` cut `members`")


class Truncated(Body):
    villages: bool
    farms: bool
    clusters: bool
    members: bool = Field(description="some area's member list was cut")


class Gaps(Body):
    layer: str
    distance_m: float
    statuses: list[str]
    cluster_radius_m: float
    clustering: str
    villages: list[GapPoint] = Field(description="unserved villages, most people first, at most `limit`")
    farms: list[GapPoint] = Field(description="unserved farms, largest herd first, at most `limit`")
    villages_unserved: int
    farms_unserved: int
    clusters: list[GapArea] = Field(description="gap areas, largest first, at most `limit`")
    clusters_total: int
    limit: int
    truncated: Truncated = Field(description="which lists `limit` cut")


class SitingObjective(Body):
    value: float | None
    sense: str = Field(description="maximise (covering) or minimise (p-median)")
    unit: str


class SitingSolver(Body):
    name: str
    version: str
    via: str


class SitingSize(Body):
    candidates: int
    existing_sites: int
    demand_points: int
    pairs_within_reach: int
    variables: int
    constraints: int


class SitingDemand(Body):
    kind: str = Field(description="villages or livestock_farms")
    weight: str = Field(description="population or pig_equivalents")
    points: int
    total: float
    total_t_per_day: float
    in_model: int
    already_covered: float
    already_covered_points: int
    out_of_reach_points: int
    out_of_reach: float
    out_of_reach_t_per_day: float


class SitingSite(Body):
    lon: float
    lat: float
    town_code: str | None
    label: str | None = Field(description="village code (village candidates) or facility code (existing)")
    covered: float | None = Field(default=None, description="covering: demand newly covered, credited once")
    demand_points: int
    within_reach: float | None = Field(default=None, description="covering: demand within reach")
    assigned_t_per_day: float | None = Field(default=None, description="p-median: load assigned")
    capacity_t_per_day: float | None = None
    utilisation: float | None = None
    mean_distance_m: float | None = Field(default=None, description="p-median: t-weighted mean")
    max_distance_m: float | None = None


class ReachCut(Body):
    cut_off_m: float = Field(description="assignments longer than this were left out")
    pairs_within_distance_m: int
    pairs_kept: int
    max_variables: int
    note: str


class Siting(Body):
    layer: str
    model: str
    k: int
    distance_m: float
    distance_method: str
    status: str = Field(description="optimal, or feasible when the time limit stopped CBC")
    objective: SitingObjective
    gap: float | None = Field(description="relative optimality gap; 0 when proven optimal")
    solver: SitingSolver
    solve_time_s: float
    problem: SitingSize
    demand: SitingDemand
    sites: list[SitingSite] = Field(description="the k chosen sites")
    existing: list[SitingSite] | None = Field(
        default=None, description="p-median: the existing facilities kept open, with their loads"
    )
    reach_cut: ReachCut | None = Field(
        default=None, description="p-median: the distance cut-off that made it fit the size limit, or null"
    )


class Assignments(Body):
    """Proposed (or applied) chain assignments: each source's proposed facility, what stays unassigned."""

    proposed: list[dict[str, Any]]
    unassigned: list[dict[str, Any]]
    applied: int = Field(description="links written (0 unless `apply`)")
