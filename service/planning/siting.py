"""Siting: the best k new sites of a facility layer, by maximal covering or by capacitated p-median.

Data comes from PostGIS, the optimisation from CBC (through PuLP). `prepare()` fills temporary tables in
the caller's transaction and reads back what the model needs:

- `siting_candidate` (idx, lon, lat, label, geom): candidate sites — given points, a regular grid over the
  city outline (in the UTM zone of the villages) or the village locations;
- `siting_existing`: operational facilities of the layer (only with `include_existing`);
- `siting_demand` (idx, code, weight, t_per_day, covered_by_existing): villages for the domestic-waste
  layers (weight = population, t/day = population × waste rate), operational farms for the manure layers
  (weight = pig equivalents, t/day = manure);
- `siting_pair` (site_idx, demand_idx, distance_m): every site–demand pair within `distance_m`,
  geodesic on the WGS84 spheroid (ST_DWithin / ST_Distance on geography).

`solve()` then needs no database: the connection is released before CBC runs.

Models (y_j = 1 when candidate j opens; exactly k open):
- maximal covering: max Σ w_i z_i, z_i ≤ Σ_{j within reach of i} y_j, 0 ≤ z_i ≤ 1 (z is integral at the
  optimum because y is);
- capacitated p-median: min Σ t_i d_ij x_ij, Σ_j x_ij = 1, Σ_i t_i x_ij ≤ C y_j, x_ij ≤ y_j, x binary
  (single sourcing: a village delivers to one site). Demand with no site within reach is left out and
  reported; existing facilities (with `include_existing`) are open sites with their recorded capacity.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import pulp
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, text

from service.chain.livestock import FARM_MEASURES_CTE, species_json
from service.chain.parameters import ChainParameters
from service.coverage.gaps import utm_srid
from service.coverage.query import MAX_DISTANCE_M

WASTE_LAYERS = ("collection_points", "transfer_stations", "treatment_plants")
MANURE_LAYERS = ("manure_centers", "biogas_centers")
SITING_LAYERS = WASTE_LAYERS + MANURE_LAYERS
MODELS = ("maximal_covering", "p_median")
CANDIDATE_SOURCES = ("points", "grid", "villages")
MIN_GRID_SPACING_M = 100.0
MAX_GRID_SPACING_M = 50_000.0
KILL_GRACE_S = 5.0  # beyond the time limit, before CBC is killed (it may overrun -sec in its root node)


class SitingSettings(BaseSettings):
    """Limits of a siting request: about the largest problems CBC solved to optimality within 60 s on the
    demo city (docs/benchmarks.md, "Siting (issue 5)"); anything larger is refused with a 422."""

    model_config = SettingsConfigDict(env_prefix="SANICHAIN_SITING_", env_file=".env", extra="ignore")

    # demo, 2 cores: covering 19,075 variables optimal in 14 s of CBC; p-median 12,947 in 10 s, 20,195 not
    # proven optimal in 60 s (gap 0.14 %)
    max_variables_covering: int = Field(default=20_000, ge=1)
    max_variables_median: int = Field(default=13_000, ge=1)
    # reading the pairs and building the model cost as much as CBC itself on covering problems
    max_pairs: int = Field(default=750_000, ge=1)
    time_limit_s: float = Field(default=20.0, gt=0, le=600)


class SitingError(ValueError):
    """A request that cannot be answered as asked; the message names the parameter (HTTP 400)."""


class ProblemTooLarge(SitingError):
    """The model would have more variables than can be solved within the time budget (HTTP 422)."""

    def __init__(self, parameter: str, measure: str, size: int, limit: int) -> None:
        super().__init__(
            f"{parameter}: the problem would have {size:,} {measure}; this service solves up to {limit:,} "
            "within its time budget — use fewer candidates (a wider grid spacing) or a shorter distance_m"
        )
        self.measure = measure
        self.size = size
        self.limit = limit


class Unsolvable(SitingError):
    """A well-formed problem without a feasible solution, or none found in time (HTTP 422)."""


@dataclass(frozen=True)
class Candidates:
    source: str  # points | grid | villages
    points: tuple[tuple[float, float], ...] = ()  # (lon, lat) when source == "points"
    spacing_m: float | None = None  # when source == "grid"


@dataclass(frozen=True)
class SitingQuery:
    layer: str
    model: str
    k: int
    distance_m: float
    candidates: Candidates
    include_existing: bool = False
    capacity_t_per_day: float | None = None  # per new site; p-median only
    time_limit_s: float | None = None

    def validate(self) -> None:
        if self.layer not in SITING_LAYERS:
            raise SitingError(f"layer: {self.layer!r} is not a facility layer ({', '.join(SITING_LAYERS)})")
        if self.model not in MODELS:
            raise SitingError(f"model: {self.model!r} is not one of {', '.join(MODELS)}")
        if self.k < 1:
            raise SitingError(f"k: must be at least 1, got {self.k}")
        if not 0 < self.distance_m <= MAX_DISTANCE_M:
            raise SitingError(
                f"distance_m: must be > 0 and ≤ {MAX_DISTANCE_M:,.0f} m, got {self.distance_m:g}"
            )
        if self.model == "p_median" and self.capacity_t_per_day is None:
            raise SitingError("capacity_t_per_day: required for p_median (capacity of each new site, t/day)")
        if self.model == "maximal_covering" and self.capacity_t_per_day is not None:
            raise SitingError("capacity_t_per_day: only used by p_median")
        self._validate_candidates()

    def _validate_candidates(self) -> None:
        c = self.candidates
        if c.source not in CANDIDATE_SOURCES:
            raise SitingError(f"candidates.source: {c.source!r} is not one of {', '.join(CANDIDATE_SOURCES)}")
        if c.source == "points" and not c.points:
            raise SitingError("candidates.points: the candidate set is empty")
        if c.source == "grid" and not (
            c.spacing_m is not None and MIN_GRID_SPACING_M <= c.spacing_m <= MAX_GRID_SPACING_M
        ):
            raise SitingError(
                f"candidates.spacing_m: must be between {MIN_GRID_SPACING_M:g} and {MAX_GRID_SPACING_M:g} m"
            )

    @property
    def is_manure(self) -> bool:
        return self.layer in MANURE_LAYERS


@dataclass
class Site:
    lon: float
    lat: float
    label: str | None  # village code (village candidates) or facility code (existing)
    town_code: str | None
    existing: bool = False
    capacity: float | None = None  # t/day; None = not recorded (no limit in the model)


@dataclass
class Demand:
    code: str
    weight: float  # population, or pig equivalents for manure layers
    t_per_day: float
    covered_by_existing: bool


@dataclass
class SitingProblem:
    query: SitingQuery
    sites: list[Site]  # candidates first (0 .. n_candidates-1), then existing facilities
    n_candidates: int
    demand: list[Demand]
    pairs: list[tuple[int, int, float]] = field(default_factory=list)  # (site, demand, distance_m)

    def model_demand(self) -> list[int]:
        """Demand points the model decides on: within reach of some site, not served already (covering)."""
        reachable = {i for _, i, _ in self.pairs}
        covering = self.query.model == "maximal_covering"
        return [
            i
            for i in sorted(reachable)
            if not (covering and self.query.include_existing and self.demand[i].covered_by_existing)
        ]


# ---------------------------------------------------------------------------------------------- data


def _reset(conn: Connection) -> None:
    for table in ("siting_pair", "siting_demand", "siting_existing", "siting_candidate"):
        conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
    conn.execute(
        text(
            "CREATE TEMP TABLE siting_candidate (idx int PRIMARY KEY, label text, "
            "geom geometry(Point, 4326) NOT NULL) ON COMMIT DROP"
        )
    )


def _city_outline_area_m2(conn: Connection, srid: int) -> float | None:
    return conn.execute(
        text("SELECT ST_Area(ST_Transform(ST_Union(geom), :srid)) FROM cities"), {"srid": srid}
    ).scalar_one()


def _load_given(conn: Connection, points: tuple[tuple[float, float], ...]) -> None:
    if conn.execute(text("SELECT count(*) FROM cities")).scalar_one() == 0:
        raise SitingError("candidates.points: no city outline in the inventory to check them against")
    conn.execute(
        text(
            "INSERT INTO siting_candidate (idx, geom) "
            "SELECT i - 1, ST_SetSRID(ST_MakePoint(lons[i], lats[i]), 4326) "
            "FROM (SELECT CAST(:lons AS float8[]) AS lons, CAST(:lats AS float8[]) AS lats) a, "
            "generate_subscripts(CAST(:lons AS float8[]), 1) AS i"
        ),
        {"lons": [p[0] for p in points], "lats": [p[1] for p in points]},
    )
    outside = (
        conn.execute(
            text(
                "SELECT idx FROM siting_candidate c "
                "WHERE NOT EXISTS (SELECT 1 FROM cities o WHERE ST_Intersects(o.geom, c.geom)) ORDER BY idx"
            )
        )
        .scalars()
        .all()
    )
    if outside:
        shown = ", ".join(str(i) for i in outside[:10])
        raise SitingError(
            f"candidates.points: {len(outside)} point(s) outside the city outline (index {shown})"
        )


def _load_grid(conn: Connection, spacing_m: float, max_points: int) -> None:
    srid = utm_srid(conn)
    area = _city_outline_area_m2(conn, srid)
    if area is None:
        raise SitingError("candidates: no city outline in the inventory to lay a grid over")
    # refuse before generating: a fine grid over a large city would take the database a long time
    estimate = math.ceil(area / spacing_m**2)
    if estimate > max_points:
        raise ProblemTooLarge(
            "candidates.spacing_m", "variables (one per grid point, at least)", estimate, max_points
        )
    conn.execute(
        text(
            """
            INSERT INTO siting_candidate (idx, geom)
            WITH city AS (SELECT ST_Transform(ST_Union(geom), :srid) AS g FROM cities),
            cell AS (SELECT ST_Centroid(s.geom) AS c FROM city, ST_SquareGrid(:spacing, city.g) AS s)
            SELECT row_number() OVER (ORDER BY ST_Y(cell.c), ST_X(cell.c)) - 1, ST_Transform(cell.c, 4326)
            FROM cell, city WHERE ST_Intersects(cell.c, city.g)
            """
        ),
        {"srid": srid, "spacing": spacing_m},
    )


def _load_villages(conn: Connection) -> None:
    conn.execute(
        text(
            "INSERT INTO siting_candidate (idx, label, geom) "
            "SELECT row_number() OVER (ORDER BY code) - 1, code, geom FROM villages"
        )
    )


def _load_candidates(conn: Connection, q: SitingQuery, max_points: int) -> int:
    c = q.candidates
    if c.source == "points":
        _load_given(conn, c.points)
    elif c.source == "grid":
        assert c.spacing_m is not None
        _load_grid(conn, c.spacing_m, max_points)
    else:
        _load_villages(conn)
    count: int = conn.execute(text("SELECT count(*) FROM siting_candidate")).scalar_one()
    if count == 0:
        raise SitingError(f"candidates: the {c.source} candidate set is empty")
    if q.k > count:
        raise SitingError(f"k: {q.k} is more than the {count} candidate site(s)")
    conn.execute(text("CREATE INDEX ON siting_candidate USING gist ((geom::geography))"))
    conn.execute(text("ANALYZE siting_candidate"))
    return count


DEMAND_SQL = {
    "villages": """
        CREATE TEMP TABLE siting_demand ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY v.code) - 1 AS idx, v.code, v.population::float8 AS weight,
               v.population * coalesce(v.waste_rate_kg_per_person_day, :waste_rate)::float8 / 1000.0
                   AS t_per_day, v.geom
        FROM villages v
    """,
    "farms": f"""
        CREATE TEMP TABLE siting_demand ON COMMIT DROP AS
        WITH {FARM_MEASURES_CTE}
        SELECT row_number() OVER (ORDER BY f.code) - 1 AS idx, f.code, m.head_on_hand * m.pig_eq AS weight,
               m.head_on_hand * m.manure_kg / 1000.0 AS t_per_day, f.geom
        FROM farm_measure m JOIN livestock_farms f ON f.id = m.id
        WHERE m.status = 'operational'
    """,
}


def _load_demand(conn: Connection, q: SitingQuery, params: ChainParameters) -> None:
    sql = DEMAND_SQL["farms" if q.is_manure else "villages"]
    conn.execute(text(sql), {"waste_rate": params.waste_kg_per_person_day, "species": species_json()})
    conn.execute(
        text("ALTER TABLE siting_demand ADD COLUMN covered_by_existing boolean NOT NULL DEFAULT false")
    )
    conn.execute(text("CREATE INDEX ON siting_demand USING gist ((geom::geography))"))
    conn.execute(text("ANALYZE siting_demand"))
    if q.include_existing:
        # layer comes from the SITING_LAYERS whitelist (validated), never from raw input
        conn.execute(
            text(
                f"CREATE TEMP TABLE siting_existing ON COMMIT DROP AS "
                f"SELECT row_number() OVER (ORDER BY code) - 1 AS idx, code, capacity::float8 AS capacity, "
                f"geom FROM {q.layer} WHERE status = 'operational'"
            )
        )
        conn.execute(
            text(
                "UPDATE siting_demand d SET covered_by_existing = true WHERE EXISTS "
                "(SELECT 1 FROM siting_existing e WHERE ST_DWithin(d.geom::geography, e.geom::geography, :d))"
            ),
            {"d": q.distance_m},
        )


def _load_pairs(conn: Connection, q: SitingQuery, n_candidates: int) -> None:
    existing = ""
    if q.include_existing and q.model == "p_median":
        existing = """
            UNION ALL
            SELECT :n + e.idx, d.idx, ST_Distance(e.geom::geography, d.geom::geography)
            FROM siting_existing e
            JOIN siting_demand d ON ST_DWithin(d.geom::geography, e.geom::geography, :d)
        """
    conn.execute(
        text(
            f"""
            CREATE TEMP TABLE siting_pair ON COMMIT DROP AS
            SELECT c.idx AS site_idx, d.idx AS demand_idx,
                   ST_Distance(c.geom::geography, d.geom::geography) AS distance_m
            FROM siting_candidate c
            JOIN siting_demand d ON ST_DWithin(d.geom::geography, c.geom::geography, :d)
            {existing}
            """
        ),
        {"d": q.distance_m, "n": n_candidates},
    )


def _refuse_too_many_pairs(conn: Connection, q: SitingQuery, n_candidates: int, max_pairs: int) -> None:
    """Refuse before the pair join when even a rough count (candidates × demand × reach disc / city area)
    is far above the limit: with a 100 km reach the join alone would take minutes."""
    srid = utm_srid(conn)
    area = _city_outline_area_m2(conn, srid)
    if not area:
        return
    n_demand: int = conn.execute(text("SELECT count(*) FROM siting_demand")).scalar_one()
    share = min(1.0, math.pi * q.distance_m**2 / area)
    estimate = math.ceil(n_candidates * n_demand * share)
    if estimate > 3 * max_pairs:  # the estimate ignores edges and clustering: refuse only clear cases
        raise ProblemTooLarge(
            "distance_m", "candidate–demand pairs within reach (estimated)", estimate, max_pairs
        )


def _estimated_variables(conn: Connection, q: SitingQuery, n_candidates: int) -> int:
    """Variables of the model before it is built: y per candidate, plus z per demand point in reach
    (covering) or x per candidate/existing–demand pair (p-median)."""
    if q.model == "p_median":
        pairs: int = conn.execute(text("SELECT count(*) FROM siting_pair")).scalar_one()
        return n_candidates + pairs
    reachable: int = conn.execute(
        text(
            "SELECT count(DISTINCT p.demand_idx) FROM siting_pair p "
            "JOIN siting_demand d ON d.idx = p.demand_idx WHERE NOT (:existing AND d.covered_by_existing)"
        ),
        {"existing": q.include_existing},
    ).scalar_one()
    return n_candidates + reachable


def _read_sites(conn: Connection, q: SitingQuery) -> list[Site]:
    town = "(SELECT t.code FROM towns t WHERE ST_Intersects(t.geom, x.geom) ORDER BY t.code LIMIT 1)"
    sites = [
        Site(lon, lat, label, town_code)
        for lon, lat, label, town_code in conn.execute(
            text(f"SELECT ST_X(x.geom), ST_Y(x.geom), x.label, {town} FROM siting_candidate x ORDER BY x.idx")
        )
    ]
    if q.include_existing and q.model == "p_median":
        sites += [
            Site(lon, lat, code, town_code, existing=True, capacity=capacity)
            for lon, lat, code, capacity, town_code in conn.execute(
                text(
                    f"SELECT ST_X(x.geom), ST_Y(x.geom), x.code, x.capacity, {town} "
                    "FROM siting_existing x ORDER BY x.idx"
                )
            )
        ]
    return sites


def prepare(
    conn: Connection,
    q: SitingQuery,
    settings: SitingSettings | None = None,
    params: ChainParameters | None = None,
) -> SitingProblem:
    """Candidates, demand and the pairs within reach, from PostGIS; refuses a problem too large to solve."""
    settings = settings or SitingSettings()
    q.validate()
    _reset(conn)
    n_candidates = _load_candidates(conn, q, max_variables_for(q.model, settings))
    _load_demand(conn, q, params or ChainParameters())
    _refuse_too_many_pairs(conn, q, n_candidates, settings.max_pairs)
    _load_pairs(conn, q, n_candidates)
    _check_size(conn, q, n_candidates, settings)
    demand = [
        Demand(code, float(weight or 0), float(t or 0), covered)
        for code, weight, t, covered in conn.execute(
            text("SELECT code, weight, t_per_day, covered_by_existing FROM siting_demand ORDER BY idx")
        )
    ]
    pairs = [(int(j), int(i), float(d)) for j, i, d in conn.execute(text("SELECT * FROM siting_pair"))]
    return SitingProblem(q, _read_sites(conn, q), n_candidates, demand, pairs)


def _check_size(conn: Connection, q: SitingQuery, n_candidates: int, settings: SitingSettings) -> None:
    max_variables = max_variables_for(q.model, settings)
    variables = _estimated_variables(conn, q, n_candidates)
    if variables > max_variables:
        raise ProblemTooLarge("candidates", f"variables ({q.model})", variables, max_variables)
    pairs: int = conn.execute(text("SELECT count(*) FROM siting_pair")).scalar_one()
    if pairs > settings.max_pairs:
        raise ProblemTooLarge("distance_m", "candidate–demand pairs within reach", pairs, settings.max_pairs)


def max_variables_for(model: str, settings: SitingSettings) -> int:
    return settings.max_variables_median if model == "p_median" else settings.max_variables_covering


# -------------------------------------------------------------------------------------------- solver


@dataclass
class SolverRun:
    status: str  # optimal | feasible (stopped at the time limit) | infeasible | no_solution | ...
    objective: float | None
    gap: float | None
    seconds: float
    version: str
    variables: int
    constraints: int


SOLUTION_STATUS = {
    pulp.LpSolutionOptimal: "optimal",
    pulp.LpSolutionIntegerFeasible: "feasible",
    pulp.LpSolutionNoSolutionFound: "no_solution",
    pulp.LpSolutionInfeasible: "infeasible",
    pulp.LpSolutionUnbounded: "unbounded",
}


def _log_number(log: str, label: str) -> float | None:
    match = re.search(rf"^{label}:\s+(-?[0-9.eE+-]+)", log, re.MULTILINE)
    return float(match.group(1)) if match else None


def _relative_gap(status: str, objective: float | None, log: str) -> float | None:
    """0 when proven optimal; else |bound − incumbent| / |incumbent| from CBC's final report (CBC prints
    its own "Gap" with two decimals only, too coarse to report)."""
    if status == "optimal":
        return 0.0
    bound = _log_number(log, "Lower bound") or _log_number(log, "Upper bound")
    if objective is None or bound is None:
        return None
    return abs(bound - objective) / max(abs(objective), 1e-9)


def _bundled_cbc() -> Any:
    with warnings.catch_warnings():
        # PuLP 3.x deprecates its bundled CBC for 4.0; pyproject pins pulp < 4 (docs/decisions.md D30)
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(msg=False)


def _cbc_args(cbc: Any, lp: pulp.LpProblem, mps: str, sol: str, time_limit_s: float) -> list[str]:
    sense = ["-max"] if lp.sense == pulp.LpMaximize else []
    return [cbc.path, mps, *sense, "-sec", f"{time_limit_s:g}", "-timeMode", "elapsed", "-solve",
            "-printingOptions", "all", "-solution", sol]  # fmt: skip


def run_cbc(lp: pulp.LpProblem, time_limit_s: float) -> SolverRun:
    """Solve with the CBC binary bundled in PuLP under a wall-clock limit.

    We start CBC ourselves (as PuLP would) so that it can be killed: CBC checks `-sec` only between
    branch-and-bound nodes, and the root node of a large model can overrun it by minutes."""
    cbc = _bundled_cbc()
    with tempfile.TemporaryDirectory(prefix="sanichain-cbc-") as tmp:
        mps, sol = os.path.join(tmp, "model.mps"), os.path.join(tmp, "model.sol")
        variables, variable_names, constraint_names, _ = lp.writeMPS(mps, rename=1)
        started = time.perf_counter()
        try:
            done = subprocess.run(
                _cbc_args(cbc, lp, mps, sol, time_limit_s),
                capture_output=True,
                text=True,
                timeout=time_limit_s + KILL_GRACE_S,
                check=False,
            )
            log, killed = done.stdout, False
        except subprocess.TimeoutExpired as exc:
            log, killed = str(exc.stdout or ""), True
        seconds = time.perf_counter() - started
        if killed or not os.path.exists(sol):
            status = "time_limit_exceeded" if killed else "solver_error"
        else:
            code, values, _, _, _, sol_status = cbc.readsol_MPS(
                sol, lp, variables, variable_names, constraint_names
            )
            lp.assignVarsVals(values)
            lp.assignStatus(code, sol_status)
            status = SOLUTION_STATUS.get(lp.sol_status, f"cbc_status_{lp.sol_status}")
    objective = pulp.value(lp.objective) if status in ("optimal", "feasible") else None
    version = re.search(r"^Version:\s*(\S+)", log, re.MULTILINE)
    return SolverRun(
        status=status,
        objective=float(objective) if objective is not None else None,
        gap=_relative_gap(status, objective, log),
        seconds=seconds,
        version=version.group(1) if version else "unknown",
        variables=lp.numVariables(),
        constraints=lp.numConstraints(),
    )


# ------------------------------------------------------------------------------------------- models


def _covering_model(p: SitingProblem, demand_ids: list[int]) -> tuple[pulp.LpProblem, dict[int, Any]]:
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
            f"capacity_t_per_day: k × capacity{' + existing capacity' if existing else ''} = "
            f"{available:,.2f} t/day is less than the {needed:,.2f} t/day to assign"
        )


# ------------------------------------------------------------------------------------------- results


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
    lp, y, x = _median_model(p, demand_ids)
    run = _checked(run_cbc(lp, time_limit), time_limit)
    distance = {(j, i): d for j, i, d in p.pairs}
    assignment = {i: (j, distance[j, i]) for (j, i), var in x.items() if (var.value() or 0) > 0.5}
    result = _result(p, run, demand_ids, _median_sites(p, _chosen(y), assignment))
    result["existing"] = _median_sites(p, list(range(p.n_candidates, len(p.sites))), assignment)
    return result


def _checked(run: SolverRun, time_limit: float) -> SolverRun:
    if run.status == "infeasible":
        raise Unsolvable(
            "capacity_t_per_day: no assignment within distance_m respects every site's capacity "
            "(single sourcing); raise the capacity, k or distance_m"
        )
    if run.status not in ("optimal", "feasible"):
        raise Unsolvable(
            f"time_limit_s: CBC found no solution within {time_limit:g} s (status {run.status}); "
            "use fewer candidates or a shorter distance_m"
        )
    return run
