"""RFC 9457 problem+json responses, and the one mapping from exceptions to HTTP statuses.

Routers raise (or let through) the domain's errors (`service.errors`), and the database's; the handler
table below turns each into a problem document. Streamed responses that fail before their first byte
use `problem_for` too, so an error answers the same whichever way it surfaced. A browser on an HTML
page gets the same error as a page (`service.api.error_pages`), its status unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import errors
from service.config import RuntimeSettings, settings
from service.db import driver_error, unavailable_detail

PROBLEM_JSON = "application/problem+json"
PARAMETER_PREFIX = re.compile(r"([a-z][a-z0-9_]*): ")
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    503: "Service Unavailable",
}
# The domain's errors by class; the most specific class listed first wins.
STATUSES: tuple[tuple[type[errors.SanichainError], int], ...] = (
    (errors.BadParameter, 400),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.TooManyAttempts, 429),
    (errors.NotFound, 404),
    (errors.PreconditionFailed, 412),
    (errors.PreconditionRequired, 428),
    (errors.BodyTooLarge, 413),
    (errors.UnsupportedMedia, 415),
    (errors.DependencyMissing, 409),
    (errors.Conflict, 409),
    (errors.TooLarge, 422),
    (errors.Unprocessable, 422),
    (errors.Unavailable, 503),
)


def problem(status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0]


def problem_for(exc: Exception) -> JSONResponse:
    """The problem document of a domain or database error; anything else is re-raised (a bug: 500)."""
    if isinstance(exc, errors.SanichainError):
        status = next(code for cls, code in STATUSES if isinstance(exc, cls))
        extra = dict(exc.extra)
        if isinstance(exc, errors.BadParameter):
            extra = {"parameter": exc.parameter, **extra}
        retry = {"Retry-After": str(extra["retry_after_s"])} if "retry_after_s" in extra else None
        challenge = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return problem(status, exc.message, headers=retry or challenge or _retry_after(status), **extra)
    if isinstance(exc, DataError):  # a value PostgreSQL refuses (e.g. out of a type's range)
        return problem(400, f"a parameter value cannot be used: {_first_line(exc)}")
    if isinstance(exc, OperationalError | PoolTimeout):  # no host or port to the client; logged
        return problem(503, unavailable_detail(exc), headers=_retry_after(503))
    if isinstance(exc, psycopg2.Error):  # from code that drives psycopg2 itself (COPY)
        return problem_for(driver_error(exc))
    raise exc


def _retry_after(status: int) -> dict[str, str] | None:
    return {"Retry-After": str(settings(RuntimeSettings).retry_after_s)} if status == 503 else None


async def as_page_if_asked(request: Request, answer: JSONResponse) -> Response:
    """The problem document, or for a browser on an HTML page the same error as a page
    (`service.api.error_pages`; imported here, as it imports the modules that import this one)."""
    from service.api import error_pages

    return await error_pages.page(request, answer) if error_pages.is_page(request) else answer


def install(app: FastAPI) -> None:
    async def domain_error(request: Request, exc: Exception) -> Response:
        return await as_page_if_asked(request, problem_for(exc))

    for cls in (errors.SanichainError, DataError, OperationalError, PoolTimeout, psycopg2.Error):
        app.add_exception_handler(cls, domain_error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = str(exc.detail)
        # our messages start with the parameter they are about ("status: unknown value…"): name it
        named = PARAMETER_PREFIX.match(detail) if 400 <= exc.status_code < 500 else None
        extra = {"parameter": named.group(1)} if named else {}
        answer = problem(exc.status_code, detail, headers=getattr(exc, "headers", None), **extra)
        return await as_page_if_asked(request, answer)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors_ = [
            {"parameter": ".".join(str(p) for p in err.get("loc", ())[1:]), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors_) or "invalid request"
        named = {e["parameter"] for e in errors_}
        extra = {"parameter": named.pop()} if len(named) == 1 else {}  # one parameter at fault: name it
        return await as_page_if_asked(request, problem(400, detail, errors=errors_, **extra))
