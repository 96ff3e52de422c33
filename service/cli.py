"""The `sanichain` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from service.config import DatabaseSettings, DemoSettings, LocalClusterSettings, ServerSettings
from service.localdb import ClusterError, LocalCluster


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

    return run(args.host, args.port)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.api.app import create_app
    from service.db import make_engine

    settings = ServerSettings()
    app = create_app(make_engine(database_url()))
    uvicorn.Server(
        uvicorn.Config(app, host=args.host or settings.host, port=args.port or settings.port)
    ).run()
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
        from service.demo import scale

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
    from service.demo import scale

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


# -- parser --------------------------------------------------------------------------------------
def _non_negative(value: str) -> int:
    try:
        n = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from exc
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
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
        p.set_defaults(func=func)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CommandError, ClusterError) as exc:
        print(f"sanichain: error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        print(f"sanichain: database error: {reason}", file=sys.stderr)
        return 1
    except ValueError as exc:  # DemoDataError, ScaleDataError and friends
        print(f"sanichain: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
