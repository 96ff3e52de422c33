"""The `imports` table: each import job of the API with its progress, report and rejected rows.

Every worker process reads and writes the same rows, so any of them answers for any job. A job moves
queued → running → done | failed. A dry run keeps its upload for its confirmation; the confirmation
is a job of its own that names the dry run in `confirms` (unique: a dry run is confirmed once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from service.accounts import audit
from service.accounts.tokens import Principal
from service.errors import Conflict, NotFound
from service.models import LAYERS

# a queued or running job whose process has not said anything for this long died with it
STALE_AFTER_S = 180
JOB_COLUMNS = (
    "id, user_id, user_name, layer, file_name, size_bytes, options, dry_run, status, stage, rows, "
    "bytes_read, total_bytes, report, error, upload_path, fingerprint, confirms, created_at, started_at, "
    "heartbeat_at, finished_at, rejected_csv IS NOT NULL AS has_rejected_csv, "
    "(SELECT c.id FROM imports c WHERE c.confirms = imports.id) AS confirmed_by"
)


@dataclass(frozen=True)
class Job:
    id: int
    user_id: int
    user_name: str
    layer: str
    file_name: str | None
    size_bytes: int
    options: dict[str, Any]
    dry_run: bool
    status: str
    stage: str | None
    rows: int
    bytes_read: int | None
    total_bytes: int | None
    report: dict[str, Any] | None
    error: dict[str, Any] | None
    upload_path: str | None
    fingerprint: str | None
    confirms: int | None
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    has_rejected_csv: bool
    confirmed_by: int | None

    def visible_to(self, principal: Principal) -> bool:
        """A job is its user's; admins see every job."""
        return principal.role == "admin" or principal.user_id == self.user_id


def create(
    conn: Connection,
    actor: audit.Actor,
    principal: Principal,
    *,
    layer: str,
    file_name: str | None,
    size_bytes: int,
    options: dict[str, Any],
    dry_run: bool,
    upload_path: str,
) -> int:
    """A queued job, and its `import.upload` audit entry."""
    job_id = int(
        conn.execute(
            text(
                """INSERT INTO imports (user_id, user_name, layer, file_name, size_bytes, options, dry_run,
                                       upload_path, request_id)
                   VALUES (:user_id, :user_name, :layer, :file_name, :size, CAST(:options AS jsonb), :dry_run,
                           :upload_path, :request_id)
                   RETURNING id"""
            ),
            {
                "user_id": principal.user_id,
                "user_name": principal.name,
                "layer": layer,
                "file_name": file_name,
                "size": size_bytes,
                "options": json.dumps(options),
                "dry_run": dry_run,
                "upload_path": upload_path,
                "request_id": actor.request_id,
            },
        ).scalar_one()
    )
    audit.record(
        conn, actor, "import.upload", layer=layer, target_id=job_id,
        detail={"file_name": file_name, "size_bytes": size_bytes, "options": options, "dry_run": dry_run},
    )  # fmt: skip
    return job_id


def get(conn: Connection, job_id: int) -> Job | None:
    row = conn.execute(text(f"SELECT {JOB_COLUMNS} FROM imports WHERE id = :id"), {"id": job_id}).mappings()
    found = row.one_or_none()
    return Job(**found) if found is not None else None


def visible(conn: Connection, job_id: int, principal: Principal) -> Job:
    """The job, when this user may see it; NotFound otherwise (another's job is not confirmed to exist)."""
    job = get(conn, job_id)
    if job is None or not job.visible_to(principal):
        raise NotFound(f"no import {job_id}")
    return job


def rejected_csv(conn: Connection, job_id: int) -> bytes | None:
    found = conn.execute(text("SELECT rejected_csv FROM imports WHERE id = :id"), {"id": job_id}).scalar()
    return bytes(found) if found is not None else None


def fingerprint(conn: Connection, layer: str) -> str:
    """The layer's state in three numbers: any insert, delete or change of content moves one of them (the
    version rises with every change, ids are never reused)."""
    table = LAYERS[layer].__tablename__
    row = conn.execute(
        text(f"SELECT count(*), coalesce(sum(version), 0), coalesce(max(id), 0) FROM {table}")
    ).one()
    return f"{row[0]}/{row[1]}/{row[2]}"


def started(conn: Connection, job_id: int, layer_state: str | None) -> None:
    conn.execute(
        text(
            """UPDATE imports SET status = 'running', started_at = now(), heartbeat_at = now(),
                      fingerprint = coalesce(:fingerprint, fingerprint)
               WHERE id = :id"""
        ),
        {"id": job_id, "fingerprint": layer_state},
    )


