"""Starting and confirming import jobs, and what a job looks like to its user.

- `start`: a received upload becomes a queued job (audited `import.upload`) handed to the runner.
- `confirm`: a finished dry run's kept file is imported for real, once, by its user or an admin, with
  the same options (and, if asked, only its valid rows); refused with a Conflict when the dry run is
  not finished, failed, rejected rows that the confirmation does not leave out, was confirmed before,
  its upload expired, or the layer changed since the dry run read it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from service.accounts import audit
from service.accounts.tokens import Principal
from service.errors import BadParameter, Conflict
from service.importing import background, records, submission, uploads


def start(
    engine: Engine,
    runner: background.Runner,
    actor: audit.Actor,
    principal: Principal,
    fields: dict[str, str],
    upload: Path | None,
    file_name: str | None,
    size: int,
) -> int:
    """The job of a received form; the upload is deleted when the form is refused."""
    with uploads.deleted_on_error(upload):
        if upload is None:
            raise BadParameter("file", "required: the file to import (a form field named 'file')")
        sent = submission.from_form(fields)
        with engine.begin() as conn:
            job_id = records.create(
                conn, actor, principal, layer=sent.layer, file_name=file_name, size_bytes=size,
                options=sent.options, dry_run=sent.dry_run, upload_path=str(upload),
            )  # fmt: skip
    work = background.Work(
        job_id, sent.layer, str(upload), file_name, sent.options, sent.dry_run, actor, principal
    )
    runner.submit(work)
    return job_id


def confirmation(body: bytes) -> bool:
    """`valid_rows_only` of a confirmation's body, `{"valid_rows_only": true|false}` and nothing else."""
    try:
        given = json.loads(body or b"null")
    except ValueError as error:
        raise BadParameter("body", f"not JSON: {error}") from error
    if not isinstance(given, dict) or not isinstance(given.get("valid_rows_only"), bool):
        raise BadParameter("valid_rows_only", 'required: send {"valid_rows_only": false} (or true)')
    unknown = sorted(set(given) - {"valid_rows_only"})
    if unknown:
        raise BadParameter(unknown[0], 'unknown member; the body is {"valid_rows_only": true|false}')
    return bool(given["valid_rows_only"])


def _confirmable(dry_run: records.Job, directory: Path, valid_rows_only: bool) -> None:
    name = f"import {dry_run.id}"
    if not dry_run.dry_run:
        raise Conflict(f"{name} is not a dry run: it was imported when it ran")
    if dry_run.confirmed_by is not None:
        raise Conflict(f"{name} is already confirmed (import {dry_run.confirmed_by})")
    if dry_run.status in ("queued", "running"):
        raise Conflict(f"{name} is still {dry_run.status}: confirm it when its report is there")
    if dry_run.status == "failed":
        detail = (dry_run.error or {}).get("detail", "")
        raise Conflict(f"{name} failed ({detail}): nothing to confirm; fix the file and upload it again")
    if not uploads.is_upload(directory, dry_run.upload_path):
        raise Conflict(f"the file of {name} is no longer kept: upload it again")
    rejected = int((dry_run.report or {}).get("rejected_count") or 0)
    if rejected and not valid_rows_only:
        raise Conflict(
            f"{name} rejected {rejected} row(s): fix them and upload the file again, or confirm with "
            "valid_rows_only to import the other rows"
        )


def confirm(
    engine: Engine,
    runner: background.Runner,
    directory: Path,
    actor: audit.Actor,
    principal: Principal,
    dry_run_id: int,
    valid_rows_only: bool,
) -> int:
    """The real import of dry run `dry_run_id`: a new job, queued."""
    with engine.begin() as conn:
        dry_run = records.visible(conn, dry_run_id, principal)
        _confirmable(dry_run, directory, valid_rows_only)
        options = {**dry_run.options, "valid_rows_only": valid_rows_only}
        job_id = records.confirm(conn, dry_run, actor, principal, options)
    assert dry_run.upload_path is not None  # checked by _confirmable
    work = background.Work(
        job_id, dry_run.layer, dry_run.upload_path, dry_run.file_name, options, False, actor, principal
    )
    runner.submit(work)
    return job_id


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def document(job: records.Job, keep_hours: float) -> dict[str, Any]:
    """The job as its user sees it (links are the API's to add)."""
    kept_until = None
    if job.dry_run and job.upload_path and job.finished_at is not None and job.confirmed_by is None:
        kept_until = job.finished_at + timedelta(hours=keep_hours)
    return {
        "id": job.id,
        "status": job.status,
        "layer": job.layer,
        "file_name": job.file_name,
        "size_bytes": job.size_bytes,
        "dry_run": job.dry_run,
        "options": job.options,
        "user": job.user_name,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "progress": {
            "stage": job.stage,
            "rows": job.rows,
            "bytes_read": job.bytes_read,
            "total_bytes": job.total_bytes,
        },
        "report": job.report,
        "error": job.error,
        "has_rejected_csv": job.has_rejected_csv,
        "confirms": job.confirms,
        "confirmed_by": job.confirmed_by,
        "confirmable_until": _iso(kept_until),
    }
