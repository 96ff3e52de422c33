"""The Zhucheng demo dataset: deterministic, faithful to the source figures, geographically consistent."""

from __future__ import annotations

import json
import shutil

import pytest

from service.demo import facts, loader, zhucheng
from service.demo.loader import DemoDataError
from tests.conftest import DEMO_DIR, POINT_LAYERS
from tests.queries import rows, scalar

POINT_LAYERS_WITH_TOWN = ("communities", *POINT_LAYERS)


def test_generator_output_is_identical_to_the_committed_files():
    generated = zhucheng.generate()
    committed = {p.name: p.read_text(encoding="utf-8") for p in DEMO_DIR.iterdir() if p.is_file()}
    assert set(generated) == set(committed)
    different = [name for name in generated if generated[name] != committed[name]]
    assert different == [], "regenerate with `sanichain demo zhucheng` and commit"
    assert zhucheng.generate() == generated  # and again: same bytes on every run


def test_fourteen_town_level_units_with_official_codes(demo_engine):
    towns = rows(demo_engine, "SELECT code, name, kind FROM towns ORDER BY code")
    assert towns == [(t.code, t.name, t.kind) for t in sorted(facts.TOWNS, key=lambda t: t.code)]
    assert [t[0] for t in towns] == [
        "370782001",
        "370782002",
        "370782003",
        "370782101",
        "370782102",
        "370782105",
        "370782108",
        "370782110",
        "370782111",
        "370782112",
        "370782114",
        "370782117",
        "370782118",
        "370782400",
    ]
    assert rows(demo_engine, "SELECT code, name FROM cities") == [("370782", "诸城市")]


def test_villages_communities_and_population(demo_engine):
    assert scalar(demo_engine, "SELECT count(*) FROM villages") == 1249
    assert rows(demo_engine, "SELECT kind, count(*) FROM communities GROUP BY kind ORDER BY kind") == [
        ("rural", 208),
        ("urban", 36),
    ]
    # every village belongs to a rural community of its own town
    assert (
        scalar(
            demo_engine,
            """
        SELECT count(*) FROM villages v JOIN communities c ON c.id = v.community_id
        WHERE c.kind <> 'rural' OR c.town_id <> v.town_id""",
        )
        == 0
    )
    assert scalar(demo_engine, "SELECT count(DISTINCT community_id) FROM villages") == 208
    people = scalar(
        demo_engine,
        "SELECT (SELECT sum(population) FROM villages) + (SELECT sum(population) FROM communities)",
    )
    assert people == 1_100_000


def test_rebuilt_household_toilets_exceed_230000(demo_engine):
    toilets, households = rows(demo_engine, "SELECT sum(toilets_rebuilt), sum(households) FROM villages")[0]
    assert toilets > 230_000
    assert toilets <= households


def test_every_rural_village_is_chained_to_the_incineration_plant(demo_engine):
    chained = scalar(
        demo_engine,
        """
        SELECT count(DISTINCT v.id) FROM villages v
        JOIN chain_links a ON a.stream = 'domestic_waste' AND a.source_village_id = v.id
             AND a.target_layer = 'collection_points'
        JOIN chain_links b ON b.stream = 'domestic_waste' AND b.source_collection_point_id = a.target_id
             AND b.target_layer = 'transfer_stations'
        JOIN transfer_stations s ON s.id = b.target_id AND s.status = 'operational'
        JOIN chain_links c ON c.stream = 'domestic_waste' AND c.source_transfer_station_id = s.id
        JOIN treatment_plants p ON p.id = c.target_id AND c.target_layer = 'treatment_plants'
             AND p.kind = 'incineration'""",
    )
    assert chained == 1249


def test_every_village_sludge_reaches_the_biogas_centre(demo_engine):
    assert (
        scalar(
            demo_engine,
            """
        SELECT count(DISTINCT v.id) FROM villages v
        JOIN chain_links a ON a.stream = 'fecal_sludge' AND a.source_village_id = v.id
             AND a.target_layer = 'manure_centers'
        JOIN chain_links b ON b.stream = 'fecal_sludge' AND b.source_manure_center_id = a.target_id
             AND b.target_layer = 'biogas_centers'""",
        )
        == 1249
    )


def test_transfer_stations_five_of_them_from_the_2018_2020_campaign(demo_engine):
    assert scalar(demo_engine, "SELECT count(DISTINCT town_id) FROM transfer_stations") == 14
    assert (
        scalar(
            demo_engine,
            """
        SELECT count(*) FROM transfer_stations WHERE campaign = '2018-2020'
          AND commissioned_on BETWEEN '2018-01-01' AND '2020-12-31' AND compression""",
        )
        == 5
    )
    assert (
        scalar(
            demo_engine,
            "SELECT count(*) FROM transfer_stations WHERE campaign IS NULL "
            "AND commissioned_on < '2018-01-01'",
        )
        == 9
    )


def test_incineration_plant_phase_two_processes_500_tonnes_a_day(demo_engine):
    assert rows(
        demo_engine,
        "SELECT kind, phase, capacity, capacity_unit, status FROM treatment_plants "
        "WHERE kind = 'incineration'",
    ) == [("incineration", 2, 500, "t/d", "operational")]


def test_six_manure_centres_and_one_biogas_centre(demo_engine):
    assert scalar(demo_engine, "SELECT count(*) FROM manure_centers WHERE status = 'operational'") == 6
    assert scalar(demo_engine, "SELECT count(*) FROM biogas_centers WHERE status = 'operational'") == 1


