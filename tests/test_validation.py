"""The feature validator (issue 13) over the Zhucheng demo in real PostGIS: each rule with its field and
words, several errors at once, and property tests per layer (valid features pass; one corruption fails
on the corrupted field). Read-only: nothing is written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from service.editing import fields
from service.editing.validation import MAX_VERTICES, ValidationFailed, validate
from service.features.errors import UnknownLayer

NEAR_ZHUCHENG = [119.40, 36.00]


@pytest.fixture(scope="module")
def conn(demo_engine: Engine) -> Iterator[Connection]:
    with demo_engine.connect() as connection:
        yield connection
        connection.rollback()


@pytest.fixture(scope="module")
def demo(conn: Connection) -> dict[str, Any]:
    """Ids and positions of the demo the tests refer to."""
    village = conn.execute(
        text(
            "SELECT v.id, v.code, v.town_id, v.community_id, ST_X(v.geom) AS lon, ST_Y(v.geom) AS lat "
            "FROM villages v JOIN towns t ON t.id = v.town_id WHERE ST_Covers(t.geom, v.geom) "
            "ORDER BY v.id LIMIT 1"
        )
    ).one()
    other_town_village = conn.execute(
        text("SELECT id FROM villages WHERE town_id <> :town ORDER BY id LIMIT 1"), {"town": village.town_id}
    ).scalar_one()
    return {
        "village": village,
        "other_town_village": other_town_village,
        "point": [village.lon, village.lat],
        "city_id": conn.execute(text("SELECT id FROM cities")).scalar_one(),
        "closed_plant": conn.execute(
            text("SELECT id FROM treatment_plants WHERE status = 'closed'")
        ).scalar_one(),
        "open_plant": conn.execute(
            text("SELECT id FROM treatment_plants WHERE status = 'operational' ORDER BY id LIMIT 1")
        ).scalar_one(),
        "station": conn.execute(text("SELECT id FROM transfer_stations ORDER BY id LIMIT 1")).scalar_one(),
        "station_code": conn.execute(
            text("SELECT code FROM transfer_stations ORDER BY id LIMIT 1")
        ).scalar_one(),
        "existing_link": conn.execute(
            text("SELECT * FROM chain_links WHERE source_village_id IS NOT NULL ORDER BY id LIMIT 1")
        ).one(),
    }


def point(lonlat: list[float]) -> dict[str, Any]:
    return {"type": "Point", "coordinates": lonlat}


def station(demo: dict[str, Any], **properties: Any) -> dict[str, Any]:
    given = {"code": "TS-NEW-1", "name": "新中转站", "capacity_unit": "t/d", "capacity": 120, **properties}
    return {"type": "Feature", "geometry": point(demo["point"]), "properties": given}


def refused(conn: Connection, layer: str, feature: Any, **options: Any) -> dict[str, str]:
    """The errors of a refused feature as {field: message} (messages of one field joined)."""
    options.setdefault("mode", "create")
    with pytest.raises(ValidationFailed) as refusal:
        validate(conn, layer, feature, **options)
    errors: dict[str, str] = {}
    for error in refusal.value.errors:
        errors[error.field] = (
            f"{errors[error.field]} | {error.message}" if error.field in errors else error.message
        )
    return errors


# -- the feature's shape --------------------------------------------------------------------------


def test_a_valid_station_comes_out_as_sql_values_with_an_ewkt_point(
    conn: Connection, demo: dict[str, Any]
) -> None:
    feature = station(demo, commissioned_on="2020-05-01", capacity=120.5, compression=False)
    prepared = validate(conn, "transfer_stations", feature, mode="create")
    lon, lat = demo["point"]
    assert prepared.values == {
        "code": "TS-NEW-1",
        "name": "新中转站",
        "capacity_unit": "t/d",
        "capacity": Decimal("120.5"),
        "commissioned_on": date(2020, 5, 1),
        "compression": False,
        "geom_ewkt": f"SRID=4326;POINT ({lon!r} {lat!r})",
    }
    assert prepared.warnings == []


def test_input_that_is_not_a_feature_object_is_refused(conn: Connection, demo: dict[str, Any]) -> None:
    assert refused(conn, "villages", [1, 2]) == {
        "feature": "must be a JSON object (a GeoJSON Feature), got an array"
    }
    errors = refused(conn, "transfer_stations", {**station(demo), "type": "FeatureCollection", "extra": 1})
    assert errors["type"] == "must be \"Feature\" (a GeoJSON Feature), got the string 'FeatureCollection'"
    assert errors["extra"].startswith("unknown member of a Feature: expected type, geometry and properties")
    errors = refused(conn, "transfer_stations", {**station(demo), "properties": ["code"]})
    assert errors["properties"] == "must be a JSON object of property names and values, got an array"


def test_unknown_properties_are_refused_with_the_names_expected(
    conn: Connection, demo: dict[str, Any]
) -> None:
    errors = refused(conn, "transfer_stations", station(demo, colour="red"))
    assert list(errors) == ["properties.colour"]
    assert errors["properties.colour"].startswith(
        "unknown property of transfer_stations: expected one of campaign"
    )


@pytest.mark.parametrize(
    ("layer", "name"),
    [
        ("transfer_stations", "station_class"),
        ("transfer_stations", "town_code"),
        ("transfer_stations", "version"),
        ("livestock_farms", "is_large_scale"),
        ("livestock_farms", "large_scale"),
        ("livestock_farms", "head_count_basis"),
        ("chain_links", "source_layer"),
    ],
)
def test_derived_properties_are_refused_by_name(conn: Connection, layer: str, name: str) -> None:
    errors = refused(conn, layer, {"type": "Feature", "properties": {name: "x"}}, mode="patch")
    assert errors == {f"properties.{name}": errors[f"properties.{name}"]}
    assert "derived by the database" in errors[f"properties.{name}"]


def test_an_unknown_layer_is_not_a_validation_error(conn: Connection) -> None:
    with pytest.raises(UnknownLayer):
        validate(conn, "rivers", {"type": "Feature"}, mode="create")


# -- geometry -------------------------------------------------------------------------------------


def test_a_geometry_of_another_type_is_refused_naming_the_layers_type(
    conn: Connection, demo: dict[str, Any]
) -> None:
    feature = station(demo)
    feature["geometry"] = {"type": "LineString", "coordinates": [demo["point"], NEAR_ZHUCHENG]}
    errors = refused(conn, "transfer_stations", feature)
    assert errors == {"geometry.type": "must be a Point for transfer_stations, got the string 'LineString'"}


def town(demo: dict[str, Any], ring: list[list[float]], kind: str = "Polygon") -> dict[str, Any]:
    coordinates = [[ring]] if kind == "MultiPolygon" else [ring]
    return {
        "type": "Feature",
        "geometry": {"type": kind, "coordinates": coordinates},
        "properties": {"code": "370782999", "name": "新镇", "kind": "town", "city_id": demo["city_id"]},
    }


def square_ring(lon: float, lat: float, size: float = 0.002) -> list[list[float]]:
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


def test_a_polygon_is_promoted_for_a_multipolygon_layer(conn: Connection, demo: dict[str, Any]) -> None:
    lon, lat = demo["point"]
    prepared = validate(conn, "towns", town(demo, square_ring(lon, lat)), mode="create")
    assert prepared.values["geom_ewkt"].startswith(f"SRID=4326;MULTIPOLYGON ((({lon!r} {lat!r}, ")
    assert prepared.values["city_id"] == demo["city_id"]


def test_a_self_intersecting_polygon_is_refused_naming_where(conn: Connection, demo: dict[str, Any]) -> None:
    lon, lat = 119.4, 36.0
    bow_tie = [[lon, lat], [lon + 0.01, lat + 0.01], [lon + 0.01, lat], [lon, lat + 0.01], [lon, lat]]
    errors = refused(conn, "towns", town(demo, bow_tie, "MultiPolygon"))
    assert errors == {
        "geometry": "invalid geometry: self-intersection at [119.405, 36.005]: "
        "rings must not cross themselves or each other"
    }


@pytest.mark.parametrize(
    ("coordinates", "words"),
    [
        ([float("nan"), 36.0], "coordinates must be finite numbers, got nan"),
        ([float("inf"), 36.0], "coordinates must be finite numbers, got inf"),
        (["119.4", 36.0], "coordinates must be finite numbers, got the string '119.4'"),
        ([True, 36.0], "coordinates must be finite numbers, got true"),
        ([119.4], "a position must be [longitude, latitude], got an array"),
        ("119.4 36.0", "a position must be [longitude, latitude], got the string '119.4 36.0'"),
    ],
)
def test_coordinates_must_be_pairs_of_finite_numbers(
    conn: Connection, demo: dict[str, Any], coordinates: Any, words: str
) -> None:
    feature = station(demo)
    feature["geometry"] = point(coordinates)
    assert refused(conn, "transfer_stations", feature) == {"geometry.coordinates": words}


def test_a_position_out_of_range_is_refused_with_the_ranges(conn: Connection, demo: dict[str, Any]) -> None:
    feature = station(demo)
    feature["geometry"] = point([119.4, 96.0])
    assert refused(conn, "transfer_stations", feature) == {
        "geometry.coordinates": "[119.4, 96] is out of range: longitude must be within -180..180 "
        "and latitude within -90..90"
    }


def test_a_swapped_pair_near_zhucheng_is_reported_as_swapped(conn: Connection, demo: dict[str, Any]) -> None:
    feature = station(demo)
    feature["geometry"] = point([36.0, 119.4])
    assert refused(conn, "transfer_stations", feature) == {
        "geometry.coordinates": "longitude and latitude swapped: did you mean [119.4, 36]? "
        "(GeoJSON positions are [longitude, latitude])"
    }


def test_a_position_outside_the_city_is_refused_unless_accepted_then_a_warning(
    conn: Connection, demo: dict[str, Any]
) -> None:
    # Weifang's centre: in range, in China, 60 km from Zhucheng's outline.
    feature = station(demo)
    feature["geometry"] = point([119.16, 36.71])
    errors = refused(
        conn, "treatment_plants", {**feature, "properties": {**feature["properties"], "kind": "landfill"}}
    )
    assert errors == {
        "geometry": "outside the city outline of Zhucheng ([119.16, 36.71] lies outside): "
        "positions must lie within the city (or accept it explicitly)"
    }
    plant = {**feature, "properties": {**feature["properties"], "kind": "landfill"}}
    prepared = validate(conn, "treatment_plants", plant, mode="create", accept_outside=True)
    assert prepared.warnings == [
        "geometry: outside the city outline of Zhucheng ([119.16, 36.71] lies outside); accepted as asked"
    ]
    assert prepared.values["geom_ewkt"] == "SRID=4326;POINT (119.16 36.71)"


def test_a_feature_that_needs_a_town_is_refused_outside_every_town_even_when_accepted(
    conn: Connection, demo: dict[str, Any]
) -> None:
    feature = station(demo)
    feature["geometry"] = point([119.16, 36.71])
    errors = refused(conn, "transfer_stations", feature, accept_outside=True)
    assert errors == {
        "geometry": "lies in no town of the city: transfer_stations take their town from their position"
    }


def test_a_height_is_dropped_with_a_warning(conn: Connection, demo: dict[str, Any]) -> None:
    feature = station(demo)
    feature["geometry"] = point([*demo["point"], 85.5])
    prepared = validate(conn, "transfer_stations", feature, mode="create")
    lon, lat = demo["point"]
    assert prepared.values["geom_ewkt"] == f"SRID=4326;POINT ({lon!r} {lat!r})"
    assert prepared.warnings == ["the positions' third value (height) was dropped: the layers are 2D"]


def test_an_empty_geometry_is_refused(conn: Connection, demo: dict[str, Any]) -> None:
    feature = station(demo)
    feature["geometry"] = point([])
    assert refused(conn, "transfer_stations", feature) == {
        "geometry.coordinates": "a position must be [longitude, latitude], got an array"
    }
    empty_town = town(demo, [], "MultiPolygon")
    empty_town["geometry"]["coordinates"] = []
    assert refused(conn, "towns", empty_town) == {
        "geometry.coordinates": "empty: a MultiPolygon needs at least one position [longitude, latitude]"
    }


def test_a_huge_geometry_is_refused_quickly_without_reading_all_of_it(
    conn: Connection, demo: dict[str, Any]
) -> None:
    lon, lat = demo["point"]
    ring = [[lon + i * 1e-7, lat] for i in range(600_000)]  # about 20 MB as JSON
    started = time.perf_counter()
    errors = refused(conn, "towns", town(demo, ring))
    assert time.perf_counter() - started < 1.0
    assert errors == {
        "geometry.coordinates": f"too many positions: at most {MAX_VERTICES} (simplify the geometry)"
    }


def test_a_missing_geometry_is_required_on_create_but_not_on_patch(
    conn: Connection, demo: dict[str, Any]
) -> None:
    feature = station(demo)
    del feature["geometry"]
    assert refused(conn, "transfer_stations", feature) == {
        "geometry": "required: a GeoJSON Point in longitude, latitude (WGS 84)"
    }
    prepared = validate(conn, "transfer_stations", {"properties": {"operator": "环卫所"}}, mode="patch")
    assert prepared.values == {"operator": "环卫所"}


def test_a_chain_links_geometry_is_derived(conn: Connection, demo: dict[str, Any]) -> None:
    link = {"geometry": point(demo["point"]), "properties": {}}
    errors = refused(conn, "chain_links", link, mode="patch")
    assert errors["geometry"].startswith("read-only: derived by the database (a link runs from its source")


# -- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("capacity", "120", "must be a number, got the string '120'"),
        ("capacity", True, "must be a number, got true"),
        ("capacity", -1, "must not be negative, got -1"),
        (
            "capacity",
            1e11,
            "too large: less than 10,000,000,000 (at most 10 digits before the decimal point)",
        ),
        ("capacity", 1.005, "at most 2 decimal places, got 1.005"),
        ("compression", "yes", "must be true or false, got the string 'yes'"),
        ("commissioned_on", "01/05/2020", "must be a date YYYY-MM-DD, got the string '01/05/2020'"),
        ("commissioned_on", "2020-02-30", "must be a date YYYY-MM-DD, got the string '2020-02-30'"),
        ("status", "open", "unknown value 'open': expected one of planned, under_construction, operational"),
        ("capacity_unit", "m3/d", "unknown value 'm3/d': expected one of t/d"),
        ("code", "-TS 1", "'-TS 1' does not match the code format ^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
        ("name", "   ", "must not be blank"),
        ("name", "站" * 201, "too long: at most 200 characters, got 201"),
        ("operator", "a\x00b", "must not contain the NUL character"),
        ("name", None, "may not be null: a string"),
    ],
)
def test_values_are_checked_against_their_column(
    conn: Connection, demo: dict[str, Any], name: str, value: Any, words: str
) -> None:
    errors = refused(conn, "transfer_stations", station(demo, **{name: value}))
    assert list(errors) == [f"properties.{name}"]
    assert words in errors[f"properties.{name}"]


def test_required_properties_are_listed_on_create(conn: Connection, demo: dict[str, Any]) -> None:
    feature = {"type": "Feature", "geometry": point(demo["point"]), "properties": {}}
    errors = refused(conn, "transfer_stations", feature)
    assert errors == {
        "properties.capacity_unit": "required: a string, one of t/d",
        "properties.code": "required: a string",
        "properties.name": "required: a string",
    }


def test_a_code_another_feature_holds_is_refused_on_the_code(conn: Connection, demo: dict[str, Any]) -> None:
    code = demo["station_code"]
    errors = refused(conn, "transfer_stations", station(demo, code=code))
    assert errors == {
        "properties.code": f"another feature of transfer_stations holds code {code!r}: "
        "codes are unique per layer"
    }
    # the feature's own code, unchanged, is no duplicate
    current = {"code": code, "name": "站", "capacity_unit": "t/d", "status": "operational"}
    assert validate(conn, "transfer_stations", station(demo, code=code), mode="replace", current=current)


def test_several_errors_are_reported_together(conn: Connection, demo: dict[str, Any]) -> None:
    feature = station(demo, capacity=-5, status="open", colour="red", station_class="large")
    feature["geometry"] = point([36.0, 119.4])
    errors = refused(conn, "transfer_stations", feature)
    assert sorted(errors) == [
        "geometry.coordinates",
        "properties.capacity",
        "properties.colour",
        "properties.station_class",
        "properties.status",
    ]


# -- kind-specific rules --------------------------------------------------------------------------


def farm(demo: dict[str, Any], **properties: Any) -> dict[str, Any]:
    given = {
        "code": "LF-NEW-1",
        "name": "新养殖场",
        "capacity_unit": "m3",
        "species": "pig",
        "head_count": 800,
    }
    return {"type": "Feature", "geometry": point(demo["point"]), "properties": {**given, **properties}}


def test_capacity_units_are_those_of_the_layer(conn: Connection, demo: dict[str, Any]) -> None:
    assert validate(conn, "livestock_farms", farm(demo, capacity_unit="m3"), mode="create")
    errors = refused(conn, "livestock_farms", farm(demo, capacity_unit="stalls"))
    assert errors == {"properties.capacity_unit": "unknown value 'stalls': expected one of m3, t/d"}


def test_a_farm_changing_species_to_another_counting_basis_must_give_its_head_count(
    conn: Connection, demo: dict[str, Any]
) -> None:
    current = farm(demo)["properties"]
    errors = refused(
        conn, "livestock_farms", {"properties": {"species": "dairy"}}, mode="patch", current=current
    )
    assert errors == {
        "properties.head_count": "required when species changes from pig (animals sold per year) to dairy "
        "(head on hand): give the head count as head on hand"
    }
    patch = {"properties": {"species": "dairy", "head_count": 120}}
    prepared = validate(conn, "livestock_farms", patch, mode="patch", current=current)
    assert prepared.values == {"species": "dairy", "head_count": 120}
    # beef is counted like pigs: sold per year
    assert validate(
        conn, "livestock_farms", {"properties": {"species": "beef"}}, mode="patch", current=current
    )


def test_a_negative_head_count_and_a_forwarded_share_over_one_are_refused(
    conn: Connection, demo: dict[str, Any]
) -> None:
    assert refused(conn, "livestock_farms", farm(demo, head_count=-3)) == {
        "properties.head_count": "must not be negative, got -3"
    }
    errors = refused(conn, "manure_centers", {"properties": {"forwarded_share": 1.5}}, mode="patch")
    assert errors == {"properties.forwarded_share": "must be between 0 and 1, got 1.5"}


def test_a_villages_rebuilt_toilets_are_at_most_its_households(conn: Connection) -> None:
    current = {"code": "V1", "name": "村", "population": 300, "households": 100, "toilets_rebuilt": 10}
    errors = refused(
        conn, "villages", {"properties": {"toilets_rebuilt": 101}}, mode="patch", current=current
    )
    assert errors == {"properties.toilets_rebuilt": "at most the village's households (100), got 101"}


def link(**properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": None, "properties": properties}


def test_a_chain_link_has_exactly_one_source_and_one_target(conn: Connection, demo: dict[str, Any]) -> None:
    village = demo["village"].id
    errors = refused(conn, "chain_links", link(stream="domestic_waste", source_village_id=village))
    assert errors["properties"].startswith(
        "a link has exactly one target: set one of target_collection_point_id"
    )
    errors = refused(
        conn,
        "chain_links",
        link(
            stream="domestic_waste", source_village_id=village, source_farm_id=1, target_transfer_station_id=1
        ),
    )
    assert errors["properties.source_farm_id"].startswith("a link has exactly one source")
    assert "(given: source_village_id, source_farm_id)" in errors["properties.source_farm_id"]


def test_a_chain_link_joins_only_the_layers_its_stream_allows(conn: Connection, demo: dict[str, Any]) -> None:
    errors = refused(
        conn,
        "chain_links",
        link(
            stream="manure", source_village_id=demo["village"].id, target_transfer_station_id=demo["station"]
        ),
    )
    assert errors["properties.source_village_id"].startswith("villages take no part in the manure chain")
    assert errors["properties.target_transfer_station_id"].startswith(
        "transfer_stations take no part in the manure chain (livestock_farms → manure_centers"
    )
    upstream = link(
        stream="domestic_waste", source_transfer_station_id=demo["station"], target_collection_point_id=1
    )
    errors = refused(conn, "chain_links", upstream)
    assert errors["properties.target_collection_point_id"].startswith(
        "a domestic_waste link runs downstream: "
        "transfer_stations feed treatment_plants, not collection_points"
    )


def test_a_chain_link_never_joins_a_facility_to_itself(conn: Connection, demo: dict[str, Any]) -> None:
    errors = refused(
        conn,
        "chain_links",
        link(
            stream="domestic_waste",
            source_transfer_station_id=demo["station"],
            target_transfer_station_id=demo["station"],
        ),
    )
    assert (
        "a facility never feeds itself: source and target are one"
        in errors["properties.target_transfer_station_id"]
    )


def test_a_chain_link_that_exists_already_is_refused(conn: Connection, demo: dict[str, Any]) -> None:
    old = demo["existing_link"]
    target = next(c for c in fields.REFERENCES["chain_links"] if c.startswith("target_") and old._mapping[c])
    errors = refused(
        conn,
        "chain_links",
        link(stream=old.stream, source_village_id=old.source_village_id, **{target: old._mapping[target]}),
    )
    assert errors == {
        "properties": f"link {old.id} already joins this source and target in the {old.stream} stream: "
        "a pair is linked once per stream"
    }


# -- status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("planned", "under_construction"),
        ("under_construction", "operational"),
        ("operational", "suspended"),
        ("suspended", "operational"),
        ("suspended", "closed"),
        ("planned", "closed"),
        ("closed", "planned"),
        ("operational", "operational"),
    ],
)
def test_status_follows_the_lifecycle(conn: Connection, old: str, new: str) -> None:
    current = {"code": "TS-1", "status": old}
    prepared = validate(
        conn, "transfer_stations", {"properties": {"status": new}}, mode="patch", current=current
    )
    assert prepared.values == ({} if old == new else {"status": new})


def test_a_status_that_skips_or_reverses_the_lifecycle_is_refused(conn: Connection) -> None:
    current = {"code": "TS-1", "status": "planned"}
    errors = refused(
        conn, "transfer_stations", {"properties": {"status": "operational"}}, mode="patch", current=current
    )
    assert errors == {
        "properties.status": "a facility that is 'planned' cannot become 'operational': "
        "allowed next states are closed, under_construction "
        "(lifecycle: planned → under_construction → operational ⇄ suspended → closed)"
    }


def test_a_closed_facility_is_reopened_only_as_planned(conn: Connection, demo: dict[str, Any]) -> None:
    current = {"code": "TS-1", "status": "closed"}
    errors = refused(
        conn, "transfer_stations", {"properties": {"status": "operational"}}, mode="patch", current=current
    )
    assert errors["properties.status"].startswith(
        "closed facilities are reopened explicitly: set status to 'planned' (not 'operational')"
    )
    # a replacement that leaves status out would take the default 'operational': refused alike
    errors = refused(conn, "transfer_stations", station(demo, code="TS-1"), mode="replace", current=current)
    assert list(errors) == ["properties.status"]


# -- references -----------------------------------------------------------------------------------


def collection_point(demo: dict[str, Any], **properties: Any) -> dict[str, Any]:
    given = {"code": "CP-NEW-1", "name": "新收集点", "capacity_unit": "t/d", "village_id": demo["village"].id}
    return {"type": "Feature", "geometry": point(demo["point"]), "properties": {**given, **properties}}


def test_a_reference_must_exist(conn: Connection, demo: dict[str, Any]) -> None:
    assert validate(conn, "collection_points", collection_point(demo), mode="create").values[
        "village_id"
    ] == (demo["village"].id)
    errors = refused(conn, "collection_points", collection_point(demo, village_id=999_999))
    assert errors == {
        "properties.village_id": "no feature of villages has id 999999: give the id of an existing one"
    }
    errors = refused(conn, "collection_points", collection_point(demo, village_id="12"))
    assert errors["properties.village_id"].startswith("must be the id of one of the villages (an integer)")


def test_a_collection_point_serves_a_village_of_its_own_town(conn: Connection, demo: dict[str, Any]) -> None:
    errors = refused(conn, "collection_points", collection_point(demo, village_id=demo["other_town_village"]))
    assert "lies in another town than this feature's position" in errors["properties.village_id"]


def test_linking_to_a_closed_facility_is_refused(conn: Connection, demo: dict[str, Any]) -> None:
    closed = link(
        stream="domestic_waste",
        source_transfer_station_id=demo["station"],
        target_treatment_plant_id=demo["closed_plant"],
    )
    errors = refused(conn, "chain_links", closed)
    assert list(errors) == ["properties.target_treatment_plant_id"]
    assert "is closed: refer to one that is not closed" in errors["properties.target_treatment_plant_id"]


# -- values for SQL -------------------------------------------------------------------------------


def test_a_patch_gives_only_the_columns_that_change(conn: Connection) -> None:
    current = {
        "code": "TS-1",
        "name": "站",
        "capacity": 120.0,
        "capacity_unit": "t/d",
        "status": "operational",
    }
    patch = {"properties": {"capacity": 120, "name": "新站"}}
    assert validate(conn, "transfer_stations", patch, mode="patch", current=current).values == {
        "name": "新站"
    }


def test_a_replacement_resets_what_it_leaves_out(conn: Connection, demo: dict[str, Any]) -> None:
    current = {"code": "TS-1", "name": "站", "operator": "环卫所", "status": "operational"}
    prepared = validate(
        conn, "transfer_stations", station(demo, code="TS-1"), mode="replace", current=current
    )
    assert prepared.values["operator"] is None
    assert prepared.values["status"] == "operational"
    assert prepared.values["compression"] is True
    assert set(prepared.values) == set(fields.writable("transfer_stations")) | {"geom_ewkt"}


def test_the_refusal_is_a_422_problem_listing_every_error(conn: Connection, demo: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as refusal:
        validate(conn, "transfer_stations", station(demo, capacity=-1, colour="red"), mode="create")
    assert refusal.value.extra["errors"] == [
        {"field": "properties.capacity", "message": "must not be negative, got -1"},
        {"field": "properties.colour", "message": refusal.value.errors[1].message},
    ]
    assert refusal.value.fields() == ["properties.capacity", "properties.colour"]
