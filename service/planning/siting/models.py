"""The formulations (maximal covering, capacitated p-median), solved, and their answers.

y_j = 1 when candidate j opens; exactly k open. Maximal covering: max Σ w_i z_i, z_i ≤ Σ y_j over the
sites within reach of i. Capacitated p-median: min Σ t_i d_ij x_ij with single sourcing and each
site's capacity (see the package's description).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# PuLP is imported by the functions that build a model, not by the service's start
if TYPE_CHECKING:
    import pulp

from service.planning.siting.problem import Site, SitingProblem
from service.planning.siting.query import Unsolvable
from service.planning.siting.settings import SitingSettings
from service.planning.siting.solver import SolverRun, run_cbc


def _covering_model(p: SitingProblem, demand_ids: list[int]) -> tuple[pulp.LpProblem, dict[int, Any]]:
    import pulp

    lp = pulp.LpProblem("maximal_covering", pulp.LpMaximize)
    y = {j: lp.add_variable(f"y{j}", cat=pulp.LpBinary) for j in range(p.n_candidates)}
    z = {i: lp.add_variable(f"z{i}", lowBound=0, upBound=1) for i in demand_ids}
    reach: dict[int, list[int]] = {i: [] for i in demand_ids}
    for j, i, _ in p.pairs:
        if i in reach:
            reach[i].append(j)
    lp += pulp.lpSum(p.demand[i].weight * z[i] for i in demand_ids)
    for i in demand_ids:
        lp += z[i] <= pulp.lpSum(y[j] for j in reach[i]), f"cover_{i}"
    lp += pulp.lpSum(y.values()) == p.query.k, "k_sites"
    return lp, y


def _median_model(
    p: SitingProblem, demand_ids: list[int]
) -> tuple[pulp.LpProblem, dict[int, Any], dict[tuple[int, int], Any]]:
    import pulp

    capacity = p.query.capacity_t_per_day
    lp = pulp.LpProblem("capacitated_p_median", pulp.LpMinimize)
    y = {j: lp.add_variable(f"y{j}", cat=pulp.LpBinary) for j in range(p.n_candidates)}
    x = {(j, i): lp.add_variable(f"x{j}_{i}", cat=pulp.LpBinary) for j, i, _ in p.pairs}
    # t·km per day: demand-weighted distance
    lp += pulp.lpSum(p.demand[i].t_per_day * d / 1000.0 * x[j, i] for j, i, d in p.pairs)
    by_demand: dict[int, list[Any]] = {i: [] for i in demand_ids}
    by_site: dict[int, list[tuple[int, Any]]] = {j: [] for j in range(len(p.sites))}
    for (j, i), var in x.items():
        by_demand[i].append(var)
        by_site[j].append((i, var))
        if j in y:
            lp += var <= y[j], f"open_{j}_{i}"  # strong linking: a much tighter LP bound than capacity alone
    for i in demand_ids:
        lp += pulp.lpSum(by_demand[i]) == 1, f"assign_{i}"
    for j, assigned in by_site.items():
        limit = capacity * y[j] if j in y else p.sites[j].capacity
        if assigned and limit is not None:
            lp += pulp.lpSum(p.demand[i].t_per_day * var for i, var in assigned) <= limit, f"capacity_{j}"
    lp += pulp.lpSum(y.values()) == p.query.k, "k_sites"
    return lp, y, x


def _check_capacity(p: SitingProblem, demand_ids: list[int]) -> None:
    needed = sum(p.demand[i].t_per_day for i in demand_ids)
    existing = [s.capacity for s in p.sites[p.n_candidates :]]
    if any(c is None for c in existing):
        return  # an existing facility without recorded capacity takes any load
    available = p.query.k * (p.query.capacity_t_per_day or 0) + sum(c or 0 for c in existing)
    if available < needed:
        raise Unsolvable(
            "capacity_t_per_day",
            f"k × capacity{' + existing capacity' if existing else ''} = "
            f"{available:,.2f} t/day is less than the {needed:,.2f} t/day to assign",
        )


def _site_out(site: Site) -> dict[str, Any]:
    return {
        "lon": round(site.lon, 7),
        "lat": round(site.lat, 7),
        "town_code": site.town_code,
        "label": site.label,
    }


def _covering_sites(p: SitingProblem, chosen: list[int], demand_ids: list[int]) -> list[dict[str, Any]]:
    """Each covered point is credited to its nearest chosen site, so the sites' figures add up."""
    open_sites = set(chosen)
    in_model = set(demand_ids)
    nearest: dict[int, tuple[float, int]] = {}
    within: dict[int, float] = dict.fromkeys(chosen, 0.0)
    for j, i, d in p.pairs:
        if j in open_sites and i in in_model:
            within[j] += p.demand[i].weight
            if i not in nearest or (d, j) < nearest[i]:
                nearest[i] = (d, j)
    covered = dict.fromkeys(chosen, 0.0)
    points = dict.fromkeys(chosen, 0)
    for i, (_, j) in nearest.items():
        covered[j] += p.demand[i].weight
        points[j] += 1
    return [
        {
            **_site_out(p.sites[j]),
            "covered": covered[j],
            "demand_points": points[j],
            "within_reach": within[j],
        }
        for j in chosen
    ]