def progress(
    conn: Connection, job_id: int, stage: str, rows: int, bytes_read: int | None, total_bytes: int | None
) -> None:
    conn.execute(
        text(
            """UPDATE imports SET stage = :stage, rows = :rows, bytes_read = :bytes_read,
                      total_bytes = :total_bytes, heartbeat_at = now()
               WHERE id = :id AND status = 'running'"""
        ),
        {"id": job_id, "stage": stage, "rows": rows, "bytes_read": bytes_read, "total_bytes": total_bytes},
    )


def heartbeat(conn: Connection, job_id: int) -> None:
    conn.execute(text("UPDATE imports SET heartbeat_at = now() WHERE id = :id"), {"id": job_id})


def done(conn: Connection, job_id: int, report: dict[str, Any], rejected: bytes | None) -> None:
    conn.execute(
        text(
            """UPDATE imports SET status = 'done', stage = 'done', report = CAST(:report AS jsonb),
                      rejected_csv = :rejected, finished_at = now(), heartbeat_at = now()
               WHERE id = :id"""
        ),
        {"id": job_id, "report": json.dumps(report, default=str), "rejected": rejected},
    )


def failed(conn: Connection, job_id: int, error: dict[str, Any]) -> None:
    conn.execute(
        text(
            """UPDATE imports SET status = 'failed', error = CAST(:error AS jsonb), finished_at = now(),
                      heartbeat_at = now()
               WHERE id = :id"""
        ),
        {"id": job_id, "error": json.dumps(error)},
    )


def forget_upload(conn: Connection, path: str) -> None:
    """The upload is deleted: no job names it any more."""
    conn.execute(text("UPDATE imports SET upload_path = NULL WHERE upload_path = :p"), {"p": path})


def confirm(
    conn: Connection, dry_run: Job, actor: audit.Actor, principal: Principal, options: dict[str, Any]
) -> int:
    """The real import of a finished dry run's file (a queued job), and its `import.confirm` entry.
    Conflict when the dry run was confirmed before, or the layer changed since it began."""
    now = fingerprint(conn, dry_run.layer)
    if now != dry_run.fingerprint:
        raise Conflict(
            f"{dry_run.layer} changed since dry run {dry_run.id} read it (someone edited or imported "
            "meanwhile): upload the file again for a new dry run"
        )
    try:
        with conn.begin_nested():
            job_id = int(
                conn.execute(
                    text(
                        """INSERT INTO imports (user_id, user_name, layer, file_name, size_bytes, options,
                                               dry_run, upload_path, confirms, request_id)
                           SELECT :user_id, :user_name, layer, file_name, size_bytes, CAST(:options AS jsonb),
                                  false, upload_path, id, :request_id
                           FROM imports WHERE id = :id
                           RETURNING id"""
                    ),
                    {
                        "id": dry_run.id,
                        "user_id": principal.user_id,
                        "user_name": principal.name,
                        "options": json.dumps(options),
                        "request_id": actor.request_id,
                    },
                ).scalar_one()
            )
    except IntegrityError as clash:
        raise Conflict(f"import {dry_run.id} is already confirmed") from clash
    audit.record(
        conn, actor, "import.confirm", layer=dry_run.layer, target_id=job_id,
        detail={"dry_run": dry_run.id, "file_name": dry_run.file_name, "options": options},
    )  # fmt: skip
    return job_id


def expired(conn: Connection, keep_hours: float, keep_days: int) -> list[str]:
    """Housekeeping, in one transaction: jobs whose process died are failed, old finished jobs are
    deleted, and uploads past their time are let go. Returns the upload files to delete."""
    conn.execute(
        text(
            """UPDATE imports SET status = 'failed', finished_at = now(),
                      error = '{"detail": "the import stopped: the service process running it ended"}'
               WHERE status IN ('queued', 'running')
                 AND coalesce(heartbeat_at, created_at) < now() - make_interval(secs => :stale)"""
        ),
        {"stale": STALE_AFTER_S},
    )
    old = conn.execute(
        text(
            """DELETE FROM imports WHERE finished_at < now() - make_interval(days => :days)
               RETURNING upload_path"""
        ),
        {"days": keep_days},
    ).scalars()
    paths = {p for p in old if p}
    late = conn.execute(
        text(
            """WITH late AS (
                   SELECT id, upload_path FROM imports
                   WHERE upload_path IS NOT NULL AND status IN ('done', 'failed')
                     AND finished_at < now() - make_interval(secs => :secs)
                     AND NOT EXISTS (SELECT 1 FROM imports c WHERE c.upload_path = imports.upload_path
                                     AND c.status IN ('queued', 'running')))
               UPDATE imports SET upload_path = NULL FROM late WHERE imports.id = late.id
               RETURNING late.upload_path"""
        ),
        {"secs": keep_hours * 3600},
    ).scalars()
    return sorted(paths | {p for p in late if p})
