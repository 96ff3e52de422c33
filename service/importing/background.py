"""Import jobs run in worker threads of the service process, their state kept in the `imports` table.

`Runner` holds the threads of one process (at most `workers` imports at once; more wait as queued).
`run` is one job: it marks the job running, reports progress to the table (a few times a second at
most, and a heartbeat while a long step says nothing, so a job whose process died is recognised), and
stores the report and the rejected rows when it ends. A failure of the file (BadParameter, NotFound, …)
ends the job as failed with its message; nothing was written, as the import is one transaction.
When the database went away in the middle, the job's end is written once it answers again (`_told`).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from service.accounts import audit
from service.accounts.tokens import Principal
from service.errors import BadParameter, SanichainError
from service.importing import job as import_job
from service.importing import records, submission, uploads

log = logging.getLogger("sanichain.imports")
PROGRESS_EVERY_S = 0.3  # table writes of progress, at most
HEARTBEAT_EVERY_S = 20.0  # well within records.STALE_AFTER_S
RETRY_EVERY_S = 1.0  # a job's end that the database could not take, tried again


@dataclass(frozen=True)
class Work:
    """What one job runs: the stored job's layer, file and options, as whom."""

    job_id: int
    layer: str
    upload_path: str
    file_name: str | None
    options: dict[str, Any]
    dry_run: bool
    actor: audit.Actor
    principal: Principal


def request_of(work: Work) -> import_job.ImportRequest:
    return import_job.ImportRequest(
        layer=work.layer,
        path=Path(work.upload_path),
        options=submission.read_options(work.options),
        upsert_by=work.options.get("upsert_by"),
        valid_rows_only=bool(work.options.get("valid_rows_only")),
        dry_run=work.dry_run,
        file_name=work.file_name,
    )


class _Progress:
    """The import's progress callback: the latest state written now and then, the stage at once."""

    def __init__(self, engine: Engine, job_id: int) -> None:
        self.engine = engine
        self.job_id = job_id
        self.stage: str | None = None
        self.last = 0.0

    def __call__(self, step: import_job.Progress) -> None:
        now = time.monotonic()
        if step.stage == self.stage and now - self.last < PROGRESS_EVERY_S:
            return
        self.stage, self.last = step.stage, now
        with self.engine.begin() as conn:
            records.progress(conn, self.job_id, step.stage, step.rows, step.bytes_read, step.total_bytes)


def _beat(engine: Engine, job_id: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_EVERY_S):
        with engine.begin() as conn:
            records.heartbeat(conn, job_id)


def _rejected_bytes(report: Any) -> bytes | None:
    if not report.rejected.count:
        return None
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as out:
        report.write_rejected_csv(out)
        out.seek(0)
        return bytes(out.read())


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, SanichainError):
        error: dict[str, Any] = {"kind": type(exc).__name__, "detail": exc.message}
        if isinstance(exc, BadParameter):
            error["parameter"] = exc.parameter
        return error
    return {"kind": "internal", "detail": "the import failed unexpectedly; the service's log has the cause"}


def _told(engine: Engine, write: Callable[[Connection], None], stopping: threading.Event) -> None:
    """`write` in a transaction of its own, tried again while the database is away. A job whose end
    was never written would read `running` until the housekeeping fails it (records.STALE_AFTER_S
    after its heartbeat stopped), so the trying stops there, or when the service stops."""
    give_up = time.monotonic() + records.STALE_AFTER_S
    while True:
        try:
            with engine.begin() as conn:
                write(conn)
            return
        except SQLAlchemyError:
            if time.monotonic() > give_up or stopping.wait(RETRY_EVERY_S):
                raise


def run(engine: Engine, work: Work, stopping: threading.Event | None = None) -> None:
    """One job, start to end; never raises (the job's row says how it ended)."""
    stopping = stopping or threading.Event()
    stop = threading.Event()
    try:
        with engine.begin() as conn:
            state = records.fingerprint(conn, work.layer) if work.dry_run else None
            records.started(conn, work.job_id, state)
        threading.Thread(target=_beat, args=(engine, work.job_id, stop), daemon=True).start()
        report = import_job.run_import(
            engine, request_of(work), work.actor, work.principal, progress=_Progress(engine, work.job_id)
        )
        try:
            rejected = _rejected_bytes(report)
            with engine.begin() as conn:
                records.done(conn, work.job_id, report.to_json(), rejected)
        finally:
            report.discard()
    except Exception as exc:  # the job's end, whatever it was: told in its row
        if not isinstance(exc, SanichainError):
            log.exception("import %s failed", work.job_id)
        error = _error(exc)
        _told(engine, lambda conn: records.failed(conn, work.job_id, error), stopping)
    finally:
        stop.set()
        if not work.dry_run:  # a real import's file is done with (a dry run's waits for its confirmation)
            uploads.delete(work.upload_path)
            _told(engine, lambda conn: records.forget_upload(conn, work.upload_path), stopping)


def sweep(engine: Engine, directory: Path, keep_hours: float, keep_days: int) -> None:
    """Housekeeping before a new job: dead jobs failed, old jobs and expired uploads deleted."""
    with engine.begin() as conn:
        paths = records.expired(conn, keep_hours, keep_days)
    for path in paths:
        uploads.delete(path)
    uploads.sweep_orphans(directory)


class Runner:
    """The import threads of one process."""

    def __init__(self, engine: Engine, workers: int) -> None:
        self.engine = engine
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sanichain-import")
        self.running: dict[int, Future[None]] = {}
        self.stopping = threading.Event()

    def submit(self, work: Work) -> None:
        future = self.pool.submit(run, self.engine, work, self.stopping)
        self.running[work.job_id] = future
        future.add_done_callback(lambda _: self.running.pop(work.job_id, None))

    def wait(self, job_id: int, timeout_s: float) -> None:
        """Until the job ends or `timeout_s` passes (a job of this process only)."""
        future = self.running.get(job_id)
        if future is not None and timeout_s > 0:
            wait([future], timeout=timeout_s)

    def shutdown(self) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
