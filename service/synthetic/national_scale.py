"""National-scale SYNTHETIC dataset for benchmarks: CSV files PostgreSQL can COPY, and their loader.

Everything here is invented. Points lie uniformly over a box in eastern China; towns are the cells
of a 0.2-degree grid, so a point's town is found by integer arithmetic, never by a spatial query.
Coordinates are drawn as whole microdegrees: the 6-decimal text in the CSV is then exact, and a
point on a cell edge is covered by its cell in PostGIS too.

    counts = generate(Path("/tmp/national"), villages=500_000, farms=1_000_000, stations=5_000)
    load("postgresql://postgres@127.0.0.1:5432/bench", Path("/tmp/national"))
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import psycopg2
from psycopg2 import errors, sql

from service import spatial_indexes
from service.models import Base
from service.models.facilities import MANURE_FACILITY_TYPES, SPECIES

DEFAULT_SEED = 20261127
BBOX = (114, 34, 122, 38)  # lon_min, lat_min, lon_max, lat_max
CELL_DEG = 0.2
GRID_COLS = 40  # (122 - 114) / 0.2
GRID_ROWS = 20  # (38 - 34) / 0.2
CHUNK_ROWS = 200_000  # part of the RNG draw order: changing it changes the data for a seed
MANIFEST = "manifest.json"

_MICRO = 1_000_000
_CELL_MICRO = 200_000  # CELL_DEG in microdegrees, kept integral so cell lookup is exact
_SRID_PREFIX = "SRID=4326;"

CITY_CODE = "990000"
TOWN_CODE_BASE = 990_000_000

# The probabilities below follow the order of the model's vocabularies (SPECIES, MANURE_FACILITY_TYPES):
# reordering a vocabulary changes the data drawn for a seed.
SPECIES_P = (0.40, 0.08, 0.10, 0.08, 0.17, 0.17)
# Median head_count per species, chosen around the large-scale thresholds so both kinds occur.
SPECIES_MEDIAN_HEADS = (300, 80, 40, 150, 3_000, 8_000)
# Manure storage per head (m3), rough; only needs to give plausible magnitudes.
SPECIES_M3_PER_HEAD = (0.3, 3.0, 2.0, 0.2, 0.005, 0.003)
FARM_STATUSES = ("operational", "suspended", "closed", "planned")
FARM_STATUS_P = (0.85, 0.06, 0.05, 0.04)
MANURE_FACILITY_P = (0.10, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15)
COMMISSIONED_FIRST = np.datetime64("2000-01-01")
COMMISSIONED_LAST = np.datetime64("2024-12-31")

# Load order follows the foreign keys. Generated columns (station_class, head_count_basis,
# is_large_scale, has_manure_facility) are left out: the database computes them.
COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(columns.split())
    for table, columns in (
        ("cities", "id code name name_en geom"),
        ("towns", "id code name kind city_id geom"),
        ("communities", "id code name kind town_id geom"),
        (
            "villages",
            "id code name town_id community_id population households toilets_rebuilt"
            " waste_rate_kg_per_person_day geom",
        ),
        ("transfer_stations", "id code name status capacity capacity_unit town_id compression geom"),
        ("manure_centers", "id code name status capacity capacity_unit town_id geom"),
        ("treatment_plants", "id code name status kind phase capacity capacity_unit town_id geom"),
        ("biogas_centers", "id code name status capacity capacity_unit town_id geom"),
        (
            "livestock_farms",
            "id code name status capacity capacity_unit commissioned_on town_id species head_count"
            " manure_facility_type geom",
        ),
    )
}
TABLES: tuple[str, ...] = tuple(COLUMNS)
# One independent random stream per table, so changing one table's size leaves the others alone.
_STREAM = {table: i for i, table in enumerate(TABLES)}

Progress = Callable[[str], None]


class ScaleDataError(RuntimeError):
    """The scale data set cannot be generated or loaded as asked (bad directory, non-empty database)."""


# --- generation ---------------------------------------------------------------------------------

# A table's chunk: a %-template of one CSV line and the columns of arguments it formats. Templates are
# used instead of the csv module because they are several times faster; they stay RFC-4180 correct
# because every %s value comes from a fixed vocabulary without commas, quotes or newlines, and the one
# field that holds commas (a polygon's EWKT) is quoted in its template.
Chunk = tuple[str, list[list[Any]]]
Maker = Callable[[np.random.Generator, int, int], Chunk]

_POINT = "SRID=4326;POINT(%d.%06d %d.%06d)"
_CENTS = "%d.%02d"


def generate(
    out_dir: Path,
    villages: int,
    farms: int,
    stations: int,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write one COPY-ready CSV per table plus manifest.json into `out_dir`; return the row counts."""
    for label, value in (("villages", villages), ("farms", farms), ("stations", stations)):
        if value < 0:
            raise ScaleDataError(f"{label} must be >= 0, got {value}")
    out_dir.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    towns = GRID_COLS * GRID_ROWS
    plan: dict[str, tuple[int, Maker]] = {
        "cities": (1, _city_rows),
        "towns": (towns, _town_rows),
        "communities": (towns, _community_rows),
        "villages": (villages, _village_rows),
        "transfer_stations": (stations, _station_rows),
        "manure_centers": (max(1, stations // 10), _manure_center_rows),
        "treatment_plants": (max(1, stations // 100), _plant_rows),
        "biogas_centers": (max(1, stations // 200), _biogas_rows),
        "livestock_farms": (farms, _farm_rows),
    }
    counts: dict[str, int] = {}
    for table in TABLES:
        rows, make = plan[table]
        rng = np.random.default_rng([seed, _STREAM[table]])
        counts[table] = _write_table(out_dir / f"{table}.csv", table, rows, rng, make, say)
    _write_manifest(out_dir, seed, counts)
    say(f"manifest: {out_dir / MANIFEST}")
    return counts


def _write_table(
    path: Path, table: str, rows: int, rng: np.random.Generator, make: Maker, say: Progress
) -> int:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(COLUMNS[table]) + "\n")
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            template, columns = make(rng, start + 1, n)
            fh.write("".join([template % row for row in zip(*columns, strict=True)]))
            say(f"{table}: {start + n:,}/{rows:,}")
    return rows


def _write_manifest(out_dir: Path, seed: int, counts: dict[str, int]) -> None:
    manifest = {
        "seed": seed,
        "counts": counts,
        "bbox": list(BBOX),
        "synthetic": True,
        "columns": {table: list(cols) for table, cols in COLUMNS.items()},
    }
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    (out_dir / MANIFEST).write_text(text, encoding="utf-8")


def _line(*fields: str) -> str:
    return ",".join(fields) + "\n"


def _point_args(lon_micro: np.ndarray, lat_micro: np.ndarray) -> list[list[Any]]:
    """Arguments of `_POINT`: whole and millionth parts, so the text is exact (the box is east/north)."""
    return [
        (lon_micro // _MICRO).tolist(),
        (lon_micro % _MICRO).tolist(),
        (lat_micro // _MICRO).tolist(),
        (lat_micro % _MICRO).tolist(),
    ]


def _cent_args(cents: np.ndarray) -> list[list[Any]]:
    """Arguments of `_CENTS`: integer hundredths as exact 2-decimal text."""
    return [(cents // 100).tolist(), (cents % 100).tolist()]


def _random_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform points in the box as microdegrees, with the id of the town cell holding each."""
    lon = rng.integers(BBOX[0] * _MICRO, BBOX[2] * _MICRO, size=n, endpoint=True)
    lat = rng.integers(BBOX[1] * _MICRO, BBOX[3] * _MICRO, size=n, endpoint=True)
    return lon, lat, cell_id(lon, lat)


def cell_id(lon_micro: np.ndarray, lat_micro: np.ndarray) -> np.ndarray:
    """Town id of the grid cell covering each point; the box's east and north edges go to the last cell."""
    col = np.clip((lon_micro - BBOX[0] * _MICRO) // _CELL_MICRO, 0, GRID_COLS - 1)
    row = np.clip((lat_micro - BBOX[1] * _MICRO) // _CELL_MICRO, 0, GRID_ROWS - 1)
    return row * GRID_COLS + col + 1


def town_code(town: int) -> str:
    return f"{TOWN_CODE_BASE + town:09d}"


def _box_ewkt(x0: int, y0: int, x1: int, y1: int) -> str:
    """A lon/lat box given in microdegrees as a one-polygon MULTIPOLYGON EWKT."""
    xs0, ys0, xs1, ys1 = (f"{v // _MICRO}.{v % _MICRO:06d}" for v in (x0, y0, x1, y1))
    ring = f"{xs0} {ys0},{xs1} {ys0},{xs1} {ys1},{xs0} {ys1},{xs0} {ys0}"
    return f"{_SRID_PREFIX}MULTIPOLYGON((({ring})))"


def _grid_cells() -> list[tuple[int, int, int, int, int]]:
    """(town id, lon0, lat0, lon1, lat1) of every cell, row by row from the south-west corner."""
    cells = []
    for row in range(GRID_ROWS):
        for col in range(GRID_COLS):
            x0 = BBOX[0] * _MICRO + col * _CELL_MICRO
            y0 = BBOX[1] * _MICRO + row * _CELL_MICRO
            cells.append((row * GRID_COLS + col + 1, x0, y0, x0 + _CELL_MICRO, y0 + _CELL_MICRO))
    return cells


def _city_rows(_rng: np.random.Generator, _start: int, _n: int) -> Chunk:
    geom = _box_ewkt(*(v * _MICRO for v in BBOX))
    template = _line("%d", "%s", "合成全国规模数据（合成）", "Synthetic national-scale dataset", '"%s"')
    return template, [[1], [CITY_CODE], [geom]]


def _town_rows(_rng: np.random.Generator, _start: int, _n: int) -> Chunk:
    cells = _grid_cells()
    ids = [c[0] for c in cells]
    template = _line("%d", "%s", "合成镇 %d", "town", "1", '"%s"')
    return template, [ids, [town_code(i) for i in ids], ids, [_box_ewkt(*c[1:]) for c in cells]]


def _community_rows(_rng: np.random.Generator, _start: int, _n: int) -> Chunk:
    cells = _grid_cells()
    ids = [c[0] for c in cells]
    lon = np.array([(c[1] + c[3]) // 2 for c in cells], dtype=np.int64)
    lat = np.array([(c[2] + c[4]) // 2 for c in cells], dtype=np.int64)
    # One rural community per town with the town's id, so a village's community_id is its town_id.
    template = _line("%d", "%s201", "合成社区 %d", "rural", "%d", _POINT)
    return template, [ids, [town_code(i) for i in ids], ids, ids, *_point_args(lon, lat)]


def _village_rows(rng: np.random.Generator, start: int, n: int) -> Chunk:
    ids = list(range(start, start + n))
    lon, lat, town = _random_points(rng, n)
    population = np.clip(np.rint(rng.lognormal(np.log(500), 0.7, n)), 50, 20_000).astype(np.int64)
    households = np.maximum(population // 3, 1)
    toilets = np.floor(households * rng.uniform(0.7, 1.0, n)).astype(np.int64)
    towns = town.tolist()
    # Empty waste rate = NULL: the city's planning default applies.
    template = _line("%d", "V%08d", "合成村 %d", "%d", "%d", "%d", "%d", "%d", "", _POINT)
    return template, [
        ids,
        ids,
        ids,
        towns,
        towns,
        population.tolist(),
        households.tolist(),
        np.minimum(toilets, households).tolist(),
        *_point_args(lon, lat),
    ]


def _facility_rows(
    rng: np.random.Generator, start: int, n: int, cents: tuple[int, int]
) -> tuple[list[list[Any]], list[list[Any]]]:
    """Arguments for (id, code, name, capacity) and for (town_id, geom) of an operational t/d facility."""
    ids = list(range(start, start + n))
    lon, lat, town = _random_points(rng, n)
    capacity = rng.integers(cents[0], cents[1], size=n, endpoint=True)
    return [ids, ids, ids, *_cent_args(capacity)], [town.tolist(), *_point_args(lon, lat)]


def _station_rows(rng: np.random.Generator, start: int, n: int) -> Chunk:
    head, tail = _facility_rows(rng, start, n, (20_00, 600_00))
    template = _line("%d", "TS%06d", "合成转运站 %d", "operational", _CENTS, "t/d", "%d", "true", _POINT)
    return template, [*head, *tail]


def _manure_center_rows(rng: np.random.Generator, start: int, n: int) -> Chunk:
    head, tail = _facility_rows(rng, start, n, (20_00, 300_00))
    template = _line("%d", "MC%06d", "合成粪污处理中心 %d", "operational", _CENTS, "t/d", "%d", _POINT)
    return template, [*head, *tail]


def _plant_rows(rng: np.random.Generator, start: int, n: int) -> Chunk:
    head, tail = _facility_rows(rng, start, n, (300_00, 2000_00))
    template = _line(
        "%d", "TP%06d", "合成焚烧发电厂 %d", "operational", "incineration", "1", _CENTS, "t/d", "%d", _POINT
    )
    return template, [*head, *tail]


def _biogas_rows(rng: np.random.Generator, start: int, n: int) -> Chunk:
    head, tail = _facility_rows(rng, start, n, (50_00, 500_00))
    template = _line("%d", "BG%06d", "合成沼气处理中心 %d", "operational", _CENTS, "t/d", "%d", _POINT)
    return template, [*head, *tail]


def _farm_rows(rng: np.random.Generator, start: int, n: int) -> Chunk:
    ids = list(range(start, start + n))
    lon, lat, town = _random_points(rng, n)
    species = rng.choice(len(SPECIES), size=n, p=SPECIES_P)
    median = np.asarray(SPECIES_MEDIAN_HEADS, dtype=np.float64)[species]
    heads = np.clip(np.rint(median * rng.lognormal(0.0, 1.0, n)), 10, 200_000).astype(np.int64)
    facility = rng.choice(len(MANURE_FACILITY_TYPES), size=n, p=MANURE_FACILITY_P)
    per_head = np.asarray(SPECIES_M3_PER_HEAD, dtype=np.float64)[species]
    cents = np.rint(heads * per_head * rng.uniform(0.5, 1.5, n) * 100).astype(np.int64)
    cents = np.where(facility == 0, 0, np.maximum(cents, 100))  # no facility, no storage
    status = rng.choice(len(FARM_STATUSES), size=n, p=FARM_STATUS_P)
    span = int((COMMISSIONED_LAST - COMMISSIONED_FIRST).astype(np.int64)) + 1
    commissioned = COMMISSIONED_FIRST + rng.integers(0, span, size=n)
    template = _line("%d", "F%08d", "合成养殖场 %d", "%s", _CENTS, "m3", "%s", "%d", "%s", "%d", "%s", _POINT)
    return template, [
        ids,
        ids,
        ids,
        np.asarray(FARM_STATUSES)[status].tolist(),
        *_cent_args(cents),
        commissioned.astype(str).tolist(),
        town.tolist(),
        np.asarray(SPECIES)[species].tolist(),
        heads.tolist(),
        np.asarray(MANURE_FACILITY_TYPES)[facility].tolist(),
        *_point_args(lon, lat),
    ]


# --- loading --------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def load(dsn_or_sqlalchemy_url: str, data_dir: Path, progress: Progress | None = None) -> dict[str, int]:
    """COPY a generated set into an empty, migrated database in one transaction; return the row counts."""
    say = progress or (lambda _msg: None)
    manifest = read_manifest(data_dir)
    conn = _connect(dsn_or_sqlalchemy_url)
    try:
        with conn, conn.cursor() as cur:
            _lock_and_require_empty(cur)
            counts = {}
            for table in TABLES:
                # the tables are empty: their spatial indexes are built once, after the rows are in
                with spatial_indexes.rebuilt_after(cur, table):
                    counts[table] = _copy_table(cur, data_dir, table, manifest, say)
            for table in TABLES:
                _reset_identity(cur, table)
            say("analyze")
            cur.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, TABLES))))
    finally:
        conn.close()
    say("committed")
    return counts


def read_manifest(data_dir: Path) -> dict[str, Any]:
    """The directory's manifest, checked against its CSV files; ScaleDataError says what is wrong."""
    path = data_dir / MANIFEST
    if not path.is_file():
        raise ScaleDataError(f"no {MANIFEST} in {data_dir}: not a generated scale data set (run generate)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScaleDataError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("synthetic") is not True:
        raise ScaleDataError(f"{path}: not a synthetic scale data set manifest")
    for key in ("counts", "columns"):
        if not isinstance(manifest.get(key), dict):
            raise ScaleDataError(f"{path}: '{key}' missing or not an object")
    for table in TABLES:
        _check_table_entry(data_dir, manifest, table)
    return manifest


def _check_table_entry(data_dir: Path, manifest: dict[str, Any], table: str) -> None:
    where = data_dir / MANIFEST
    count = manifest["counts"].get(table)
    columns = manifest["columns"].get(table)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ScaleDataError(f"{where}: counts.{table} missing or not a row count")
    if (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(c, str) and _IDENTIFIER.match(c) for c in columns)
    ):
        raise ScaleDataError(f"{where}: columns.{table} missing or not a list of column names")
    csv_path = data_dir / f"{table}.csv"
    try:
        with csv_path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ScaleDataError(f"{csv_path}: cannot read ({exc})") from exc
    if header != columns:
        raise ScaleDataError(f"{csv_path}: header {header} does not match the manifest's {columns}")


def libpq_url(url: str) -> str:
    """'postgresql+psycopg2://…' (SQLAlchemy) → 'postgresql://…' (libpq); other DSNs pass unchanged."""
    return re.sub(r"^postgres(?:ql)?\+[A-Za-z0-9_]+://", "postgresql://", url)


def _connect(url: str) -> Any:
    try:
        conn = psycopg2.connect(libpq_url(url), application_name="sanichain-scale-load")
    except psycopg2.OperationalError as exc:
        raise ScaleDataError(f"cannot connect to the database: {exc}".strip()) from exc
    conn.set_client_encoding("UTF8")
    return conn


def _inventory_tables() -> list[str]:
    return [table.name for table in Base.metadata.sorted_tables]


def _lock_and_require_empty(cur: Any) -> None:
    """Refuse unless every inventory table is empty; the lock keeps it so until commit."""
    tables = _inventory_tables()
    cur.execute("SET LOCAL lock_timeout = '10s'")
    try:
        cur.execute(
            sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(
                sql.SQL(", ").join(map(sql.Identifier, tables))
            )
        )
    except errors.UndefinedTable as exc:
        raise ScaleDataError(f"the database is not migrated: {exc}".strip()) from exc
    except errors.LockNotAvailable as exc:
        raise ScaleDataError("another session holds the inventory tables; try again later") from exc
    occupied = []
    for table in tables:
        cur.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table)))
        if cur.fetchone()[0]:
            occupied.append(table)
    if occupied:
        raise ScaleDataError(
            "the scale data set loads only into an empty database; these tables hold rows: "
            + ", ".join(occupied)
        )


def _copy_table(cur: Any, data_dir: Path, table: str, manifest: dict[str, Any], say: Progress) -> int:
    columns: Sequence[str] = manifest["columns"][table]
    expected: int = manifest["counts"][table]
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    say(f"copy {table} ({expected:,} rows)")
    with (data_dir / f"{table}.csv").open("rb") as fh:
        _copy_from(cur, statement.as_string(cur), fh, table)
    if cur.rowcount != expected:
        raise ScaleDataError(f"{table}.csv held {cur.rowcount} rows, the manifest says {expected}")
    return expected


def _copy_from(cur: Any, statement: str, fh: IO[bytes], table: str) -> None:
    try:
        cur.copy_expert(statement, fh, size=1 << 20)
    except psycopg2.DataError as exc:
        raise ScaleDataError(f"{table}.csv rejected by the database: {exc}".strip()) from exc
    except psycopg2.IntegrityError as exc:
        raise ScaleDataError(f"{table}.csv breaks a constraint: {exc}".strip()) from exc


def _reset_identity(cur: Any, table: str) -> None:
    # Explicit ids leave the identity sequence at 1; move it past them so later inserts work.
    cur.execute(
        sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), max(id)) FROM {}").format(
            sql.Identifier(table)
        ),
        (table,),
    )
