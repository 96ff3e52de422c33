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

from service.planning.siting.models import solve
from service.planning.siting.problem import Demand, Site, SitingProblem, max_variables_for, prepare
from service.planning.siting.query import (
    CANDIDATE_SOURCES,
    MAX_GRID_SPACING_M,
    MIN_GRID_SPACING_M,
    MODELS,
    SITING_LAYERS,
    Candidates,
    ProblemTooLarge,
    SitingError,
    SitingQuery,
    TooManyPairs,
    Unsolvable,
)
from service.planning.siting.settings import SitingSettings
from service.planning.siting.slots import SolverBusy, SolverSlots
from service.planning.siting.solver import KILL_GRACE_S, SolverRun, run_cbc

__all__ = [
    "CANDIDATE_SOURCES",
    "KILL_GRACE_S",
    "MAX_GRID_SPACING_M",
    "MIN_GRID_SPACING_M",
    "MODELS",
    "SITING_LAYERS",
    "Candidates",
    "Demand",
    "ProblemTooLarge",
    "Site",
    "SitingError",
    "SitingProblem",
    "SitingQuery",
    "SitingSettings",
    "SolverBusy",
    "SolverRun",
    "SolverSlots",
    "TooManyPairs",
    "Unsolvable",
    "max_variables_for",
    "prepare",
    "run_cbc",
    "solve",
]
