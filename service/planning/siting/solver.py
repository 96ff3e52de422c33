"""The CBC process: solve a PuLP model with the CBC binary bundled in PuLP, under a wall-clock limit."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# PuLP is imported by the first siting run, not by the service's start
if TYPE_CHECKING:
    import pulp

KILL_GRACE_S = 5.0  # beyond the time limit, before CBC is killed (it may overrun -sec in its root node)


@dataclass
class SolverRun:
    status: str  # optimal | feasible (stopped at the time limit) | infeasible | no_solution | ...
    objective: float | None
    gap: float | None
    seconds: float
    version: str
    variables: int
    constraints: int


def solution_status(code: int) -> str:
    import pulp

    words = {
        pulp.LpSolutionOptimal: "optimal",
        pulp.LpSolutionIntegerFeasible: "feasible",
        pulp.LpSolutionNoSolutionFound: "no_solution",
        pulp.LpSolutionInfeasible: "infeasible",
        pulp.LpSolutionUnbounded: "unbounded",
    }
    return words.get(code, f"cbc_status_{code}")


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
    import pulp

    with warnings.catch_warnings():
        # PuLP 3.x deprecates its bundled CBC for 4.0; pyproject pins pulp < 4 (docs/decisions.md D30)
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(msg=False)


def _cbc_args(cbc: Any, lp: pulp.LpProblem, mps: str, sol: str, time_limit_s: float) -> list[str]:
    import pulp

    sense = ["-max"] if lp.sense == pulp.LpMaximize else []
    return [cbc.path, mps, *sense, "-sec", f"{time_limit_s:g}", "-timeMode", "elapsed", "-solve",
            "-printingOptions", "all", "-solution", sol]  # fmt: skip


def run_cbc(lp: pulp.LpProblem, time_limit_s: float) -> SolverRun:
    """Solve with the CBC binary bundled in PuLP under a wall-clock limit.

    We start CBC ourselves (as PuLP would) so that it can be killed: CBC checks `-sec` only between
    branch-and-bound nodes, and the root node of a large model can overrun it by minutes."""
    import pulp

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
            status = solution_status(lp.sol_status)
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
