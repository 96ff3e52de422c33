"""Query parameters of the routes that answer reports: the language of labels and headers, and the
download a report is answered as (one helper, so every route names the same way what it cannot do)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from service.reports.columns import Lang
from service.reports.workbook import XLSX, filename_header


class ReportLang(StrEnum):
    zh = "zh"
    en = "en"


LangQuery = Annotated[
    ReportLang, Query(description="language of labels, headers and titles: zh (default) or en")
]


def lang_of(lang: ReportLang) -> Lang:
    return "en" if lang is ReportLang.en else "zh"


def xlsx_response(content: bytes, filename: str) -> Response:
    return Response(content, media_type=XLSX, headers=filename_header(filename))


def csv_response(content: bytes, filename: str) -> Response:
    return Response(content, media_type="text/csv; charset=utf-8", headers=filename_header(filename))