def test_566_large_farms_all_with_manure_facilities_and_chained(demo_engine):
    assert rows(
        demo_engine,
        """
        SELECT count(*), count(*) FILTER (WHERE is_large_scale), count(*) FILTER (WHERE has_manure_facility)
        FROM livestock_farms""",
    ) == [(566, 566, 566)]
    assert (
        scalar(
            demo_engine,
            """
        SELECT count(DISTINCT f.id) FROM livestock_farms f JOIN chain_links l
          ON l.stream = 'manure' AND l.source_farm_id = f.id
         AND l.target_layer IN ('manure_centers', 'biogas_centers')""",
        )
        == 566
    )


def test_ten_new_and_forty_rebuilt_public_toilets_in_the_urban_area(demo_engine):
    assert rows(demo_engine, "SELECT kind, count(*) FROM public_toilets GROUP BY kind ORDER BY kind") == [
        ("new", 10),
        ("rebuilt", 40),
    ]
    assert (
        scalar(
            demo_engine,
            """
        SELECT count(*) FROM public_toilets p JOIN towns t ON t.id = p.town_id
        WHERE t.kind = 'town'""",
        )
        == 0
    )


def test_chain_links_for_all_three_streams(demo_engine):
    assert rows(demo_engine, "SELECT stream, count(*) FROM chain_links GROUP BY stream ORDER BY stream") == [
        ("domestic_waste", 1249 * 2 + 14),
        ("fecal_sludge", 1249 + 6),
        ("manure", 566 + 6),
    ]
    assert scalar(demo_engine, "SELECT count(*) FROM chain_links WHERE geom IS NULL") == 0


def test_city_outline_has_the_published_area(demo_engine):
    area_km2 = scalar(demo_engine, "SELECT ST_Area(geom::geography) / 1e6 FROM cities")
    assert area_km2 == pytest.approx(facts.CITY_AREA_KM2, rel=0.01)


@pytest.mark.parametrize("layer", POINT_LAYERS_WITH_TOWN)
def test_every_feature_lies_inside_the_city_and_its_own_town(demo_engine, layer):
    outside_city = scalar(
        demo_engine, f"SELECT count(*) FROM {layer} f, cities c WHERE NOT ST_Within(f.geom, c.geom)"
    )
    outside_town = scalar(
        demo_engine,
        f"""
        SELECT count(*) FROM {layer} f JOIN towns t ON t.id = f.town_id
        WHERE NOT ST_Within(f.geom, t.geom)""",
    )
    in_two_towns = scalar(
        demo_engine,
        f"""
        SELECT count(*) FROM (SELECT f.id FROM {layer} f JOIN towns t ON ST_Intersects(t.geom, f.geom)
                              GROUP BY f.id HAVING count(*) > 1) x""",
    )
    assert (outside_city, outside_town, in_two_towns) == (0, 0, 0)


def test_towns_tile_the_city_outline(demo_engine):
    # Towns cover the city and overlap nowhere, up to the rounding of coordinates to 6 decimals
    # (about 0.11 m): any sliver is thinner than that along the boundaries.
    gap, overlap, boundary_m = rows(
        demo_engine,
        """
        SELECT ST_Area(ST_Difference(c.geom, (SELECT ST_Union(geom) FROM towns))::geography),
               (SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0)
                  FROM towns a JOIN towns b ON a.id < b.id AND ST_Intersects(a.geom, b.geom)),
               (SELECT sum(ST_Perimeter(geom::geography)) FROM towns)
        FROM cities c""",
    )[0]
    assert gap < boundary_m * 0.11
    assert overlap < boundary_m * 0.11


def test_loading_twice_changes_nothing(empty_engine):
    first = loader.load(empty_engine, DEMO_DIR)
    snapshot = rows(
        empty_engine,
        "SELECT 'v', id, code, updated_at FROM villages UNION ALL "
        "SELECT 'l', id, stream || source_layer || source_id, updated_at FROM chain_links "
        "ORDER BY 1, 2",
    )
    second = loader.load(empty_engine, DEMO_DIR)
    assert first == second
    assert (
        rows(
            empty_engine,
            "SELECT 'v', id, code, updated_at FROM villages UNION ALL "
            "SELECT 'l', id, stream || source_layer || source_id, updated_at FROM chain_links "
            "ORDER BY 1, 2",
        )
        == snapshot
    )
    assert not loader.inventory_is_empty(empty_engine)


def test_a_failed_load_changes_nothing_and_names_the_problem(empty_engine, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(DEMO_DIR, bad)
    doc = json.loads((bad / "villages.geojson").read_text(encoding="utf-8"))
    doc["features"][7]["properties"]["town_code"] = "370782999"
    (bad / "villages.geojson").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DemoDataError, match=r"villages.geojson: unknown references .*370782999"):
        loader.load(empty_engine, bad)
    assert loader.inventory_is_empty(empty_engine)


def test_unknown_property_in_a_layer_file_is_refused(empty_engine, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(DEMO_DIR, bad)
    doc = json.loads((bad / "livestock_farms.geojson").read_text(encoding="utf-8"))
    doc["features"][3]["properties"]["colour"] = "red"
    (bad / "livestock_farms.geojson").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(
        DemoDataError, match=r"livestock_farms.geojson: feature 3: unknown properties \['colour'\]"
    ):
        loader.load(empty_engine, bad)
    assert loader.inventory_is_empty(empty_engine)
