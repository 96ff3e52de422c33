"""A siting problem set up in PostGIS: candidates, demand and the pairs within reach, read back for the model.

`prepare()` fills temporary tables in the caller's transaction (see the package's description) and
refuses, before the expensive steps, a problem too large to solve in the time budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from service.chain.livestock import FARM_MEASURES_CTE
from service.chain.parameters import ChainParameters
from service.coverage.gaps import utm_srid
from service.planning.siting.query import ProblemTooLarge, SitingError, SitingQuery, TooManyPairs
from service.planning.siting.settings import SitingSettings


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


@dataclass(frozen=True)
class ReachCut:
    """Pairs longer than `cut_off_m` left out of a p-median so that it fits the size limit; each demand
    point keeps its nearest site whatever its distance, so no demand drops out of the model."""

    cut_off_m: float
    pairs_before: int
    pairs_kept: int
    max_variables: int


@dataclass
class SitingProblem:
    query: SitingQuery
    sites: list[Site]  # candidates first (0 .. n_candidates-1), then existing facilities
    n_candidates: int
    demand: list[Demand]
    pairs: list[tuple[int, int, float]] = field(default_factory=list)  # (site, demand, distance_m)
    reach_cut: ReachCut | None = None  # p-median pairs dropped to fit the size limit

    def model_demand(self) -> list[int]:
        """Demand points the model decides on: within reach of some site, not served already (covering)."""
        reachable = {i for _, i, _ in self.pairs}
        covering = self.query.model == "maximal_covering"
        return [
            i
            for i in sorted(reachable)
            if not (covering and self.query.include_existing and self.demand[i].covered_by_existing)
        ]


def _reset(conn: Connection) -> None:
    for table in (
        "siting_pair_kept",
        "siting_pair_rank",
        "siting_pair",
        "siting_demand",
        "siting_existing",
        "siting_candidate",
    ):
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
        raise SitingError("candidates.points", "no city outline in the inventory to check them against")
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
            "candidates.points", f"{len(outside)} point(s) outside the city outline (index {shown})"
        )


def _load_grid(conn: Connection, spacing_m: float, max_points: int) -> None:
    srid = utm_srid(conn)
    area = _city_outline_area_m2(conn, srid)
    if area is None:
        raise SitingError("candidates", "no city outline in the inventory to lay a grid over")
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
        raise SitingError("candidates", f"the {c.source} candidate set is empty")
    if q.k > count:
        raise SitingError("k", f"{q.k} is more than the {count} candidate site(s)")
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
    conn.execute(text(sql), {"waste_rate": params.waste_kg_per_person_day})
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


def _pair_sources(q: SitingQuery) -> str:
    """Every site–demand pair within :d (candidates, and existing facilities for the p-median)."""
    existing = ""
    if q.include_existing and q.model == "p_median":
        existing = """
            UNION ALL
            SELECT :n + e.idx, d.idx, e.geom, d.geom
            FROM siting_existing e
            JOIN siting_demand d ON ST_DWithin(d.geom::geography, e.geom::geography, :d)"""
    return f"""
            SELECT c.idx AS site_idx, d.idx AS demand_idx, c.geom AS site, d.geom AS demand
            FROM siting_candidate c
            JOIN siting_demand d ON ST_DWithin(d.geom::geography, c.geom::geography, :d){existing}"""


def _load_pairs(conn: Connection, q: SitingQuery, n_candidates: int) -> None:
    conn.execute(
        text(
            "CREATE TEMP TABLE siting_pair ON COMMIT DROP AS "
            "SELECT site_idx, demand_idx, ST_Distance(site::geography, demand::geography) AS distance_m "
            f"FROM ({_pair_sources(q)}) p"
        ),
        {"d": q.distance_m, "n": n_candidates},
    )


def _refuse_too_many_pairs(conn: Connection, q: SitingQuery, n_candidates: int, max_pairs: int) -> None:
    """Refuse before the pairs are computed: count them up to `max_pairs` + 1 (index probes only, no
    distances; at most that many rows whatever the reach), then say what would fit."""
    counted: int = conn.execute(
        text(f"SELECT count(*) FROM ({_pair_sources(q)} LIMIT :cap) p"),
        {"d": q.distance_m, "n": n_candidates, "cap": max_pairs + 1},
    ).scalar_one()
    if counted <= max_pairs:
        return
    n_demand: int = conn.execute(text("SELECT count(*) FROM siting_demand")).scalar_one()
    area = _city_outline_area_m2(conn, utm_srid(conn))
    share = min(1.0, math.pi * q.distance_m**2 / area) if area else 1.0
    estimate = math.ceil(n_candidates * n_demand * share)  # mean density: the size, roughly
    raise TooManyPairs(estimate, max_pairs, _fitting_distance(conn, n_candidates, max_pairs))


FIT_SAMPLE = 64  # candidates sampled for the reach that fits
# Each sampled candidate's nearest demand points (geodesic KNN on the demand's geography index).
NEAREST_DEMAND_SQL = """
    SELECT n.m FROM siting_candidate c CROSS JOIN LATERAL (
        SELECT c.geom::geography <-> d.geom::geography AS m FROM siting_demand d
        ORDER BY c.geom::geography <-> d.geom::geography LIMIT :per) n
    WHERE c.idx % :step = 0"""


def _fitting_distance(conn: Connection, n_candidates: int, max_pairs: int) -> float | None:
    """About the longest reach with at most `max_pairs` pairs, from a sample of candidates: the pooled
    distances to their nearest demand points estimate the pairs within r as n_candidates / sample × the
    distances ≤ r. Bounded: at most 1.5 × the pairs a candidate may have, per sampled candidate."""
    per_candidate = max_pairs / n_candidates
    if per_candidate < 1:
        return None
    step = max(1, math.ceil(n_candidates / FIT_SAMPLE))
    sample = math.ceil(n_candidates / step)
    distances = sorted(
        conn.execute(
            text(NEAREST_DEMAND_SQL), {"per": math.ceil(1.5 * per_candidate) + 1, "step": step}
        ).scalars()
    )
    allowed = math.floor(per_candidate * sample)  # sampled pairs that scale up to the limit
    if allowed >= len(distances):
        return None
    # a little under the estimate: the sample's error
    fits = math.floor(0.9 * distances[allowed] / 10) * 10
    return float(fits) if fits > 0 else None


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
    cut = _cut_reach_to_fit(conn, q, n_candidates, settings) if q.model == "p_median" else None
    _check_size(conn, q, n_candidates, settings)
    demand = [
        Demand(code, float(weight or 0), float(t or 0), covered)
        for code, weight, t, covered in conn.execute(
            text("SELECT code, weight, t_per_day, covered_by_existing FROM siting_demand ORDER BY idx")
        )
    ]
    pairs = [(int(j), int(i), float(d)) for j, i, d in conn.execute(text("SELECT * FROM siting_pair"))]
    return SitingProblem(q, _read_sites(conn, q), n_candidates, demand, pairs, cut)


def _cut_reach_to_fit(
    conn: Connection, q: SitingQuery, n_candidates: int, settings: SitingSettings
) -> ReachCut | None:
    """A p-median over the size limit is made to fit by a distance cut-off rather than refused: the
    assignments it drops are the longest, the ones an optimum rarely uses. Each demand point keeps its
    nearest site; the rest of the budget (one variable per pair after one per candidate) goes to the
    shortest pairs. Refused only when the candidates and nearest pairs alone exceed the limit."""
    limit = settings.max_variables_median
    before: int = conn.execute(text("SELECT count(*) FROM siting_pair")).scalar_one()
    if n_candidates + before <= limit:
        return None
    conn.execute(
        text(
            "CREATE TEMP TABLE siting_pair_rank ON COMMIT DROP AS SELECT site_idx, demand_idx, distance_m, "
            "row_number() OVER (PARTITION BY demand_idx ORDER BY distance_m, site_idx) AS rn FROM siting_pair"
        )
    )
    nearest: int = conn.execute(text("SELECT count(*) FROM siting_pair_rank WHERE rn = 1")).scalar_one()
    budget = limit - n_candidates - nearest
    if budget < 1:
        fits = max(limit - nearest, 0)
        raise ProblemTooLarge(
            "candidates",
            f"variables ({q.model})",
            n_candidates + nearest,
            limit,
            detail=f"candidates: {n_candidates:,} candidates and one assignment for each of the {nearest:,} "
            f"demand points need {n_candidates + nearest:,} variables, over the {limit:,} this service "
            f"solves; use at most about {fits:,} candidates (a wider grid spacing)",
            fits_candidates=fits,
        )
    cut_off: float = conn.execute(
        text(
            "SELECT max(distance_m) FROM (SELECT distance_m FROM siting_pair_rank WHERE rn > 1 "
            "ORDER BY distance_m LIMIT :budget) s"
        ),
        {"budget": budget},
    ).scalar_one()
    # exactly the `budget` shortest, whatever the ties at the cut-off
    conn.execute(
        text(
            "CREATE TEMP TABLE siting_pair_kept ON COMMIT DROP AS "
            "SELECT site_idx, demand_idx, distance_m FROM siting_pair_rank WHERE rn = 1 UNION ALL "
            "(SELECT site_idx, demand_idx, distance_m FROM siting_pair_rank WHERE rn > 1 "
            "ORDER BY distance_m, site_idx, demand_idx LIMIT :budget)"
        ),
        {"budget": budget},
    )
    conn.execute(text("TRUNCATE siting_pair"))
    conn.execute(
        text("INSERT INTO siting_pair SELECT site_idx, demand_idx, distance_m FROM siting_pair_kept")
    )
    kept: int = conn.execute(text("SELECT count(*) FROM siting_pair")).scalar_one()
    return ReachCut(float(cut_off), before, kept, limit)


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
