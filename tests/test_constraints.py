"""The database itself refuses what the model forbids, whoever writes (API, CLI, psql)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, InternalError, StatementError

from tests import worlds

SQUARE = worlds.square(119, 36, 0.1)
BOWTIE = "SRID=4326;MULTIPOLYGON(((119 36,119.1 36.1,119.1 36,119 36.1,119 36)))"


@pytest.fixture
def conn(empty_engine):
    """A connection with a city, a town, a community, a village and a station, rolled back afterwards."""
    with empty_engine.connect() as c:
        trans = c.begin()
        worlds.city(c, SQUARE, name="诸城市")
        worlds.town(c, SQUARE, name="枳沟镇")
        worlds.community(c, (119.05, 36.05), name="甲社区")
        worlds.village(c, "V1", (119.05, 36.05), 300, 100, name="王家庄村", toilets_rebuilt=90)
        worlds.facility(c, "transfer_stations", "TS-1", (119.06, 36.06), name="枳沟镇中转站", capacity=60)
        yield c
        trans.rollback()


def refused(conn, statement: str, constraint: str, error=IntegrityError) -> None:
    """The statement fails and the error names the constraint (or the reason) that refused it."""
    with pytest.raises((error, StatementError)) as info, conn.begin_nested():
        conn.execute(text(statement))
    assert constraint in str(info.value), str(info.value)


def test_valid_rows_are_accepted_and_derived_columns_computed(conn):
    row = conn.execute(
        text("SELECT station_class, created_at <= now() FROM transfer_stations WHERE id = 1")
    ).one()
    assert row == ("small", True)


def test_invalid_polygon_is_refused(conn):
    refused(conn, f"UPDATE towns SET geom = '{BOWTIE}' WHERE id = 1", "ck_towns_geom_valid")


def test_wrong_srid_is_refused(conn):
    refused(
        conn,
        "UPDATE villages SET geom = 'SRID=4490;POINT(119.05 36.05)' WHERE id = 1",
        "SRID (4490) does not match column SRID (4326)",
        InternalError,
    )


def test_wrong_geometry_type_is_refused(conn):
    refused(
        conn,
        "UPDATE villages SET geom = 'SRID=4326;LINESTRING(119 36,119.1 36.1)' WHERE id = 1",
        "Geometry type (LineString) does not match column type (Point)",
        InternalError,
    )


def test_point_outside_lon_lat_range_is_refused(conn):
    refused(
        conn,
        "UPDATE villages SET geom = 'SRID=4326;POINT(40500000 3990000)' WHERE id = 1",
        "ck_villages_geom_lonlat_range",
    )


def test_empty_geometry_is_refused(conn):
    refused(
        conn, "UPDATE villages SET geom = 'SRID=4326;POINT EMPTY' WHERE id = 1", "ck_villages_geom_not_empty"
    )


def test_negative_capacity_is_refused(conn):
    refused(
        conn,
        "UPDATE transfer_stations SET capacity = -1 WHERE id = 1",
        "ck_transfer_stations_capacity_non_negative",
    )


def test_unknown_capacity_unit_is_refused(conn):
    refused(
        conn,
        "UPDATE transfer_stations SET capacity_unit = 'kg' WHERE id = 1",
        "ck_transfer_stations_capacity_unit_known",
    )


def test_unknown_status_is_refused(conn):
    refused(
        conn,
        "UPDATE transfer_stations SET status = 'broken' WHERE id = 1",
        "ck_transfer_stations_status_known",
    )


def test_negative_population_and_more_toilets_than_households_are_refused(conn):
    refused(conn, "UPDATE villages SET population = -5 WHERE id = 1", "ck_villages_population_non_negative")
    refused(
        conn,
        "UPDATE villages SET toilets_rebuilt = 101 WHERE id = 1",
        "ck_villages_toilets_rebuilt_le_households",
    )


def test_absurd_waste_rate_is_refused(conn):
    refused(
        conn,
        "UPDATE villages SET waste_rate_kg_per_person_day = 6 WHERE id = 1",
        "ck_villages_waste_rate_range",
    )


def test_duplicate_code_is_refused(conn):
    refused(
        conn,
        "INSERT INTO transfer_stations (id, code, name, capacity_unit, town_id, geom) "
        "VALUES (2, 'TS-1', '重复', 't/d', 1, 'SRID=4326;POINT(119.07 36.07)')",
        "uq_transfer_stations_code",
    )


def test_town_code_must_have_nine_digits(conn):
    refused(conn, "UPDATE towns SET code = '37078210' WHERE id = 1", "ck_towns_code_format")


def test_unknown_farm_species_is_refused(conn):
    refused(
        conn,
        "INSERT INTO livestock_farms (code, name, capacity_unit, town_id, species, head_count, geom) "
        "VALUES ('LF-1', '某养殖场', 'm3', 1, 'camel', 10, 'SRID=4326;POINT(119.05 36.05)')",
        "ck_livestock_farms_species_known",
    )


def test_large_scale_flag_follows_the_species_threshold(conn):
    worlds.farm(conn, "LF-P499", (119.05, 36.05), "pig", 499, name="甲")
    worlds.farm(conn, "LF-P500", (119.05, 36.05), "pig", 500, name="乙", manure_facility_type="none")
    worlds.farm(conn, "LF-L2000", (119.05, 36.05), "layer", 2000, name="丙")
    rows = dict(
        (r[0], r[1:])
        for r in conn.execute(
            text("SELECT code, is_large_scale, has_manure_facility, head_count_basis FROM livestock_farms")
        )
    )
    assert rows == {
        "LF-P499": (False, True, "sold_per_year"),
        "LF-P500": (True, False, "sold_per_year"),
        "LF-L2000": (True, True, "on_hand"),
    }


def test_station_class_follows_cjj27_capacity_bands(conn):
    classes = {}
    for capacity in (29, 30, 149, 150, 450, 451):
        conn.execute(text("UPDATE transfer_stations SET capacity = :c WHERE id = 1"), {"c": capacity})
        classes[capacity] = conn.execute(
            text("SELECT station_class FROM transfer_stations WHERE id = 1")
        ).scalar()
    assert classes == {
        29: "collection_station",
        30: "small",
        149: "small",
        150: "medium",
        450: "medium",
        451: "large",
    }


def test_unknown_stream_is_refused(conn):
    refused(
        conn,
        "INSERT INTO chain_links (stream, source_village_id, target_transfer_station_id) "
        "VALUES ('rainwater', 1, 1)",
        "ck_chain_links_stream_known",
    )


def test_dangling_link_is_refused(conn):
    refused(
        conn,
        "INSERT INTO chain_links (stream, source_village_id, target_transfer_station_id) "
        "VALUES ('domestic_waste', 999, 1)",
        "fk_chain_links_source_village_id",
    )


def test_link_needs_exactly_one_source_and_one_target(conn):
    refused(
        conn,
        "INSERT INTO chain_links (stream, target_transfer_station_id) VALUES ('domestic_waste', 1)",
        "ck_chain_links_one_source",
    )
    refused(
        conn,
        "INSERT INTO chain_links (stream, source_village_id, source_farm_id, target_transfer_station_id) "
        "VALUES ('domestic_waste', 1, 1, 1)",
        "ck_chain_links_one_source",
    )


def test_duplicate_link_is_refused_and_link_line_is_derived(conn):
    worlds.link(conn, "domestic_waste", ("villages", 1), ("transfer_stations", 1))
    row = conn.execute(
        text("SELECT source_layer, source_id, target_layer, target_id, ST_AsText(geom) FROM chain_links")
    ).one()
    assert row == ("villages", 1, "transfer_stations", 1, "LINESTRING(119.05 36.05,119.06 36.06)")
    refused(
        conn,
        "INSERT INTO chain_links (stream, source_village_id, target_transfer_station_id) "
        "VALUES ('domestic_waste', 1, 1)",
        "uq_chain_links_stream_source_target",
    )


def test_feature_referenced_by_a_link_cannot_be_deleted(conn):
    worlds.link(conn, "domestic_waste", ("villages", 1), ("transfer_stations", 1))
    refused(conn, "DELETE FROM transfer_stations WHERE id = 1", "fk_chain_links_target_transfer_station_id")


def test_updated_at_moves_on_update_and_created_at_stays(empty_engine):
    with empty_engine.begin() as c:
        worlds.city(c, SQUARE, name="诸城市")
    with empty_engine.connect() as c:
        created, before = c.execute(text("SELECT created_at, updated_at FROM cities")).one()
    with empty_engine.begin() as c:
        c.execute(text("UPDATE cities SET name_en = 'Zhucheng'"))
    with empty_engine.connect() as c:
        created_after, after = c.execute(text("SELECT created_at, updated_at FROM cities")).one()
    assert created_after == created
    assert after > before


def test_a_facility_cannot_feed_itself(conn):
    refused(
        conn,
        "INSERT INTO chain_links (stream, source_transfer_station_id, target_transfer_station_id) "
        "VALUES ('domestic_waste', 1, 1)",
        "ck_chain_links_not_self",
    )


def test_link_lines_follow_a_moved_endpoint(conn):
    worlds.link(conn, "domestic_waste", ("villages", 1), ("transfer_stations", 1))
    conn.execute(text("UPDATE transfer_stations SET geom = 'SRID=4326;POINT(119.08 36.02)' WHERE id = 1"))
    assert conn.execute(text("SELECT ST_AsText(geom) FROM chain_links")).scalar() == (
        "LINESTRING(119.05 36.05,119.08 36.02)"
    )


def test_village_community_must_be_in_the_village_town(conn):
    other = worlds.town(conn, SQUARE, code="370782102", name="贾悦镇")
    refused(conn, f"UPDATE villages SET town_id = {other} WHERE id = 1", "fk_villages_community_id_town_id")


def test_polygon_in_projected_metres_is_refused(conn):
    refused(
        conn,
        "UPDATE towns SET geom = 'SRID=4326;MULTIPOLYGON(((40500000 3990000,40500100 3990000,"
        "40500100 3990100,40500000 3990000)))' WHERE id = 1",
        "ck_towns_geom_lonlat_range",
    )
