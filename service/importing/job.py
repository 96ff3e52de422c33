"""One import of a city's file into a layer, all or nothing: `run_import(engine, request, actor)`.

In one transaction: the rows of the file (`rows.open_rows`: a CSV, an XLSX sheet or a GIS file's
features) are checked one by one by the editing validation's checks that need no database and
streamed with COPY into a temporary staging table
(`staging`); the checks that need the database run in SQL over the whole file (`checks`); then, when
no row is rejected (or only the valid rows are asked for), every create and update is written
set-based with its history row (an update with its audit entry too; the creates are named by the
import's own `import.run` entry, D102) (`writes`), the chain is re-checked and the report written. A
dry run does all of it and rolls back. Memory stays flat with the file's size.

File-level failures (a file that cannot be read, no header, a bad crs, mapping, encoding or sheet, an
unknown layer or one that cannot be imported) raise `BadParameter` / `UnknownLayer` before anything is
written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from service.accounts import audit
from service.accounts.tokens import Principal
from service.chain import stored
from service.config import ImportSettings, settings
from service.editing import consequences
from service.errors import BadParameter
from service.features import catalogue
from service.importing import bulk, checks, report, rows, staging, writes
from service.importing.report import Listing, Problem, Report, Summary
from service.importing.staging import PROBLEMS, Headers
from service.models import LAYERS

# The layers a file can be imported into: features with a code and a point position (town outlines,
# grids and chain links are not rows of a table a clerk keeps).
IMPORTABLE: tuple[str, ...] = tuple(name for name in LAYERS if name not in ("towns", "grids", "chain_links"))


@dataclass(frozen=True)
class ImportRequest:
    layer: str
    path: Path
    options: rows.Options = rows.Options()  # noqa: RUF009  (frozen: one shared default is safe)
    upsert_by: str | None = None  # None or "code"
    valid_rows_only: bool = False
    dry_run: bool = False
    file_name: str | None = None  # as the user named it (uploads are stored under temp names)


@dataclass(frozen=True)
class Progress:
    stage: str  # "reading", "checking", "writing", "chain", "done"
    rows: int  # rows read so far
    bytes_read: int | None = None
    total_bytes: int | None = None


def importable(layer: str) -> None:
    catalogue.layer(layer)  # UnknownLayer for a name that is no layer
    if layer not in IMPORTABLE:
        raise BadParameter("layer", f"{layer} cannot be imported from a file: one of {', '.join(IMPORTABLE)}")


def run_import(
    engine: Engine,
    request: ImportRequest,
    actor: audit.Actor,
    principal: Principal | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> Report:
    """See the module's docstring. The report's rejected-rows CSV is a temporary file: call
    `report.discard()` when done with it."""
    layer = request.layer
    importable(layer)
    if request.upsert_by not in (None, "code"):
        raise BadParameter(
            "upsert_by", f"only 'code' matches rows to stored features, got {request.upsert_by!r}"
        )
    total_bytes = request.path.stat().st_size if request.path.is_file() else None
    tell = progress or (lambda _: None)
    config = settings(ImportSettings)
    # A file, header, crs or mapping the reader refuses is refused on opening, before the transaction.
    with rows.open_rows(request.path, layer, request.options) as opened:
        summary = Summary(
            layer=layer,
            file_name=request.file_name or request.path.name,
            format=opened.format,
            encoding=opened.encoding,
            sheet=opened.sheet,
            crs=opened.crs,
            dry_run=request.dry_run,
            import_id=uuid.uuid4().hex[:16],
        )
        result = Report(summary, Listing(config.listed_problems), Listing(config.listed_problems))
        with engine.connect() as conn:
            _in_transaction(conn, request, opened, actor, principal, result, config, tell, total_bytes)
            if not summary.written and not request.dry_run:
                with conn.begin():  # the refused attempt stays on record
                    _audit_run(conn, actor, result, outcome="refused")
    tell(Progress("done", summary.rows_read, total_bytes, total_bytes))
    return result


def _in_transaction(
    conn: Connection, request: ImportRequest, opened: rows.RowFile, actor: audit.Actor,
    principal: Principal | None, result: Report, config: ImportSettings, tell: Callable[[Progress], None],
    total_bytes: int | None,
) -> None:  # fmt: skip
    """Stage, check, and write when the rows allow it: committed, or rolled back (a dry run, a refusal)."""
    summary = result.summary
    transaction = conn.begin()
    try:
        _tune(conn)
        _stage(conn, request, opened, summary, config, tell, total_bytes)
        tell(Progress("checking", summary.rows_read, total_bytes, total_bytes))
        _check(conn, request, _headers(opened), principal, result, config)
        counts = writes.plan(conn, request.layer)
        summary.created, summary.updated, summary.unchanged = counts.created, counts.updated, counts.unchanged
        _read_problems(conn, result)
        if summary.rejected:
            result.rejected_csv = _rejected_csv(conn, opened)
        goes_ahead = summary.rejected == 0 or request.valid_rows_only
        if goes_ahead:
            _write(conn, request, actor, result, config, tell)
        if goes_ahead and not request.dry_run:
            summary.written = True
            transaction.commit()
        else:
            transaction.rollback()
    except BaseException:
        if transaction.is_active:
            transaction.rollback()
        result.discard()
        raise


# The import's transaction's own settings (D102): memory for its sorts, hashes and index builds (one
# import at a time per process; the server's defaults suit small queries), and a commit that does not
# wait for its WAL to reach the disk: the transaction still commits or not as a whole; a server crash in
# the moment after the commit can lose the last import, never part of one (the clerk runs it again;
# with upsert by code a second run changes nothing that the first wrote).
TRANSACTION_SETTINGS = {
    "work_mem": "256MB",
    "maintenance_work_mem": "512MB",
    "synchronous_commit": "off",
    "jit": "off",
}


def _tune(conn: Connection) -> None:
    for name, value in TRANSACTION_SETTINGS.items():
        conn.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})


def _headers(opened: rows.RowFile) -> Headers:
    """The file's header text of each field, for the report's column (a GIS file's position is in its
    geometry column)."""
    return Headers(dict(opened.header_of), geometry=opened.geometry_column)


def _stage(
    conn: Connection, request: ImportRequest, opened: rows.RowFile, summary: Summary,
    config: ImportSettings, tell: Callable[[Progress], None], total_bytes: int | None,
) -> None:  # fmt: skip
    staging.create(conn, request.layer)
    stager = staging.Stager(
        conn, request.layer, _headers(opened), upsert=request.upsert_by == "code",
        batch_rows=config.batch_rows,
        on_batch=lambda n: tell(Progress("reading", n, opened.bytes_read(), total_bytes)),
    )  # fmt: skip
    tell(Progress("reading", 0, 0, total_bytes))
    if config.bulk_csv and isinstance(opened, rows.TableFile) and bulk.usable(opened):
        options = request.options
        try:
            loaded = bulk.stage(
                conn, opened, request.layer, stager, options.crs, options.area,
                progress=lambda staged, at: tell(Progress("reading", staged, at, total_bytes)),
            )  # fmt: skip
        except bulk.NotBulk:
            pass  # read row by row below
        else:
            summary.rows_read = loaded.rows
            return
    for row in opened.rows():
        stager.add(row)
    stager.flush()
    summary.rows_read = stager.staged.rows


def _check(
    conn: Connection, request: ImportRequest, headers: Headers, principal: Principal | None, result: Report,
    config: ImportSettings,
) -> None:  # fmt: skip
    layer, upsert = request.layer, request.upsert_by == "code"
    checks.facts(conn, layer, upsert)
    problems = checks.Problems(conn, headers, config.batch_rows)
    checks.spatial(conn, layer, problems)
    checks.duplicates(conn, layer, upsert, problems)
    checks.required(conn, layer, problems)
    checks.references(conn, layer, problems)
    checks.lifecycle(conn, layer, problems)
    checks.towns_of(conn, layer, principal, problems)
    problems.flush()
    warning = checks.gcj02_offset(conn, layer)
    if warning is not None:
        result.file_warnings.append(warning)


def _read_problems(conn: Connection, result: Report) -> None:
    """The report's lists (up to their cap) and counts, from the problems table."""
    counted = conn.execute(
        text(
            f"""SELECT count(DISTINCT n) FILTER (WHERE rejects), count(DISTINCT n) FILTER (WHERE NOT rejects)
                FROM {PROBLEMS}"""
        )
    ).one()
    result.summary.rejected, result.summary.warned = int(counted[0]), int(counted[1])
    for rejects, listing in ((True, result.rejected), (False, result.warnings)):
        listing.count = int(
            conn.execute(
                text(f"SELECT count(*) FROM {PROBLEMS} WHERE rejects = :r"), {"r": rejects}
            ).scalar_one()
        )
        found = conn.execute(
            text(
                f"SELECT n, field, header, message FROM {PROBLEMS} "
                "WHERE rejects = :r ORDER BY n, k LIMIT :cap"
            ),
            {"r": rejects, "cap": listing.cap},
        )
        listing.items = [Problem(r.n, r.header, r.message, r.field) for r in found]