def _median_sites(
    p: SitingProblem, sites: list[int], assignment: dict[int, tuple[int, float]]
) -> list[dict[str, Any]]:
    rows = []
    for j in sites:
        mine = [(i, d) for i, (jj, d) in assignment.items() if jj == j]
        load = sum(p.demand[i].t_per_day for i, _ in mine)
        capacity = p.query.capacity_t_per_day if j < p.n_candidates else p.sites[j].capacity
        rows.append(
            {
                **_site_out(p.sites[j]),
                "assigned_t_per_day": load,
                "demand_points": len(mine),
                "capacity_t_per_day": capacity,
                "utilisation": load / capacity if capacity else None,
                "mean_distance_m": (sum(p.demand[i].t_per_day * d for i, d in mine) / load) if load else None,
                "max_distance_m": max((d for _, d in mine), default=None),
            }
        )
    return rows


def _demand_summary(p: SitingProblem, demand_ids: list[int]) -> dict[str, Any]:
    unit = "pig_equivalents" if p.query.is_manure else "population"
    reachable = {i for _, i, _ in p.pairs}
    existing = [d for d in p.demand if d.covered_by_existing] if p.query.include_existing else []
    return {
        "kind": "livestock_farms" if p.query.is_manure else "villages",
        "weight": unit,
        "points": len(p.demand),
        "total": sum(d.weight for d in p.demand),
        "total_t_per_day": sum(d.t_per_day for d in p.demand),
        "in_model": len(demand_ids),
        "already_covered": sum(d.weight for d in existing),
        "already_covered_points": len(existing),
        "out_of_reach_points": len(p.demand) - len(reachable),
        "out_of_reach": sum(d.weight for i, d in enumerate(p.demand) if i not in reachable),
        "out_of_reach_t_per_day": sum(d.t_per_day for i, d in enumerate(p.demand) if i not in reachable),
    }


def _result(
    p: SitingProblem, run: SolverRun, demand_ids: list[int], sites: list[dict[str, Any]]
) -> dict[str, Any]:
    import pulp

    covering = p.query.model == "maximal_covering"
    return {
        "layer": p.query.layer,
        "model": p.query.model,
        "k": p.query.k,
        "distance_m": p.query.distance_m,
        "distance_method": "geodesic (WGS84 spheroid, PostGIS geography)",
        "status": run.status,
        "objective": {
            "value": run.objective,
            "sense": "maximise" if covering else "minimise",
            "unit": _objective_unit(p) if covering else "t·km/day (demand × geodesic distance)",
        },
        "gap": run.gap,
        "solver": {"name": "CBC", "version": run.version, "via": f"PuLP {pulp.__version__}"},
        "solve_time_s": round(run.seconds, 3),
        "problem": {
            "candidates": p.n_candidates,
            "existing_sites": len(p.sites) - p.n_candidates,
            "demand_points": len(demand_ids),
            "pairs_within_reach": len(p.pairs),
            "variables": run.variables,
            "constraints": run.constraints,
        },
        "demand": _demand_summary(p, demand_ids),
        "sites": sites,
    }


def _objective_unit(p: SitingProblem) -> str:
    return "pig equivalents newly covered" if p.query.is_manure else "people newly covered"


def _chosen(y: dict[int, Any]) -> list[int]:
    return sorted(j for j, var in y.items() if (var.value() or 0) > 0.5)


def solve(p: SitingProblem, settings: SitingSettings | None = None) -> dict[str, Any]:
    """Build the MILP and solve it with CBC within the time limit; the answer says how good it is."""
    settings = settings or SitingSettings()
    time_limit = p.query.time_limit_s or settings.time_limit_s
    demand_ids = p.model_demand()
    if p.query.model == "maximal_covering":
        lp, y = _covering_model(p, demand_ids)
        run = _checked(run_cbc(lp, time_limit), time_limit)
        return _result(p, run, demand_ids, _covering_sites(p, _chosen(y), demand_ids))
    _check_capacity(p, demand_ids)
    oversized = _oversized_demand(p, demand_ids)
    if oversized:
        raise oversized
    lp, y, x = _median_model(p, demand_ids)
    run = run_cbc(lp, time_limit)
    if run.status in ("infeasible", "no_solution"):
        # without a solution in time, the distance may still prove it impossible
        why = _why_infeasible(p, demand_ids, time_limit)
        if run.status == "infeasible" or why.parameter == "distance_m":
            raise why
    run = _checked(run, time_limit)
    distance = {(j, i): d for j, i, d in p.pairs}
    assignment = {i: (j, distance[j, i]) for (j, i), var in x.items() if (var.value() or 0) > 0.5}
    result = _result(p, run, demand_ids, _median_sites(p, _chosen(y), assignment))
    result["existing"] = _median_sites(p, list(range(p.n_candidates, len(p.sites))), assignment)
    result["reach_cut"] = _reach_cut_out(p)
    return result


