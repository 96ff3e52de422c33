"""Imports through the API: upload a file, follow its job, read its report, confirm a dry run.

- `POST /imports` (multipart: `file`, `layer` and the options) answers **202 Accepted** with
  `Location: /imports/{id}` and the job as it stands. The upload is read only here, after the sign-in
  and role checks, streamed to the import directory and held to `SANICHAIN_IMPORT_MAX_BYTES`. The answer
  waits up to `SANICHAIN_IMPORT_WAIT_S` for the job, so a small file's report comes with it (status
  `done`); a larger one is followed with `GET /imports/{id}`.
- `GET /imports/{id}`: status, progress (stage, rows), the report once done, the error once failed.
- `GET /imports/{id}/rejected.csv`: the rejected rows as the file had them, with the problem of each.
- `POST /imports/{id}/confirm` (`{"valid_rows_only": false}`): the dry run's file imported for real,
  with the same options: 202 and the new job.

A job is its user's (admins see all): another user's is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from service.accounts.permissions import Action
from service.accounts.tokens import Principal
from service.api import import_form
from service.api.deps import engine_of
from service.api.headers import base_url
from service.api.observability import metrics_of
from service.api.openapi_responses import PROBLEM_JSON, PROBLEM_REF
from service.api.security import SignedIn, actor, requires
from service.config import ImportJobSettings
from service.errors import BadParameter, NotFound
from service.importing import background, records, tasks

router = APIRouter(tags=["Importing"])

IMPORTER = requires(Action.import_data)
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the import's id, from its Location")]
MAX_CONFIRM_BODY = 10_000


class ImportProgress(BaseModel):
    stage: str | None  # reading, checking, writing, chain, done
    rows: int
    bytes_read: int | None
    total_bytes: int | None


class ImportJobDocument(BaseModel):
    """An import job: its state, and once done its report (counts, rejected rows, warnings, chain)."""

    id: int
    status: Literal["queued", "running", "done", "failed"]
    layer: str
    file_name: str | None
    size_bytes: int
    dry_run: bool
    options: dict[str, Any]
    user: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: ImportProgress
    report: dict[str, Any] | None
    error: dict[str, Any] | None
    has_rejected_csv: bool
    confirms: int | None
    confirmed_by: int | None
    confirmable_until: datetime | None
    links: dict[str, str]


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}


ACCEPTED = {
    "description": "the job (queued, running, or already done with its report); Location names it",
    "model": ImportJobDocument,
    "headers": {"Location": {"description": "the job: /imports/{id}", "schema": {"type": "string"}}},
}
UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "layer"],
                    "additionalProperties": False,
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "CSV or XLSX"},
                        "layer": {"type": "string", "description": "e.g. livestock_farms"},
                        "crs": {
                            "type": "string",
                            "description": "of the coordinates: EPSG:4528, gcj02, bd09; WGS 84 when absent",
                        },
                        "encoding": {"type": "string", "description": "auto (default), utf-8, gbk, gb18030"},
                        "sheet": {"type": "string", "description": "XLSX: the sheet (default the first)"},
                        "mapping": {
                            "type": "string",
                            "description": "JSON object header → field (null skips a column); text or a file",
                        },
                        "upsert_by": {"type": "string", "enum": ["code"]},
                        "valid_rows_only": {"type": "boolean", "description": "import the rows not rejected"},
                        "dry_run": {"type": "boolean", "description": "report only; confirm it later"},
                    },
                }
            }
        },
    }
}
CONFIRM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["valid_rows_only"],
                    "additionalProperties": False,
                    "properties": {
                        "valid_rows_only": {
                            "type": "boolean",
                            "description": "import the rows the dry run did not reject (required when it "
                            "rejected any)",
                        }
                    },
                }
            }
        },
    }
}
CONFLICT_409 = (
    "the dry run cannot be confirmed: not finished, failed, not a dry run, already confirmed, its file "
    "expired, rows rejected without `valid_rows_only`, or the layer changed since the dry run read it"
)


def settings_of(request: Request) -> ImportJobSettings:
    held = getattr(request.app.state, "import_settings", None)
    return held if isinstance(held, ImportJobSettings) else ImportJobSettings()


def _runner(request: Request) -> background.Runner:
    """The process's import threads; they use the application's own engine (an import's statements
    are not held to the interactive class's timeout)."""
    runner = getattr(request.app.state, "import_runner", None)
    if runner is None:
        runner = background.Runner(request.app.state.engine, settings_of(request).workers)
        request.app.state.import_runner = runner
    assert isinstance(runner, background.Runner)
    return runner


def _answer(request: Request, principal: Principal, job_id: int, status: int = 200) -> Response:
    with engine_of(request).connect() as conn:
        job = records.visible(conn, job_id, principal)
    document = tasks.document(job, settings_of(request).keep_hours)
    base = base_url(request) + f"/imports/{job.id}"
    links = {"self": base, "layer": base_url(request) + f"/collections/{job.layer}/items"}
    if job.has_rejected_csv:
        links["rejected_csv"] = base + "/rejected.csv"
    if document["confirmable_until"] is not None:
        links["confirm"] = base + "/confirm"
    if job.confirmed_by is not None:
        links["confirmed_by"] = base_url(request) + f"/imports/{job.confirmed_by}"
    headers = {"Cache-Control": "no-store"}
    if status == 202:
        headers["Location"] = base
    return JSONResponse({**document, "links": links}, status_code=status, headers=headers)


async def _after_wait(request: Request, principal: Principal, job_id: int) -> Response:
    await run_in_threadpool(_runner(request).wait, job_id, settings_of(request).wait_s)
    return await run_in_threadpool(_answer, request, principal, job_id, 202)


def _count_import(request: Request, step: str) -> None:
    metrics = metrics_of(request)
    if metrics is not None:
        metrics.imports.labels(step).inc()


def _start(request: Request, principal: Principal, form: import_form.Form) -> int:
    settings = settings_of(request)
    engine = engine_of(request)
    background.sweep(engine, settings.dir, settings.keep_hours, settings.keep_days)
    return tasks.start(
        engine, _runner(request), actor(request, principal), principal, form.fields, form.upload,
        form.file_name, form.size,
    )  # fmt: skip


@router.post(
    "/imports",
    summary="Upload a file to import into a layer (a dry run, or the import itself)",
    status_code=202,
    response_model=None,
    responses={202: ACCEPTED, 409: _problem(CONFLICT_409), 413: _problem("the upload is too large")},
    dependencies=IMPORTER["dependencies"],
    openapi_extra={**IMPORTER["openapi_extra"], **UPLOAD_FORM},
    description=IMPORTER["description"]
    + " The body is read after the sign-in; it may not exceed `SANICHAIN_IMPORT_MAX_BYTES`.",
)
async def upload(request: Request, principal: SignedIn) -> Response:
    settings = settings_of(request)
    form = await import_form.read(request, settings.dir, settings.max_bytes)
    job_id = await run_in_threadpool(_start, request, principal, form)
    _count_import(request, "upload")
    return await _after_wait(request, principal, job_id)


@router.get(
    "/imports/{job_id}",
    summary="An import job: status, progress, and its report once done",
    response_model=ImportJobDocument,
    **IMPORTER,
)
def job(request: Request, job_id: JobId, principal: SignedIn) -> Response:
    return _answer(request, principal, job_id)


def _rejected(request: Request, principal: Principal, job_id: int) -> bytes:
    with engine_of(request).connect() as conn:
        records.visible(conn, job_id, principal)
        found = records.rejected_csv(conn, job_id)
    if found is None:
        raise NotFound(f"import {job_id} has no rejected rows (or has not finished)")
    return found


@router.get(
    "/imports/{job_id}/rejected.csv",
    summary="The rows an import rejected, as the file had them, with the problem of each (UTF-8 CSV)",
    response_model=None,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    **IMPORTER,
)
def rejected_csv(request: Request, job_id: JobId, principal: SignedIn) -> Response:
    return Response(
        _rejected(request, principal, job_id),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="import-{job_id}-rejected.csv"',
            "Cache-Control": "no-store",
        },
    )