def _rejected_csv(conn: Connection, opened: rows.RowFile) -> Path:
    """The rejected rows as the file has them (a GIS feature's attributes and its geometry as WKT),
    each with what is wrong with it."""
    said = checks._stream(
        conn,
        f"""SELECT n, CASE WHEN header IS NULL THEN message ELSE header || ': ' || message END AS said
            FROM {PROBLEMS} WHERE rejects ORDER BY n, k""",
    )
    records = opened.records()
    try:
        return report.write_rejected(opened.columns, records, ((r.n, r.said) for r in said))
    finally:
        records.close()


def _write(
    conn: Connection, request: ImportRequest, actor: audit.Actor, result: Report, config: ImportSettings,
    tell: Callable[[Progress], None],
) -> None:  # fmt: skip
    summary = result.summary
    layer = request.layer
    written = summary.created + summary.updated
    check_chain = 0 < written <= config.chain_check_max_rows
    before = consequences.snapshot(conn, []) if check_chain else None
    tell(Progress("writing", summary.rows_read))
    created_ids = writes.write(conn, layer, actor, {"id": summary.import_id, "file": summary.file_name})
    if before is not None:
        tell(Progress("chain", summary.rows_read))
        after = consequences.snapshot(conn, writes.touched(conn, layer, config.chain_check_max_rows))
        compared = consequences.compare(before, after)
        result.chain = {"checked": True, "summary": compared["summary"], "findings": compared["findings"]}
    elif written:
        result.chain = {
            "checked": False,
            "reason": f"{written} features written, more than {config.chain_check_max_rows} "
            "(SANICHAIN_IMPORT_CHAIN_CHECK_MAX_ROWS): run `sanichain chain check`",
        }
    if not request.dry_run:
        stored.settle(conn)  # a big import only marks the stored chain stale: its next reader recomputes
    summary.written = not request.dry_run
    _audit_run(conn, actor, result, outcome="ok", created_ids=created_ids)


def _audit_run(
    conn: Connection, actor: audit.Actor, result: Report, outcome: str,
    created_ids: list[list[int]] | None = None,
) -> None:  # fmt: skip
    """The import's entry; a written import's names the ids it created as [first, last] ranges (the
    creates have no entry of their own, D102)."""
    summary = result.summary
    audit.record(
        conn, actor, "import.run", outcome=outcome, layer=summary.layer, target_id=summary.import_id,
        detail={
            **{k: getattr(summary, k) for k in ("file_name", "format", "encoding", "sheet", "crs")},
            **{k: getattr(summary, k) for k in ("rows_read", "created", "updated", "unchanged", "rejected")},
            "dry_run": summary.dry_run,
            **({} if created_ids is None else {"created_ids": created_ids}),
        },
    )  # fmt: skip
