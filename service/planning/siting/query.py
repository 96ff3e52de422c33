"""A siting question: the layer, the model, k, the reach and the candidate sites, checked before any work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.coverage.query import MAX_DISTANCE_M
from service.errors import BadParameter, TooLarge, Unprocessable
from service.models import FACILITY_LAYERS, MANURE_FACILITY_LAYERS

SITING_LAYERS = FACILITY_LAYERS
MODELS = ("maximal_covering", "p_median")
CANDIDATE_SOURCES = ("points", "grid", "villages")
MIN_GRID_SPACING_M = 100.0
MAX_GRID_SPACING_M = 50_000.0
PAIRS_LIMIT_VARIABLE = "SANICHAIN_SITING_MAX_PAIRS"


class SitingError(BadParameter):
    """A request that cannot be answered as asked; names the parameter (HTTP 400)."""


class ProblemTooLarge(TooLarge):
    """The model would have more variables than can be solved within the time budget (HTTP 422)."""

    def __init__(
        self, parameter: str, measure: str, size: int, limit: int, detail: str | None = None, **extra: Any
    ) -> None:
        super().__init__(
            detail
            or f"{parameter}: the problem would have {size:,} {measure}; this service solves up to "
            f"{limit:,} within its time budget — use fewer candidates (a wider grid spacing) or a shorter "
            "distance_m",
            measure=measure,
            size=size,
            max_size=limit,
            **extra,
        )
        self.parameter = parameter
        self.measure = measure
        self.size = size
        self.limit = limit


class TooManyPairs(ProblemTooLarge):
    """More candidate–demand pairs within reach than the limit, found before they are computed."""

    def __init__(self, estimate: int, limit: int, fits_distance_m: float | None) -> None:
        advice = (
            f"ask for at most about {fits_distance_m:,.0f} m or use fewer candidates"
            if fits_distance_m
            else "use fewer candidates (a wider grid spacing) or a shorter distance_m"
        )
        super().__init__(
            "distance_m",
            "candidate–demand pairs within reach",
            max(estimate, limit + 1),
            limit,
            detail=f"distance_m: the problem would have more than {limit:,} candidate–demand pairs within "
            f"reach (about {max(estimate, limit + 1):,}); the limit is {limit:,} ({PAIRS_LIMIT_VARIABLE}); "
            + advice,
            setting=PAIRS_LIMIT_VARIABLE,
            fits_distance_m=fits_distance_m,
        )
        self.extra = {"parameter": "distance_m", **self.extra}


class Unsolvable(Unprocessable):
    """A well-formed problem without a feasible solution, or none found in time (HTTP 422)."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}", parameter=parameter)
        self.parameter = parameter


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
            raise SitingError("layer", f"{self.layer!r} is not a facility layer ({', '.join(SITING_LAYERS)})")
        if self.model not in MODELS:
            raise SitingError("model", f"{self.model!r} is not one of {', '.join(MODELS)}")
        if self.k < 1:
            raise SitingError("k", f"must be at least 1, got {self.k}")
        if not 0 < self.distance_m <= MAX_DISTANCE_M:
            raise SitingError(
                "distance_m", f"must be > 0 and ≤ {MAX_DISTANCE_M:,.0f} m, got {self.distance_m:g}"
            )
        if self.model == "p_median" and self.capacity_t_per_day is None:
            raise SitingError(
                "capacity_t_per_day", "required for p_median (capacity of each new site, t/day)"
            )
        if self.model == "maximal_covering" and self.capacity_t_per_day is not None:
            raise SitingError("capacity_t_per_day", "only used by p_median")
        self._validate_candidates()

    def _validate_candidates(self) -> None:
        c = self.candidates
        if c.source not in CANDIDATE_SOURCES:
            raise SitingError(
                "candidates.source", f"{c.source!r} is not one of {', '.join(CANDIDATE_SOURCES)}"
            )
        if c.source == "points" and not c.points:
            raise SitingError("candidates.points", "the candidate set is empty")
        if c.source == "grid" and not (
            c.spacing_m is not None and MIN_GRID_SPACING_M <= c.spacing_m <= MAX_GRID_SPACING_M
        ):
            raise SitingError(
                "candidates.spacing_m", f"must be between {MIN_GRID_SPACING_M:g} and {MAX_GRID_SPACING_M:g} m"
            )

    @property
    def is_manure(self) -> bool:
        return self.layer in MANURE_FACILITY_LAYERS
