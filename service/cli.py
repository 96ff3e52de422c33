"""The `sanichain` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.config import DatabaseSettings, DemoSettings, LocalClusterSettings, ServerSettings
from service.errors import SanichainError
from service.localdb import ClusterError, LocalCluster

if TYPE_CHECKING:
    from service.accounts import UserInfo
    from service.accounts.audit import Actor
    from service.editing.store import Operation
    from service.importing.report import Listing


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


def database_url() -> str:
    """DATABASE_URL, or the local cluster's database when that cluster is running."""
    url = DatabaseSettings().database_url
    if url:
        return url
    settings = LocalClusterSettings()
    cluster = LocalCluster(settings.data_dir, settings.port, settings.bindir)
    if cluster.running:
        return cluster.ensure_database(settings.database)
    raise CommandError(
        "DATABASE_URL is not set and the local cluster is not running "
        "(start it with `sanichain db local start`, or `make run`)"
    )


def progress_line(label: str) -> Callable[[str, int], None]:
    start = time.monotonic()

    def report(step: str, n: int) -> None:
        print(
            f"  {label} {step:<20} {n:>10,}  ({time.monotonic() - start:6.1f} s)", file=sys.stderr, flush=True
        )

    return report


# -- commands -----------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from service.runner import run

    return run(args.host, args.port, args.workers)


def cmd_serve(args: argparse.Namespace) -> int:
    from service.runner import serve

    settings = ServerSettings()
    serve(
        database_url(), args.host or settings.host, args.port or settings.port,
        args.workers or settings.worker_count(),
    )  # fmt: skip
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from service import migrate

    migrate.upgrade(database_url(), args.revision)
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    from service import migrate

    migrate.downgrade(database_url(), args.revision)
    return 0


def cmd_db_check(_: argparse.Namespace) -> int:
    from service.schema_check import schema_drift

    drift = schema_drift(database_url())
    if drift:
        for diff in drift:
            print(diff)
        raise CommandError(f"{len(drift)} difference(s) between the models and the database")
    print("database schema matches the models")
    return 0


def cmd_db_local(args: argparse.Namespace) -> int:
    settings = LocalClusterSettings()
    cluster = LocalCluster(settings.data_dir, settings.port, settings.bindir)
    if args.action == "start":
        cluster.start()
        print(cluster.ensure_database(settings.database))
    elif args.action == "stop":
        cluster.stop()
    else:
        print(("running: " + cluster.url(settings.database)) if cluster.running else "stopped")
    return 0


def cmd_demo_load(args: argparse.Namespace) -> int:
    from service.db import make_engine
    from service.demo import loader

    data_dir = Path(args.dir) if args.dir else DemoSettings().data_dir
    engine = make_engine(database_url())
    manifest = _read_manifest(data_dir)
    if "seed" in manifest and "bbox" in manifest:  # national-scale CSV set
        from service.synthetic import national_scale as scale

        counts = scale.load(
            engine.url.render_as_string(hide_password=False),
            data_dir,
            progress=lambda msg: print(f"  {msg}", file=sys.stderr),
        )
    else:
        if args.if_empty and not loader.inventory_is_empty(engine):
            print("inventory not empty: demo data not loaded")
            return 0
        counts = loader.load(engine, data_dir, progress_line("loaded"))
    print(json.dumps(counts, ensure_ascii=False))
    return 0


def cmd_roads_import(args: argparse.Namespace) -> int:
    from service.db import make_engine
    from service.roads import network

    counts = network.import_file(make_engine(database_url()), Path(args.file), args.layer)
    print(json.dumps(counts, ensure_ascii=False))
    if counts["components"] > 1:
        print(
            f"sanichain: note: the network has {counts['components']} unconnected parts; points on "
            "different parts are unreachable from each other",
            file=sys.stderr,
        )
    return 0


def _boundary_lines(report: Any) -> list[str]:
    """The report as tab-separated lines: what changes town, what falls outside, what is wrong."""
    lines = [f"towns\tmatched\t{len(report.matched)}\tchanged\t{len(report.towns_changed)}"]
    lines += [f"towns\tmissing from the file (kept)\t{t['code']}\t{t['name']}" for t in report.missing]
    lines += [f"towns\tunknown\tfeature {t['number']}\t{t['code'] or t['name']}" for t in report.unknown]
    for layer, changes in report.changes.items():
        lines += [f"{layer}\t{c['code']}\t{c['name']}\t{c['from']} → {c['to']}" for c in changes]
    for layer, features in report.outside_towns.items():
        lines += [f"{layer}\t{f['code']}\t{f['name']}\toutside every town" for f in features]
    for layer, features in report.outside_city.items():
        lines += [f"{layer}\t{f['code']}\t{f['name']}\toutside the city" for f in features]
    lines += [f"problem\t{problem}" for problem in report.problems]
    return lines


