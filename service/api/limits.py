"""The analysis limits a request is held to: `app.state.analysis_limits` when set (tests set small ones),
else the configured ones, read once per process."""

from __future__ import annotations

from fastapi import Request

from service.config import AnalysisLimitSettings, settings


def analysis_limits(request: Request) -> AnalysisLimitSettings:
    configured = getattr(request.app.state, "analysis_limits", None)
    return configured if isinstance(configured, AnalysisLimitSettings) else settings(AnalysisLimitSettings)
