"""Replacing the town boundaries from the city's own file: differences reported before anything is
written, written in one transaction with history and audit, refused whole when something is wrong.

The boundary files are made here from the demo's own towns: the border between 皇华镇 and 桃林镇 moved
so that one rural community of 皇华镇 (its villages, their collection points, two farms) joins 桃林镇,
saved as a zipped Shapefile in CGCS2000 3° Gauss-Krüger zone 40 (EPSG:4528) by ogr2ogr. The expected
differences are worked out from the demo files with Shapely, independently of the SQL under test.
"""

from __future__ import annotations

import json
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import Engine, text

from service.cli import main
from service.db import make_engine
from service.demo import loader
from tests.conftest import DEMO_DIR

LOSING, GAINING, COMMUNITY = "370782117", "370782118", "370782117210"
FEATURE_LAYERS = (
    "villages",
    "collection_points",
    "transfer_stations",
    "treatment_plants",
    "manure_centers",
    "biogas_centers",
    "livestock_farms",
    "public_toilets",
)


def features(layer: str) -> list[dict[str, Any]]:
    return json.loads((DEMO_DIR / f"{layer}.geojson").read_text(encoding="utf-8"))["features"]


def demo_towns() -> dict[str, tuple[str, Any]]:
    """code → (name, outline), in the order the loader gives them ids."""
    return {
        f["properties"]["code"]: (f["properties"]["name"], shape(f["geometry"])) for f in features("towns")
    }


def moved_border() -> dict[str, tuple[str, Any]]:
    """The demo towns with the border moved: the community's villages, its centre and their
    collection points, joined to the shared border, go from 皇华镇 to 桃林镇."""
    towns = demo_towns()
    losing, gaining = towns[LOSING][1], towns[GAINING][1]
    border = losing.intersection(gaining)
    villages = [v for v in features("villages") if v["properties"]["community_code"] == COMMUNITY]
    codes = {v["properties"]["code"] for v in villages}
    members = [shape(v["geometry"]) for v in villages]
    members += [shape(c["geometry"]) for c in features("communities") if c["properties"]["code"] == COMMUNITY]
    members += [
        shape(p["geometry"])
        for p in features("collection_points")
        if p["properties"]["village_code"] in codes
    ]
    reach = members + [border.interpolate(border.project(m)) for m in members]
    region = shapely.MultiPoint(reach).convex_hull.buffer(0.003).intersection(losing)
    towns[LOSING] = (towns[LOSING][0], losing.difference(region))
    towns[GAINING] = (towns[GAINING][0], gaining.union(region))
    return towns


def town_at(towns: dict[str, tuple[str, Any]], point: Any) -> str | None:
    return next((code for code, (_, outline) in towns.items() if outline.covers(point)), None)


