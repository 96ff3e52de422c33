"""The national-scale synthetic set: deterministic COPY-ready CSVs that a migrated PostGIS loads as-is."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine

from service.models.facilities import LARGE_FARM_THRESHOLDS
from service.synthetic import national_scale as scale
from tests import worlds
from tests.queries import column, rows, scalar

SMALL = {"villages": 2_000, "farms": 5_000, "stations": 50}
SMALL_COUNTS = {
    "cities": 1,
    "towns": 800,
    "communities": 800,
    "villages": 2_000,
    "transfer_stations": 50,
    "manure_centers": 5,
    "treatment_plants": 1,
    "biogas_centers": 1,
    "livestock_farms": 5_000,
}
GENERATED_COLUMNS = {"station_class", "head_count_basis", "is_large_scale", "has_manure_facility"}
POINT = re.compile(r"^SRID=4326;POINT\((\d+\.\d{6}) (\d+\.\d{6})\)$")
BOX = re.compile(r"^SRID=4326;MULTIPOLYGON\(\(\((.*)\)\)\)$")


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scale") / "small"
    assert scale.generate(out, **SMALL) == SMALL_COUNTS
    return out


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    eng = create_engine(empty_database_url)
    yield eng
    eng.dispose()


def _rows(data_dir: Path, table: str) -> list[dict[str, str]]:
    with (data_dir / f"{table}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _files(data_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(data_dir.iterdir())}


def _point(ewkt: str) -> tuple[float, float]:
    match = POINT.match(ewkt)
    assert match, ewkt
    return float(match[1]), float(match[2])


def _town_boxes(data_dir: Path) -> dict[int, tuple[float, float, float, float]]:
    boxes = {}
    for row in _rows(data_dir, "towns"):
        match = BOX.match(row["geom"])
        assert match, row["geom"]
        xs, ys = zip(*(map(float, pair.split()) for pair in match[1].split(",")), strict=True)
        boxes[int(row["id"])] = (min(xs), min(ys), max(xs), max(ys))
    return boxes


def _table_counts(eng: Engine) -> dict[str, int]:
    return {t: scalar(eng, f"SELECT count(*) FROM {t}") for t in scale.TABLES}


# --- generation ---------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files_and_another_seed_different_data(
    small_set: Path, tmp_path: Path
) -> None:
    scale.generate(tmp_path / "again", **SMALL)
    assert _files(tmp_path / "again") == _files(small_set)

    scale.generate(tmp_path / "other", **SMALL, seed=7)
    other = _files(tmp_path / "other")
    for name in ("villages.csv", "livestock_farms.csv", "transfer_stations.csv", "manifest.json"):
        assert other[name] != _files(small_set)[name], name


def test_manifest_counts_columns_and_files_agree(small_set: Path) -> None:
    manifest = json.loads((small_set / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == scale.DEFAULT_SEED
    assert manifest["synthetic"] is True
    assert manifest["bbox"] == [114, 34, 122, 38]
    assert manifest["counts"] == SMALL_COUNTS
    for table, count in SMALL_COUNTS.items():
        with (small_set / f"{table}.csv").open(encoding="utf-8", newline="") as fh:
            header, *rows = list(csv.reader(fh))
        assert header == manifest["columns"][table], table
        assert not GENERATED_COLUMNS & set(header), table
        # Same field count on every line: the quoting is right (polygons hold commas).
        assert {len(r) for r in rows} == {len(header)}, table
        assert [int(r[0]) for r in rows] == list(range(1, count + 1)), table


def test_codes_match_the_formats_the_constraints_demand(small_set: Path) -> None:
    (city,) = _rows(small_set, "cities")
    assert city["code"] == "990000" and "合成" in city["name"]
    towns = _rows(small_set, "towns")
    assert [t["code"] for t in towns] == [f"{990_000_000 + i:09d}" for i in range(1, 801)]
    communities = _rows(small_set, "communities")
    assert [c["code"] for c in communities] == [t["code"] + "201" for t in towns]
    assert all(re.fullmatch(r"V\d{8}", v["code"]) for v in _rows(small_set, "villages"))
    assert all(re.fullmatch(r"F\d{8}", f["code"]) for f in _rows(small_set, "livestock_farms"))
    assert all(re.fullmatch(r"TS\d{6}", s["code"]) for s in _rows(small_set, "transfer_stations"))


def test_every_point_lies_in_the_cell_of_its_town(small_set: Path) -> None:
    boxes = _town_boxes(small_set)
    for table in ("communities", "villages", "transfer_stations", "manure_centers", "livestock_farms"):
        for row in _rows(small_set, table):
            x, y = _point(row["geom"])
            x0, y0, x1, y1 = boxes[int(row["town_id"])]
            assert x0 <= x <= x1 and y0 <= y <= y1, (table, row["id"], x, y)


def test_the_box_edges_fall_in_the_last_cell() -> None:
    lon = np.array([114_000_000, 122_000_000, 122_000_000, 114_199_999, 114_200_000])
    lat = np.array([34_000_000, 38_000_000, 34_000_000, 34_000_000, 34_000_000])
    assert scale.cell_id(lon, lat).tolist() == [1, 800, 40, 1, 2]


def test_village_numbers_respect_the_village_constraints(small_set: Path) -> None:
    for v in _rows(small_set, "villages"):
        population, households = int(v["population"]), int(v["households"])
        toilets = int(v["toilets_rebuilt"])
        assert 50 <= population <= 20_000
        assert households == max(1, population // 3)
        assert 0 <= toilets <= households
        assert v["community_id"] == v["town_id"]
        assert v["waste_rate_kg_per_person_day"] == ""  # NULL: the planning default


# --- loading ------------------------------------------------------------------------------------


def test_load_fills_an_empty_database_consistently_with_the_manifest(
    engine: Engine, empty_database_url: str, small_set: Path
) -> None:
    assert scale.load(empty_database_url, small_set) == SMALL_COUNTS
    assert _table_counts(engine) == SMALL_COUNTS
    outside = scalar(
        engine,
        "SELECT count(*) FROM villages v JOIN towns t ON t.id = v.town_id "
        "WHERE NOT ST_Covers(t.geom, v.geom)",
    )
    large = column(engine, "SELECT DISTINCT is_large_scale FROM livestock_farms")
    classes = scalar(engine, "SELECT count(station_class) FROM transfer_stations")
    assert outside == 0
    assert sorted(large) == [False, True]
    assert classes == SMALL_COUNTS["transfer_stations"]


def test_large_scale_flag_follows_the_species_thresholds(
    engine: Engine, empty_database_url: str, small_set: Path
) -> None:
    scale.load(empty_database_url, small_set)
    flags = dict(rows(engine, "SELECT id, is_large_scale FROM livestock_farms"))
    for farm in _rows(small_set, "livestock_farms"):
        threshold = LARGE_FARM_THRESHOLDS[farm["species"]][1]
        assert flags[int(farm["id"])] is (int(farm["head_count"]) >= threshold), farm["id"]


def test_inserts_after_load_get_fresh_ids(engine: Engine, empty_database_url: str, small_set: Path) -> None:
    scale.load(empty_database_url, small_set)
    with engine.begin() as conn:
        village_id = worlds.village(conn, "EXTRA1", (114.1, 34.1), 100, 30, name="追加村")
        town_id = worlds.town(conn, worlds.square(114, 34, 0.1), code="990009999", name="追加镇")
    assert village_id == SMALL_COUNTS["villages"] + 1
    assert town_id == SMALL_COUNTS["towns"] + 1


def test_second_load_is_refused_and_changes_nothing(
    engine: Engine, empty_database_url: str, small_set: Path
) -> None:
    scale.load(empty_database_url, small_set)
    before = _table_counts(engine)
    with pytest.raises(scale.ScaleDataError, match="empty database"):
        scale.load(empty_database_url, small_set)
    assert _table_counts(engine) == before == SMALL_COUNTS
    # The refused load must not have moved the sequences either.
    next_id = scalar(engine, "SELECT nextval(pg_get_serial_sequence('villages', 'id'))")
    assert next_id == SMALL_COUNTS["villages"] + 1


def test_a_row_the_database_rejects_rolls_back_the_whole_load(
    engine: Engine, empty_database_url: str, small_set: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(small_set, broken)
    farms = broken / "livestock_farms.csv"
    # The last table loaded: everything before it must vanish with it.
    farms.write_text(farms.read_text(encoding="utf-8").replace(",pig,", ",unicorn,", 1), encoding="utf-8")
    with pytest.raises(scale.ScaleDataError, match="livestock_farms"):
        scale.load(empty_database_url, broken)
    assert set(_table_counts(engine).values()) == {0}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "manifest.json").unlink(), "no manifest.json"),
        (lambda d: (d / "manifest.json").write_text("{not json", encoding="utf-8"), "unreadable manifest"),
        (lambda d: (d / "villages.csv").unlink(), "villages.csv"),
        (lambda d: (d / "towns.csv").write_text("id,name\n", encoding="utf-8"), "towns.csv: header"),
    ],
    ids=["no-manifest", "garbled-manifest", "missing-csv", "wrong-header"],
)
def test_a_damaged_directory_is_refused_before_connecting_and_says_where(
    small_set: Path, tmp_path: Path, damage: object, message: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(small_set, data)
    damage(data)  # type: ignore[operator]
    # An unreachable database: the directory must be checked before any connection is tried.
    with pytest.raises(scale.ScaleDataError, match=re.escape(message)) as err:
        scale.load("postgresql+psycopg2://nobody@127.0.0.1:1/none", data)
    assert str(data) in str(err.value)


def test_sqlalchemy_urls_become_libpq_urls() -> None:
    assert scale.libpq_url("postgresql+psycopg2://u@h:5/db") == "postgresql://u@h:5/db"
    assert scale.libpq_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert scale.libpq_url("host=h dbname=db") == "host=h dbname=db"
