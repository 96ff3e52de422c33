"""Coverage endpoints: who is served within a distance of a facility layer, and where the gaps are."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from service.api.coverage_params import CoverageQueryParams
from service.api.deps import engine_of
from service.api.problems import problem_for
from service.api.report_params import LangQuery, ReportLang, lang_of, xlsx_response
from service.api.streaming import CursorStreamingResponse
from service.coverage import gaps, report
from service.coverage.computation import computed, feature_texts
from service.features.collection_stream import feature_collection
from service.maps.i18n import words

router = APIRouter(tags=["coverage"])


class CoverageFormat(StrEnum):
    json = "json"
    geojson = "geojson"
    xlsx = "xlsx"


class GapsFormat(StrEnum):
    json = "json"
    xlsx = "xlsx"


@router.get("/coverage", summary="Villages, people and farms served by a facility layer within a distance")
def coverage(
    request: Request,
    q: CoverageQueryParams,
    format: CoverageFormat = CoverageFormat.json,
    lang: LangQuery = ReportLang.zh,
) -> Any:
    engine = engine_of(request)
    if format is CoverageFormat.geojson:
        chunks = feature_collection(feature_texts(engine, q))
        return CursorStreamingResponse(chunks, "application/geo+json", on_error=problem_for)
    with computed(engine, q) as found:
        meta = found.about()
        result = found.summary()
        if format is CoverageFormat.xlsx:
            filename = f"coverage-{q.layer}-{found.distance_m:.0f}m.xlsx"
            book = found.workbook(meta, result, lang_of(lang), words(lang_of(lang)))
            return xlsx_response(book, filename)
    return JSONResponse({**meta, **result})


@router.get("/coverage/gaps", summary="Unserved villages and farms, ranked and clustered into gap areas")
def coverage_gaps(
    request: Request,
    q: CoverageQueryParams,
    cluster_radius_m: Annotated[
        float | None,
        Query(gt=0, le=gaps.MAX_CLUSTER_M, description="largest gap-area radius; default distance_m"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    format: GapsFormat = GapsFormat.json,
    lang: LangQuery = ReportLang.zh,
) -> Any:
    with computed(engine_of(request), q) as found:
        gap_areas = found.gaps(cluster_radius_m, limit)
        road = {"method": "road", "road": found.road_access()} if found.road else {}
    asked = {"layer": q.layer, "distance_m": found.distance_m, "statuses": list(q.statuses), **road}
    if format is GapsFormat.xlsx:
        meta = {**asked, "cluster_radius_m": gap_areas["cluster_radius_m"], "limit": limit}
        filename = f"gaps-{q.layer}-{found.distance_m:.0f}m.xlsx"
        book = report.workbook_of_gaps(meta, gap_areas, lang_of(lang), words(lang_of(lang)))
        return xlsx_response(book, filename)
    return JSONResponse({**asked, **gap_areas})