async def confirm_body(request: Request) -> bool:
    """`{"valid_rows_only": true|false}`: the confirmation says whether rejected rows are left out."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CONFIRM_BODY:
            raise BadParameter("body", f"longer than {MAX_CONFIRM_BODY} bytes")
    return tasks.confirmation(body)


def _confirm(request: Request, principal: Principal, job_id: int, valid_rows_only: bool) -> int:
    settings = settings_of(request)
    return tasks.confirm(
        engine_of(request), _runner(request), settings.dir, actor(request, principal), principal,
        job_id, valid_rows_only,
    )  # fmt: skip


@router.post(
    "/imports/{job_id}/confirm",
    summary="Import a dry run's file for real, with the same options",
    status_code=202,
    response_model=None,
    responses={202: ACCEPTED, 409: _problem(CONFLICT_409)},
    dependencies=IMPORTER["dependencies"],
    openapi_extra={**IMPORTER["openapi_extra"], **CONFIRM_BODY},
    description=IMPORTER["description"] + " Only the dry run's user or an admin may confirm it.",
)
async def confirm(
    request: Request,
    job_id: JobId,
    principal: SignedIn,
    valid_rows_only: Annotated[bool, Depends(confirm_body)],
) -> Response:
    new_id = await run_in_threadpool(_confirm, request, principal, job_id, valid_rows_only)
    _count_import(request, "confirm")
    return await _after_wait(request, principal, new_id)


def install(app: FastAPI) -> None:
    app.state.import_settings = ImportJobSettings()
    app.state.import_runner = None  # threads start with the first import
    app.include_router(router)


def shutdown(app: FastAPI) -> None:
    runner = getattr(app.state, "import_runner", None)
    if isinstance(runner, background.Runner):
        runner.shutdown()