def expected_changes(towns: dict[str, tuple[str, Any]]) -> dict[str, list[tuple[str, str, str]]]:
    """layer → (code, from, to) of every feature whose town the new outlines change."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for layer in FEATURE_LAYERS:
        for f in features(layer):
            old = f["properties"].get("town_code")
            new = town_at(towns, shape(f["geometry"]))
            if old != new:
                found.setdefault(layer, []).append((f["properties"]["code"], old, new))
    return {layer: sorted(changes) for layer, changes in found.items()}


def zipped_shapefile(folder: Path, towns: dict[str, tuple[str, Any]], epsg: int = 4528) -> Path:
    """The towns as a city's GIS department sends them: XZQDM/XZQMC fields, 12-digit codes, zipped."""
    source = folder / "towns.geojson"
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"XZQDM": code + "000", "XZQMC": name},
                "geometry": mapping(outline),
            }
            for code, (name, outline) in towns.items()
        ],
    }
    source.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    out = folder / "shp"
    out.mkdir()
    subprocess.run(
        ["ogr2ogr", "-f", "ESRI Shapefile", "-t_srs", f"EPSG:{epsg}", "-nlt", "MULTIPOLYGON",
         "-lco", "ENCODING=UTF-8", str(out / "xzq.shp"), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    archive = folder / "xzq.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for part in sorted(out.iterdir()):
            z.write(part, part.name)
    return archive


@pytest.fixture
def demo(pg_server, migrated_template, monkeypatch) -> Engine:
    """A database of its own with the demo loaded; `sanichain` commands use it."""
    name = f"sanichain_test_{uuid.uuid4().hex[:10]}"
    url = pg_server.create(name, migrated_template)
    engine = make_engine(url)
    loader.load(engine, DEMO_DIR)
    monkeypatch.setenv("DATABASE_URL", url)
    yield engine
    engine.dispose()
    pg_server.drop(name)


def town_codes(engine: Engine, layer: str) -> dict[str, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT f.code, t.code AS town FROM {layer} f LEFT JOIN towns t ON t.id = f.town_id")
        )
        return {r.code: r.town for r in rows}


def snapshot(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        outlines = conn.execute(text("SELECT code, ST_AsText(geom) FROM towns ORDER BY code")).all()
        city = conn.execute(text("SELECT ST_AsText(geom) FROM cities")).scalar()
        counts = conn.execute(
            text("SELECT (SELECT count(*) FROM feature_history), (SELECT count(*) FROM audit_log)")
        ).one()
    return {
        "towns": outlines,
        "city": city,
        "counts": tuple(counts),
        **{layer: town_codes(engine, layer) for layer in ("communities", *FEATURE_LAYERS)},
    }


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_moved_border_is_reported_exactly_and_a_dry_run_writes_nothing(demo, tmp_path, capsys):
    towns = moved_border()
    expected = expected_changes(towns)
    assert [c[0] for c in expected["villages"]] and all(
        c[1:] == (LOSING, GAINING) for c in expected["villages"]
    )
    assert len(expected["villages"]) == 6 and len(expected["livestock_farms"]) == 2
    before = snapshot(demo)

    code, out, err = run(
        ["boundaries", str(zipped_shapefile(tmp_path, towns)), "--dry-run", "--json"], capsys
    )
    assert (code, err) == (0, "")
    report = json.loads(out[: out.rindex("}") + 1])
    assert report["problems"] == [] and report["written"] is False
    assert {
        layer: sorted((c["code"], c["from"], c["to"]) for c in changes)
        for layer, changes in report["changes"].items()
    } == {
        "communities": [(COMMUNITY, LOSING, GAINING)],
        **expected,
    }
    assert report["towns_changed"] == [LOSING, GAINING]
    assert len(report["matched"]) == 14 and report["missing"] == [] and report["unknown"] == []
    assert report["outside_towns"] == {} and report["outside_city"] == {}
    assert "checked, nothing written (dry run)" in out
    assert snapshot(demo) == before


def test_replacing_the_boundaries_moves_the_features_and_writes_history_and_audit(demo, tmp_path, capsys):
    towns = moved_border()
    expected = expected_changes(towns)
    before = snapshot(demo)

    code, out, err = run(["boundaries", str(zipped_shapefile(tmp_path, towns))], capsys)
    assert (code, err) == (0, ""), err
    moved = sum(len(c) for c in expected.values()) + 1  # and the community
    assert out.splitlines()[-1] == f"2 town outline(s), {moved} feature(s) changing town: written"
    village_line = next(line for line in out.splitlines() if line.startswith("villages\t"))
    assert village_line.endswith(f"{LOSING} → {GAINING}")

    after = snapshot(demo)
    for layer in FEATURE_LAYERS:
        for code_, old, new in expected.get(layer, []):
            assert (before[layer][code_], after[layer][code_]) == (old, new)
        unchanged = set(before[layer]) - {c[0] for c in expected.get(layer, [])}
        assert {c: after[layer][c] for c in unchanged} == {c: before[layer][c] for c in unchanged}
    assert after["communities"][COMMUNITY] == GAINING

    with demo.connect() as conn:
        # the outlines are the file's, back from Gauss-Krüger metres to well within a centimetre
        for town in (LOSING, GAINING):
            gap = conn.execute(
                text(
                    """SELECT ST_HausdorffDistance(geom, ST_GeomFromText(:wkt, 4326)) * 111000 FROM towns
                       WHERE code = :code"""
                ),
                {"wkt": towns[town][1].wkt, "code": town},
            ).scalar()
            assert gap < 0.01
        # the city outline is the union of the towns
        assert (
            conn.execute(
                text(
                    """SELECT ST_Area(ST_SymDifference(c.geom, (SELECT ST_Union(geom) FROM towns)))
                       FROM cities c"""
                )
            ).scalar()
            < 1e-10
        )
        history = conn.execute(
            text("SELECT layer, count(*) FROM feature_history GROUP BY layer ORDER BY layer")
        ).all()
        assert dict(history) == {
            "towns": 2,
            **{layer: len(changes) for layer, changes in expected.items()},
        }
        village = expected["villages"][0][0]
        row = conn.execute(
            text(
                """SELECT h.version, h.operation, h.user_name,
                          h.before -> 'properties' ->> 'town_code' AS old,
                          h.after -> 'properties' ->> 'town_code' AS new, v.version AS now
                   FROM feature_history h JOIN villages v ON v.id = h.feature_id
                   WHERE h.layer = 'villages' AND v.code = :code"""
            ),
            {"code": village},
        ).one()
        assert (row.operation, row.old, row.new, row.version) == ("update", LOSING, GAINING, row.now)
        assert row.user_name.startswith("cli:")
        entry = conn.execute(
            text("SELECT action, layer, detail FROM audit_log WHERE action = 'boundaries.replace'")
        ).one()
        assert entry.detail["towns_changed"] == [LOSING, GAINING]
        assert entry.detail["features_moved"] == {
            "communities": 1,
            **{layer: len(changes) for layer, changes in expected.items()},
        }


def test_a_border_through_a_community_is_refused_naming_the_pairs_and_nothing_is_written(
    demo, tmp_path, capsys
):
    towns = demo_towns()
    # a triangle of 密州街道 given to 龙都街道 splits communities: the database keeps a village and its
    # community in one town, so the city must settle it first
    a, b = (119.42, 35.92), (119.445755, 36.048774)
    wedge = shapely.Polygon([a, b, ((a[0] + b[0]) / 2 - 0.02, (a[1] + b[1]) / 2)])
    towns["370782001"] = (towns["370782001"][0], towns["370782001"][1].difference(wedge))
    towns["370782002"] = (towns["370782002"][0], towns["370782002"][1].union(wedge))
    before = snapshot(demo)

    code, out, err = run(["boundaries", str(zipped_shapefile(tmp_path, towns))], capsys)
    assert code == 1
    assert err.startswith("sanichain: error: xzq.zip: ") and err.rstrip().endswith(
        "problem(s); nothing written"
    )
    problems = [line.split("\t", 1)[1] for line in out.splitlines() if line.startswith("problem\t")]
    assert problems and all(" would lie in town " in p for p in problems)
    assert any(p.startswith("villages ") and "but its community" in p for p in problems)
    assert snapshot(demo) == before


def test_unknown_and_missing_towns_and_overlaps_are_reported(demo, tmp_path, capsys):
    towns = demo_towns()
    name, outline = towns.pop("370782001")
    towns["370782999"] = ("不存在镇", outline)  # a code the inventory does not know
    towns["370782002"] = (
        towns["370782002"][0],
        towns["370782002"][1].union(towns["370782003"][1].buffer(-0.01)),
    )
    before = snapshot(demo)

    code, out, _ = run(["boundaries", str(zipped_shapefile(tmp_path, towns)), "--dry-run", "--json"], capsys)
    assert code == 1
    report = json.loads(out[: out.rindex("}") + 1])
    assert report["missing"] == [{"code": "370782001", "name": name}]
    assert report["unknown"] == [{"number": 14, "code": "370782999", "name": "不存在镇"}]
    assert report["problems"][0] == "feature 14 (370782999) names no town of the inventory"
    assert any(p.startswith("towns 370782002 and 370782003 overlap by ") for p in report["problems"]), report[
        "problems"
    ]
    assert snapshot(demo) == before


def test_a_boundary_file_without_a_code_or_name_field_is_refused_naming_its_fields(tmp_path, capsys):
    path = tmp_path / "towns.geojson"
    square = [[[119.3, 35.9], [119.4, 35.9], [119.4, 36.0], [119.3, 35.9]]]
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"FID_1": 1},
                        "geometry": {"type": "Polygon", "coordinates": square},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    code, _, err = run(["boundaries", str(path), "--dry-run"], capsys)
    assert code == 1
    assert "towns.geojson: no field names the towns" in err and "it has FID_1" in err
    code, _, err = run(["boundaries", str(path), "--code-field", "DM"], capsys)
    assert (code, err.strip()) == (
        1,
        "sanichain: error: code-field: the file has no field 'DM' (it has FID_1)",
    )


def test_the_same_outlines_change_nothing_and_a_given_city_outline_reports_what_lies_beyond_it(
    demo, tmp_path, capsys
):
    city = shape(features("cities")[0]["geometry"]).buffer(-0.03)
    city_file = tmp_path / "city.geojson"
    city_file.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {}, "geometry": mapping(city)}],
            }
        ),
        encoding="utf-8",
    )
    beyond = {
        layer: sorted(
            f["properties"]["code"] for f in features(layer) if not city.covers(shape(f["geometry"]))
        )
        for layer in ("communities", *FEATURE_LAYERS)
    }
    assert beyond["villages"] and beyond["livestock_farms"]

    shapefile = zipped_shapefile(tmp_path, demo_towns())
    code, out, err = run(
        ["boundaries", str(shapefile), "--city", str(city_file), "--dry-run", "--json"], capsys
    )
    assert (code, err) == (0, "")
    report = json.loads(out[: out.rindex("}") + 1])
    # the file's trip through zone-40 metres moved no outline by a centimetre: nothing changes
    assert (report["towns_changed"], report["changes"], report["problems"]) == ([], {}, [])
    assert {layer: sorted(f["code"] for f in found) for layer, found in report["outside_city"].items()} == {
        layer: codes for layer, codes in beyond.items() if codes
    }