def cmd_boundaries(args: argparse.Namespace) -> int:
    """Replace the town outlines (and the city's) from a boundary file; the differences first."""
    from service.db import make_engine
    from service.importing import boundaries, coordinates

    coordinates.check_crs(args.crs)
    path = Path(args.file)
    read = boundaries.read_file(
        path, crs=args.crs, code_field=args.code_field, name_field=args.name_field, layer=args.layer
    )
    city = boundaries.read_city(Path(args.city), crs=args.crs) if args.city else None
    actor = _operator("boundaries")
    report = boundaries.replace(
        make_engine(database_url()), read, actor, city=city, dry_run=args.dry_run, file=path.name
    )
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
    else:
        print("\n".join(_boundary_lines(report)))
    if report.problems:
        raise CommandError(f"{path.name}: {len(report.problems)} problem(s); nothing written")
    moved = sum(len(changes) for changes in report.changes.values())
    state = "written" if report.written else "checked, nothing written (dry run)"
    print(f"{len(report.towns_changed)} town outline(s), {moved} feature(s) changing town: {state}")
    return 0


def _read_manifest(data_dir: Path) -> dict[str, object]:
    path = data_dir / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CommandError(f"{path}: no manifest.json, not a dataset directory") from exc
    except json.JSONDecodeError as exc:
        raise CommandError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CommandError(f"{path}: expected a JSON object")
    return data


def cmd_demo_zhucheng(args: argparse.Namespace) -> int:
    from service.demo import zhucheng

    out = Path(args.output) if args.output else DemoSettings().data_dir
    counts = zhucheng.write(out)
    print(json.dumps({"written_to": str(out), **counts}, ensure_ascii=False))
    return 0


def cmd_demo_generate(args: argparse.Namespace) -> int:
    from service.synthetic import national_scale as scale

    start = time.monotonic()
    counts = scale.generate(
        Path(args.output),
        villages=args.villages,
        farms=args.farms,
        stations=args.stations,
        seed=args.seed,
        progress=lambda msg: print(f"  {msg}", file=sys.stderr),
    )
    print(json.dumps({"written_to": args.output, "seconds": round(time.monotonic() - start, 1), **counts}))
    return 0


def _chain_engine() -> Engine:
    from service.db import make_engine

    return make_engine(database_url())


def cmd_chain_check(args: argparse.Namespace) -> int:
    from service.chain import integrity
    from service.chain.computation import computed, find_town

    with computed(_chain_engine()) as conn:
        town = find_town(conn, args.town)
        findings = integrity.check(conn)
    if town:
        findings = [f for f in findings if f.town_code == town["code"]]
    report = integrity.report(findings)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for f in findings:
            print(f"{f.severity:<7} {f.rule:<18} {f.layer}:{f.code} {f.name} — {f.message}")
        summary = report["summary"]
        print(f"{summary['errors']} error(s), {summary['warnings']} warning(s)", file=sys.stderr)
    return 1 if report["summary"]["errors"] else 0


def cmd_chain_assign(args: argparse.Namespace) -> int:
    from service.chain import assignment, stored
    from service.chain.computation import prepare

    with _chain_engine().connect() as conn, conn.begin():
        prepare(conn)
        proposals, unassigned = assignment.propose(conn, args.stream, args.respect_capacity)
        applied = assignment.apply(conn, proposals) if args.apply else 0
        stored.settle(conn)
    for p in proposals:
        print(
            f"{p.stream} {p.source_layer}:{p.source_code} -> {p.target_layer}:{p.target_code} "
            f"{p.distance_m:,.0f} m {p.amount_t_per_day:.3f} t/d"
        )
    for u in unassigned:
        print(f"unassigned {u.source_layer}:{u.source_code} — {u.reason}")
    verb = f"wrote {applied}" if args.apply else "dry run: nothing written (use --apply)"
    print(f"{len(proposals)} link(s) proposed, {len(unassigned)} unassigned; {verb}", file=sys.stderr)
    return 0


def cmd_chain_diagram(args: argparse.Namespace) -> int:
    from service.chain import diagram, reports, sankey
    from service.chain.computation import computed, find_town

    out = Path(args.output)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "html"):
        raise CommandError(f"{out}: the file name must end in .svg, .png or .html")
    with computed(_chain_engine()) as conn:
        d = diagram.build(conn, args.stream, find_town(conn, args.town))
    if fmt == "html":
        out.write_text(
            reports.diagram_page(d.title, sankey.render(d, "svg"), args.stream, args.town), "utf-8"
        )
    else:
        out.write_bytes(sankey.render(d, fmt))
    print(out)
    return 0


