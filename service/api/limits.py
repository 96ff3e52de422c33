"""The analysis limits a request is held to: `app.state.analysis_limits` when set (tests set small ones),
else the configured ones, read once per process."""

from __future__ import annotations

import threading

from fastapi import FastAPI, Request

from service.config import AnalysisLimitSettings, settings
from service.planning.siting.slots import SolverSlots

_creating = threading.Lock()


def analysis_limits(request: Request) -> AnalysisLimitSettings:
    configured = getattr(request.app.state, "analysis_limits", None)
    return configured if isinstance(configured, AnalysisLimitSettings) else settings(AnalysisLimitSettings)


def solver_slots(app: FastAPI) -> SolverSlots:
    """The application's siting solver slots, made on first use with the configured size."""
    with _creating:
        slots = getattr(app.state, "solver_slots", None)
        if not isinstance(slots, SolverSlots):
            configured = getattr(app.state, "analysis_limits", None)
            if not isinstance(configured, AnalysisLimitSettings):
                configured = settings(AnalysisLimitSettings)
            slots = app.state.solver_slots = SolverSlots(configured.siting_max_concurrent_solves)
        return slots