def _reach_cut_out(p: SitingProblem) -> dict[str, Any] | None:
    cut = p.reach_cut
    if cut is None:
        return None
    return {
        "cut_off_m": round(cut.cut_off_m, 1),
        "pairs_within_distance_m": cut.pairs_before,
        "pairs_kept": cut.pairs_kept,
        "max_variables": cut.max_variables,
        "note": "assignments longer than cut_off_m were left out to fit the size limit; "
        "each demand point kept its nearest site",
    }


def _cut_note(p: SitingProblem) -> str:
    cut = p.reach_cut
    if cut is None:
        return ""
    return (
        f" (assignments were limited to {cut.cut_off_m:,.0f} m, each point's nearest site kept, to fit "
        f"the size limit: a wider grid spacing keeps the whole distance_m)"
    )


def _oversized_demand(p: SitingProblem, demand_ids: list[int]) -> Unsolvable | None:
    """A demand point needing more than any site within its reach can take: infeasible whatever k."""
    capacity = p.query.capacity_t_per_day or 0.0
    room: dict[int, float] = {}
    for j, i, _ in p.pairs:
        site_room = capacity if j < p.n_candidates else (p.sites[j].capacity or float("inf"))
        room[i] = max(room.get(i, 0.0), site_room)
    too_big = [i for i in demand_ids if p.demand[i].t_per_day > room.get(i, 0.0) + 1e-9]
    if too_big:
        worst = max(too_big, key=lambda i: p.demand[i].t_per_day)
        return Unsolvable(
            "capacity_t_per_day",
            f"{len(too_big)} demand point(s) need more than any site within reach can take: "
            f"{p.demand[worst].code} alone needs {p.demand[worst].t_per_day:,.2f} t/day, "
            f"over {room.get(worst, 0.0):,.2f} t/day; raise capacity_t_per_day",
        )
    return None


def _why_infeasible(p: SitingProblem, demand_ids: list[int], time_limit: float) -> Unsolvable:
    """Name what makes a p-median infeasible: k sites that cannot reach every point, or else the
    capacities (each point to one site)."""
    capacity = p.query.capacity_t_per_day or 0.0
    reached = _most_reachable(p, demand_ids, time_limit)
    if reached is not None and reached < len(demand_ids):
        return Unsolvable(
            "distance_m",
            f"no {p.query.k} site(s) reach every demand point within {p.query.distance_m:,.0f} m: "
            f"at most {reached:,} of {len(demand_ids):,} can be reached{_cut_note(p)}; "
            "raise k or distance_m",
        )
    return Unsolvable(
        "capacity_t_per_day",
        f"{p.query.k} site(s) can reach every demand point within {p.query.distance_m:,.0f} m, but not "
        f"with each new site taking at most {capacity:,.2f} t/day and each point delivering to one site"
        f"{_cut_note(p)}; raise capacity_t_per_day or k",
    )


def _most_reachable(p: SitingProblem, demand_ids: list[int], time_limit: float) -> int | None:
    """The most demand points k sites reach (existing ones open), by maximal covering with unit weights;
    None when CBC cannot say in time."""
    import pulp

    lp = pulp.LpProblem("reachable", pulp.LpMaximize)
    y = {j: lp.add_variable(f"y{j}", cat=pulp.LpBinary) for j in range(p.n_candidates)}
    z = {i: lp.add_variable(f"z{i}", lowBound=0, upBound=1) for i in demand_ids}
    reach: dict[int, list[int]] = {i: [] for i in demand_ids}
    always: set[int] = set()
    for j, i, _ in p.pairs:
        if i in reach:
            if j >= p.n_candidates:
                always.add(i)
            reach[i].append(j)
    lp += pulp.lpSum(z.values())
    for i in demand_ids:
        if i not in always:
            lp += z[i] <= pulp.lpSum(y[j] for j in reach[i] if j < p.n_candidates), f"cover_{i}"
    lp += pulp.lpSum(y.values()) == p.query.k, "k_sites"
    run = run_cbc(lp, time_limit)
    if run.status != "optimal" or run.objective is None:
        return None
    return round(run.objective)


def _checked(run: SolverRun, time_limit: float) -> SolverRun:
    if run.status not in ("optimal", "feasible"):
        raise Unsolvable(
            "time_limit_s",
            f"CBC found no solution within {time_limit:g} s (status {run.status}); "
            "use fewer candidates or a shorter distance_m, or raise time_limit_s",
        )
    return run