def cmd_chain_indicators(args: argparse.Namespace) -> int:
    from service.chain import indicators
    from service.chain.computation import computed, find_town

    with computed(_chain_engine()) as conn:
        town = find_town(conn, args.town)
        data = indicators.compute(conn)
    if town:
        data["towns"] = [t for t in data["towns"] if t["code"] == town["code"]]
    print(json.dumps(data, ensure_ascii=False, indent=2, default=float))
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    """One map page as a self-contained HTML file (every script and style inlined) for offline use."""
    from service.config import MapSettings
    from service.coverage.query import CoverageQuery
    from service.inspections import due, records
    from service.maps.city import MapRequest, city_page, town_page
    from service.maps.coverage import coverage_page
    from service.maps.facility import facility_page

    engine = _chain_engine()
    server = ServerSettings()
    base = args.base_url or f"http://{server.host}:{server.port}"
    req = MapRequest(
        lang=args.lang,
        settings=MapSettings(),
        base_url=base,
        visits=due.visits,
        inspections=records.facility_summary,
    )
    if args.map == "city":
        page = city_page(engine, req)
    elif args.map == "town":
        page = town_page(engine, args.code, req)
    elif args.map == "facility":
        page = facility_page(engine, args.layer, args.id, req)
    else:
        from service.models import STATUSES

        statuses = tuple(args.status or ["operational"])
        if unknown := [s for s in statuses if s not in STATUSES]:
            raise CommandError(f"--status: unknown value(s) {unknown}; one of {list(STATUSES)}")
        query = CoverageQuery(
            args.layer, args.distance_m, statuses, args.kind, distance_mode=args.distance_mode
        )
        if query.distance_mode == "road":
            from service.roads import network

            with engine.connect() as conn:
                if not network.loaded(conn):
                    raise CommandError(
                        "--distance-mode road: no road network is loaded (sanichain roads import)"
                    )
        page = coverage_page(engine, query, None, req)
    out = Path(args.output)
    out.write_text(page.render(offline=True), "utf-8")
    print(f"{out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from service.db import make_engine
    from service.export.job import prepare
    from service.export.progress import ProgressBar

    params: dict[str, list[str]] = {}
    for option, name in (
        ("bbox", "bbox"),
        ("bbox_crs", "bbox-crs"),
        ("crs", "crs"),
        ("datetime", "datetime"),
        ("filter", "filter"),
        ("properties", "properties"),
        ("sortby", "sortby"),
        ("geometry", "geometry"),
    ):
        if getattr(args, option) is not None:
            params[name] = [getattr(args, option)]
    for condition in args.where:
        name, sep, value = condition.partition("=")
        if not sep:
            raise CommandError(f"--where {condition!r}: expected PROPERTY=VALUE")
        params.setdefault(name.strip(), []).append(value)
    job = prepare(make_engine(database_url()), args.layer, args.format, params)
    bar = ProgressBar(f"{args.layer}.{args.format}", job.count())
    job.write(Path(args.output), bar.update)
    bar.done()
    print(
        json.dumps({"layer": args.layer, "format": args.format, "file": args.output, "features": bar.total})
    )
    return 0


# -- editing --------------------------------------------------------------------------------------
EDIT_KEYS = frozenset({"op", "layer", "id", "version", "feature", "accept_outside"})


def _edit_operation(index: int, entry: object) -> Operation:
    from service.editing.store import OPERATIONS, Operation

    if not isinstance(entry, dict):
        raise CommandError(f"operation {index}: must be an object")
    unknown = sorted(set(entry) - EDIT_KEYS)
    op, layer, fid, version = entry.get("op"), entry.get("layer"), entry.get("id"), entry.get("version")
    if unknown:
        raise CommandError(
            f"operation {index}: unknown member {unknown[0]!r} (known: {', '.join(sorted(EDIT_KEYS))})"
        )
    if op not in OPERATIONS or not isinstance(layer, str):
        raise CommandError(f"operation {index}: `op` must be one of {', '.join(OPERATIONS)}, with a `layer`")
    for name, value in (("id", fid), ("version", version)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise CommandError(f"operation {index}: `{name}` must be an integer")
    feature = entry.get("feature")
    if feature is not None and not isinstance(feature, dict):
        raise CommandError(f"operation {index}: `feature` must be a GeoJSON Feature object")
    # the version read: the compare-and-set of every write but a create (a restore: the version restored)
    expected = None if op == "restore" or version is None else (version,)
    return Operation(
        op,
        layer,
        fid,
        feature,
        expected,
        version if op == "restore" else None,
        bool(entry.get("accept_outside")),
    )


def cmd_edit(args: argparse.Namespace) -> int:
    """Apply a file of edits in one transaction; any refusal is reported by its index, nothing is kept."""
    import getpass

    from service.accounts.audit import Actor
    from service.chain import stored
    from service.editing import store

    try:
        entries = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CommandError(f"{args.file}: not a readable JSON file ({exc})") from exc
    if not isinstance(entries, list):
        raise CommandError(f"{args.file}: must hold a JSON list of operations")
    operations = [_edit_operation(i, e) for i, e in enumerate(entries)]
    actor = Actor(user_name=f"cli:{getpass.getuser()}", route="sanichain edit")
    engine = _chain_engine()
    written = []
    with engine.connect() as conn, conn.begin() as transaction:
        for index, operation in enumerate(operations):
            try:
                written.append(store.apply_one(conn, operation, actor))
            except SanichainError as exc:
                transaction.rollback()
                raise CommandError(
                    f"operation {index} ({operation.op} {operation.layer}): {exc}; nothing written"
                ) from exc
        if args.dry_run:
            transaction.rollback()
        else:
            stored.settle(conn)
    for index, w in enumerate(written):
        state = f"version {w.version}" if w.version is not None else "deleted"
        print(f"{index}\t{w.layer}\t{w.feature_id}\t{state}" + "".join(f"\twarning: {m}" for m in w.warnings))
    print(
        f"{len(written)} operation(s) {'checked, nothing written (dry run)' if args.dry_run else 'written'}"
    )
    return 0


# -- importing ------------------------------------------------------------------------------------
# Rejected rows and warnings printed on the terminal; the rest are in --report and --rejected.
PRINTED_PROBLEMS = 20


def _print_problems(kind: str, listing: Listing, more: str) -> None:
    """The first PRINTED_PROBLEMS of a report's list, each with its row and column, then how many more."""
    for problem in listing.items[:PRINTED_PROBLEMS]:
        column = f" {problem.column}" if problem.column else ""
        print(f"  {kind} row {problem.row}{column}: {problem.problem}")
    if listing.count > PRINTED_PROBLEMS:
        print(f"  … {listing.count - PRINTED_PROBLEMS} {more}")


def _import_progress(enabled: bool) -> Callable[[object], None] | None:
    if not enabled:
        return None
    start = time.monotonic()

    def report(p: object) -> None:
        stage, rows = getattr(p, "stage", ""), getattr(p, "rows", 0)
        print(
            f"  import {stage:<10} {rows:>12,} rows  ({time.monotonic() - start:6.1f} s)",
            file=sys.stderr,
            flush=True,
        )

    return report


def cmd_import(args: argparse.Namespace) -> int:
    """Import a file into a layer in one transaction: 0 written (or a clean dry run), 1 rows rejected
    and nothing written, 2 the file itself could not be imported."""
    import getpass

    from service.accounts.audit import Actor
    from service.importing import report as report_
    from service.importing.job import ImportRequest, run_import
    from service.importing.rows import Options

    options = Options(encoding=args.encoding, sheet=args.sheet, crs=args.crs, mapping=args.mapping)
    request = ImportRequest(
        args.layer, Path(args.file), options, upsert_by=args.upsert_by, valid_rows_only=args.valid_rows_only,
        dry_run=args.dry_run,
    )  # fmt: skip
    actor = Actor(user_name=f"cli:{getpass.getuser()}", route="sanichain import")
    engine = _chain_engine()
    try:
        result = run_import(
            engine, request, actor, progress=_import_progress(args.progress or sys.stderr.isatty())
        )
    except (SanichainError, LookupError) as exc:
        print(f"sanichain: error: {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.report:
            report_.dump(result, Path(args.report))
        if args.rejected:
            result.write_rejected_csv(Path(args.rejected))
    finally:
        result.discard()
    s = result.summary
    read_as = ", ".join(str(v) for v in (s.format, s.encoding, s.sheet, s.crs) if v)
    print(
        f"{s.layer} <- {s.file_name} ({read_as}): {s.rows_read} rows read, {s.created} created, "
        f"{s.updated} updated, {s.unchanged} unchanged, {s.rejected} rejected"
    )
    _print_problems("rejected", result.rejected, "more problems (--report, --rejected)")
    _print_problems("warning", result.warnings, "more warnings (--report)")
    for warning in result.file_warnings:
        print(f"  warning: {warning}")
    if result.chain is not None and result.chain.get("checked"):
        chain = result.chain["summary"]
        print(f"  chain: {chain['findings_created']} new findings, {chain['findings_cleared']} resolved")
    elif result.chain is not None:
        print(f"  chain: not re-checked: {result.chain['reason']}")
    if s.written:
        if s.rejected and not (s.created or s.updated or s.unchanged):
            print(f"written: nothing, all {s.rejected} row(s) were rejected")
            return 1  # a clerk's script must not take an import of nothing for a success
        print(f"written: {s.created} created, {s.updated} updated")
        return 0
    if s.dry_run:
        print("dry run: nothing written" + ("" if not s.rejected else "; rows were rejected"))
        return 0 if not s.rejected or args.valid_rows_only else 1
    print(f"nothing written: {s.rejected} row(s) rejected (--valid-rows-only writes the others)")
    return 1


# -- accounts -------------------------------------------------------------------------------------
def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    import getpass

    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise CommandError("the two passwords differ; nothing changed")
    return first


def _user_line(user: UserInfo) -> str:
    town = f" town {user.town}" if user.town else ""
    state = " disabled" if user.disabled else ""
    return f"{user.name}\t{user.role}{town}{state}"


def _operator(command: str) -> Actor:
    """The operator running an accounts command, as the audit log names them: `cli:<OS user>`."""
    import getpass
    import os

    from service.accounts import audit

    try:
        who = getpass.getuser()
    except OSError:  # no login name for this uid (a bare container)
        who = f"uid {os.getuid()}"
    return audit.Actor(user_name=f"cli:{who}", route=f"sanichain {command}")


Values = dict[str, object]


def _changed(before: Values, after: Values) -> tuple[Values, Values]:
    """The members of `before` and `after` whose values differ."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def cmd_users_add(args: argparse.Namespace) -> int:
    from service.accounts import audit, users

    password = _read_password(args)
    with _chain_engine().begin() as conn:
        user = users.add(conn, args.name, args.role, password, args.town)
        after = {"role": user.role, "town": user.town, "disabled": user.disabled}
        audit.record(
            conn, _operator("users add"), "users.add", layer="users", target_id=user.name, after=after
        )
    print(f"added {_user_line(user)}")
    return 0


def cmd_users_list(_: argparse.Namespace) -> int:
    from service.accounts import users

    with _chain_engine().connect() as conn:
        for user in users.list_all(conn):
            print(_user_line(user))
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    from service.accounts import audit, users

    with _chain_engine().begin() as conn:
        was = users.get(conn, args.name)
        user = users.disable(conn, args.name)
        before, after = _changed({"disabled": was.disabled}, {"disabled": user.disabled})
        audit.record(
            conn, _operator("users disable"), "users.disable", layer="users", target_id=user.name,
            before=before, after=after,
        )  # fmt: skip
    print(f"disabled {user.name}: no sign-in, none of their tokens accepted")
    return 0


def cmd_users_role(args: argparse.Namespace) -> int:
    from service.accounts import audit, users

    with _chain_engine().begin() as conn:
        was = users.get(conn, args.name)
        user = users.set_role(conn, args.name, args.role, args.town)
        before, after = _changed({"role": was.role, "town": was.town}, {"role": user.role, "town": user.town})
        audit.record(
            conn, _operator("users role"), "users.role", layer="users", target_id=user.name,
            before=before, after=after,
        )  # fmt: skip
    print(f"changed {_user_line(user)}")
    return 0


def cmd_tokens_create(args: argparse.Namespace) -> int:
    from service.accounts import audit, tokens

    with _chain_engine().begin() as conn:
        new = tokens.create(conn, args.name, args.label, args.expires_days)
        # the id, owner, label and expiry: never the token
        audit.record(
            conn, _operator("tokens create"), "tokens.create", layer="api_tokens", target_id=new.id,
            after={"user": new.user, "label": new.label, "expires_at": new.expires_at},
        )  # fmt: skip
    until = f"expires {new.expires_at:%Y-%m-%d %H:%M %Z}" if new.expires_at else "no expiry"
    print(f"token {new.id} for {new.user} ({until}); shown once, keep it now", file=sys.stderr)
    print(new.token)
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    from service.accounts import tokens

    def when(t: datetime | None) -> str:
        return f"{t:%Y-%m-%d %H:%M}" if t else "-"

    with _chain_engine().connect() as conn:
        found = tokens.list_all(conn, args.name)
    for t in found:
        print(
            f"{t.id}\t{t.user}\t{t.label}\t{t.kind}\t{t.state}\tcreated {when(t.created_at)}\t"
            f"expires {when(t.expires_at)}\tlast used {when(t.last_used_at)}"
        )
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    from service.accounts import audit, tokens

    with _chain_engine().begin() as conn:
        was = next((t for t in tokens.list_all(conn) if t.id == args.id), None)
        t = tokens.revoke(conn, args.id)
        audit.record(
            conn, _operator("tokens revoke"), "tokens.revoke", layer="api_tokens", target_id=t.id,
            before={"state": was.state if was else None}, after={"state": t.state},
            detail={"user": t.user, "label": t.label},
        )  # fmt: skip
    print(f"revoked token {t.id} of {t.user}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from service.accounts import audit

    filters = audit.parse_filters(args.user, args.layer, args.action, args.since, args.until)
    with _chain_engine().connect() as conn:
        if args.csv:
            for chunk in audit.csv_text(conn, filters):
                sys.stdout.write(chunk)
        else:
            for entry in audit.stream(conn, filters):
                print(audit.tsv_line(entry))
    return 0


# -- parser --------------------------------------------------------------------------------------
def _non_negative(value: str) -> int:
    try:
        n = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from exc
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def _positive(value: str) -> int:
    n = _non_negative(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _town_code(value: str) -> str:
    if len(value) != 9 or not value.isdigit():
        raise argparse.ArgumentTypeError(f"a town code has 9 digits, got {value!r}")
    return value


def cmd_backup(args: argparse.Namespace) -> int:
    from service import backup

    tables = backup.backup(database_url(), Path(args.file))
    rows = sum(t["rows"] for t in tables.values())
    manifest = f"{args.file}{backup.MANIFEST_SUFFIX}"
    print(f"backed up {len(tables)} tables, {rows:,} rows to {args.file} (manifest: {manifest})")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from service import backup

    tables = backup.restore(database_url(), Path(args.file))
    rows = sum(t["rows"] for t in tables.values())
    print(f"restored {len(tables)} tables, {rows:,} rows; every table matches the backup's manifest")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from service.export.formats import FORMATS, with_crs
    from service.vocabulary import DISTANCE_MODES, ROLES, STREAMS

    parser = argparse.ArgumentParser(
        prog="sanichain", description="Rural sanitation inventory and GIS service."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    for name, func, help_text in (
        (
            "run",
            cmd_run,
            "everything local: PostGIS (own cluster unless DATABASE_URL), migrate, demo data, serve",
        ),
        ("serve", cmd_serve, "serve the API on an existing, migrated database"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--host", default=None, help="bind address (default 127.0.0.1, env HOST)")
        p.add_argument("--port", type=int, default=None, help="port (default 8000, env PORT)")
        p.add_argument(
            "--workers", type=_positive, default=None,
            help="worker processes (default half the cores, 1 to 4; env SANICHAIN_WORKERS)",
        )  # fmt: skip
        p.set_defaults(func=func)

    p = sub.add_parser("backup", help="dump the whole database (photos included) to FILE, with a manifest")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser(
        "restore", help="restore a backup into an empty database, checked against its manifest"
    )
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_restore)

    db = sub.add_parser("db", help="schema and local database").add_subparsers(
        dest="db_command", required=True
    )
    p = db.add_parser("upgrade", help="alembic upgrade (default: head)")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_db_upgrade)
    p = db.add_parser("downgrade", help="alembic downgrade (default: base, removes everything)")
    p.add_argument("revision", nargs="?", default="base")
    p.set_defaults(func=cmd_db_downgrade)
    db.add_parser("check", help="compare the database schema with the models").set_defaults(func=cmd_db_check)
    p = db.add_parser("local", help="the private local PostGIS cluster")
    p.add_argument("action", choices=("start", "stop", "status"))
    p.set_defaults(func=cmd_db_local)

    demo = sub.add_parser("demo", help="demo and benchmark data").add_subparsers(
        dest="demo_command", required=True
    )
    p = demo.add_parser("load", help="load the Zhucheng demo (idempotent) or a generated national-scale set")
    p.add_argument("--dir", help="dataset directory (default gis_data/zhucheng)")
    p.add_argument("--if-empty", action="store_true", help="only when the inventory holds nothing yet")
    p.set_defaults(func=cmd_demo_load)
    p = demo.add_parser("zhucheng", help="regenerate the Zhucheng demo files (deterministic)")
    p.add_argument("-o", "--output", help="output directory (default gis_data/zhucheng)")
    p.set_defaults(func=cmd_demo_zhucheng)
    p = demo.add_parser("generate", help="write a synthetic national-scale dataset (CSV for COPY)")
    p.add_argument("--villages", type=_non_negative, default=500_000)
    p.add_argument("--farms", type=_non_negative, default=1_000_000)
    p.add_argument("--stations", type=_non_negative, default=5_000)
    p.add_argument("--seed", type=int, default=20261127)
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.set_defaults(func=cmd_demo_generate)

    p = sub.add_parser("export", help="write a layer (or all: every layer, GeoPackage) to a file")
    p.add_argument("layer", help="layer name, or all (with -f gpkg)")
    p.add_argument("-f", "--format", required=True, choices=tuple(FORMATS))
    p.add_argument("-o", "--output", required=True, help="file to write (replaced if it exists)")
    p.add_argument("--bbox", help="minx,miny,maxx,maxy (lon/lat unless --bbox-crs)")
    p.add_argument("--bbox-crs", help="CRS of --bbox, e.g. EPSG:4549")
    p.add_argument("--crs", help=f"output CRS of {with_crs()}, e.g. EPSG:4490 or EPSG:4528")
    p.add_argument("--datetime", help="instant or interval on updated_at, e.g. 2025-01-01/..")
    p.add_argument("--filter", help="CQL2 text, e.g. \"species = 'pig' AND head_count > 1000\"")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="PROPERTY=VALUE",
        help="property filter, repeatable (e.g. --where town=370782001 --where status=operational)",
    )
    p.add_argument("--properties", help="comma-separated properties to keep")
    p.add_argument("--sortby", help="e.g. -capacity,name")
    p.add_argument("--geometry", choices=("xy", "wkt"), help="csv/xlsx geometry: lon/lat columns or WKT")
    p.set_defaults(func=cmd_export)
    chain = sub.add_parser("chain", help="the household → village → town → city chain").add_subparsers(
        dest="chain_command", required=True
    )
    p = chain.add_parser("check", help="integrity report; exit 1 when there are errors")
    p.add_argument("--town", type=_town_code, help="only findings in this town (9-digit code)")
    p.add_argument("--json", action="store_true", help="the full report as JSON")
    p.set_defaults(func=cmd_chain_check)
    p = chain.add_parser("assign", help="attach unconnected sources to the nearest facility (dry run)")
    p.add_argument("--stream", required=True, choices=STREAMS)
    p.add_argument("--respect-capacity", action="store_true", help="only within remaining capacity")
    p.add_argument("--apply", action="store_true", help="write the proposed links")
    p.set_defaults(func=cmd_chain_assign)
    p = chain.add_parser("diagram", help="flow diagram of a stream as .svg, .png or .html")
    p.add_argument("--stream", default=STREAMS[0], choices=STREAMS)
    p.add_argument("--town", type=_town_code, help="one town (9-digit code); default the city")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_chain_diagram)
    p = chain.add_parser("indicators", help="the live indicators as JSON")
    p.add_argument("--town", type=_town_code)
    p.set_defaults(func=cmd_chain_indicators)

    roads = sub.add_parser("roads", help="the road network (distances along roads)").add_subparsers(
        dest="roads_command", required=True
    )
    p = roads.add_parser(
        "import",
        help="replace the road network with the lines of a file (GeoJSON; GeoPackage, Shapefile… via GDAL)",
    )
    p.add_argument("file")
    p.add_argument("--layer", help="layer to read from a multi-layer file (GeoPackage)")
    p.set_defaults(func=cmd_roads_import)
    p = sub.add_parser(
        "boundaries",
        help="replace the town outlines and the city outline from a boundary file (differences first)",
    )
    p.add_argument("file", help="town polygons: Shapefile (.shp or .zip), GeoPackage, GeoJSON")
    p.add_argument("--crs", help="the file's CRS when it names none or names it wrong (e.g. EPSG:4528)")
    p.add_argument("--code-field", help="field holding the 9-digit town code (default: found by its name)")
    p.add_argument("--name-field", help="field holding the town name (matched when the code is unknown)")
    p.add_argument("--layer", help="layer of a multi-layer file (GeoPackage) or shapefile of a zip")
    p.add_argument("--city", help="file with the city outline (default: the union of the towns)")
    p.add_argument("--dry-run", action="store_true", help="report the differences, write nothing")
    p.add_argument("--json", action="store_true", help="the whole report as JSON")
    p.set_defaults(func=cmd_boundaries)
    maps = sub.add_parser("map", help="write a map as one self-contained HTML file (works offline)")
    kinds = maps.add_subparsers(dest="map", required=True)
    p = kinds.add_parser("city", help="the city map")
    p = kinds.add_parser("town", help="a town's map")
    p.add_argument("code", type=_town_code, help="9-digit town code")
    p = kinds.add_parser("facility", help="a facility's map: service area, upstream, downstream")
    p.add_argument("layer", help="e.g. transfer_stations")
    p.add_argument("id", type=int, help="feature id")
    p = kinds.add_parser("coverage", help="served/unserved villages and farms, gap areas")
    p.add_argument("--layer", required=True, help="facility layer, e.g. collection_points")
    p.add_argument("--distance-m", type=float, help="reach in metres (default from the standard)")
    p.add_argument("--status", action="append", help="statuses that count (repeatable)")
    p.add_argument("--kind")
    p.add_argument(
        "--distance-mode",
        choices=DISTANCE_MODES,
        default="geodesic",
        help="road: along the road network",
    )
    for p in kinds.choices.values():
        p.add_argument("-o", "--output", required=True, help="HTML file to write")
        p.add_argument("--lang", choices=("zh", "en"), default="zh")
        p.add_argument("--base-url", help="service URL for the popups' links (default from HOST/PORT)")
        p.set_defaults(func=cmd_map)

    p = sub.add_parser("edit", help="apply a JSON file of feature edits in one transaction (all or nothing)")
    p.add_argument(
        "file",
        help="a JSON list of edits: op (create|replace|update|delete|restore), layer, id, version, feature",
    )
    p.add_argument("--dry-run", action="store_true", help="check every operation, write nothing")
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser(
        "import", help="import a CSV or XLSX file into a layer in one transaction (all or nothing)"
    )
    p.add_argument("layer", help="the layer, e.g. livestock_farms")
    p.add_argument("file", help="the file (CSV in any encoding, or XLSX)")
    p.add_argument(
        "--crs", help="of the coordinate columns: an EPSG code (EPSG:4528), gcj02 or bd09; default WGS 84"
    )
    p.add_argument("--encoding", help="of a CSV file (utf-8, gbk, gb18030); detected when not given")
    p.add_argument("--mapping", type=Path, help="a JSON file of header → field over the automatic matching")
    p.add_argument("--sheet", help="the XLSX sheet (default: the first)")
    p.add_argument("--dry-run", action="store_true", help="check and report everything, write nothing")
    p.add_argument(
        "--upsert-by", choices=["code"], help="rows whose code the layer holds update that feature"
    )
    p.add_argument(
        "--valid-rows-only", action="store_true", help="write the valid rows even when some are rejected"
    )
    p.add_argument("--report", help="write the report as JSON to this file")
    p.add_argument(
        "--rejected", help="write the rejected rows (as in the file, with a problem column) to this CSV"
    )
    p.add_argument(
        "--progress", action="store_true", help="progress on stderr even when it is not a terminal"
    )
    p.set_defaults(func=cmd_import)

    users = sub.add_parser("users", help="accounts: add, list, disable, change role").add_subparsers(
        dest="users_command", required=True
    )
    p = users.add_parser("add", help="a new user (password prompted twice, or read from stdin)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--town", type=_town_code, help="limit the role to this town (9-digit code)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    p.set_defaults(func=cmd_users_add)
    users.add_parser("list", help="every user, role and town").set_defaults(func=cmd_users_list)
    p = users.add_parser("disable", help="refuse a user's sign-in and tokens from now on")
    p.add_argument("name")
    p.set_defaults(func=cmd_users_disable)
    p = users.add_parser("role", help="change a user's role (and town: none without --town)")
    p.add_argument("name")
    p.add_argument("role", choices=ROLES)
    p.add_argument("--town", type=_town_code, help="limit the role to this town (9-digit code)")
    p.set_defaults(func=cmd_users_role)

    tokens = sub.add_parser("tokens", help="API tokens for scripts: create, list, revoke").add_subparsers(
        dest="tokens_command", required=True
    )
    p = tokens.add_parser("create", help="a new token for a user, printed alone on stdout (shown once)")
    p.add_argument("name", help="the user the token acts for")
    p.add_argument("--expires-days", type=int, help="valid for N days (default: until revoked)")
    p.add_argument("--label", default="api", help="what the token is for (default: api)")
    p.set_defaults(func=cmd_tokens_create)
    p = tokens.add_parser("list", help="tokens (never the token itself), of every user or one")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_tokens_list)
    p = tokens.add_parser("revoke", help="refuse a token from now on")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_tokens_revoke)

    p = sub.add_parser(
        "audit", help="the audit log, oldest first: tab-separated (or CSV with --csv) on stdout"
    )
    p.add_argument("--user", help="only entries of this user name (cli:<name> for commands)")
    p.add_argument("--layer", help="only entries that wrote this layer or table, e.g. users")
    p.add_argument("--action", help="e.g. sign_in, scenario.play, users.add")
    p.add_argument("--since", help="from this ISO 8601 date or date-time on (no offset: UTC)")
    p.add_argument("--until", help="before this date or date-time (a date: to the end of that day)")
    p.add_argument("--csv", action="store_true", help="CSV with a header row, as GET /audit?f=csv")
    p.set_defaults(func=cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        print(f"sanichain: database error: {reason}", file=sys.stderr)
        return 1
    # the domain's errors (service.errors), the commands' own, and bad files (DemoDataError, ScaleDataError)
    except (CommandError, ClusterError, SanichainError, LookupError, ValueError) as exc:
        print(f"sanichain: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
