"""Hand-built test worlds: small named builders that insert rows through the models' tables.

Each builder takes an open connection, states the columns a test cares about and gives the rest a
plain default, and returns the new row's id. Geometries are EWKT; ids come from the tables' identity
columns, so a fresh database numbers rows 1, 2, 3… in the order they are built.
"""

from __future__ import annotations

from typing import Any

from pyproj import Geod
from sqlalchemy import Connection, insert

from service.models import LAYERS, SOURCE_COLUMNS, TARGET_COLUMNS, City, Community, Town
from service.models.base import Base

Lonlat = tuple[float, float]
GEOD = Geod(ellps="WGS84")  # the spheroid PostGIS measures geography on


def offset(origin: Lonlat, azimuth: float, distance_m: float, digits: int = 9) -> Lonlat:
    """The point `distance_m` from `origin` along `azimuth` (degrees from north), rounded to `digits`
    decimals so that its distance is known independently of PostGIS."""
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, distance_m)
    return round(lon, digits), round(lat, digits)


def point(at: Lonlat) -> str:
    return f"SRID=4326;POINT({at[0]} {at[1]})"


def square(west: float, south: float, size: float) -> str:
    """An axis-aligned square outline in degrees, as a MULTIPOLYGON (towns and cities are multipart)."""
    east, north = round(west + size, 9), round(south + size, 9)
    ring = f"{west} {south},{east} {south},{east} {north},{west} {north},{west} {south}"
    return f"SRID=4326;MULTIPOLYGON((({ring})))"


def insert_row(conn: Connection, model: type[Base], **values: Any) -> int:
    """Insert one row of `model` and return its id."""
    table = model.__table__
    return int(conn.execute(insert(model).values(**values).returning(table.c.id)).scalar_one())


def city(conn: Connection, outline: str, *, code: str = "370782", name: str = "测试市", **more: Any) -> int:
    return insert_row(conn, City, code=code, name=name, geom=outline, **more)


def town(
    conn: Connection,
    outline: str,
    *,
    city_id: int = 1,
    code: str = "370782101",
    name: str = "甲镇",
    kind: str = "town",
    **more: Any,
) -> int:
    return insert_row(conn, Town, code=code, name=name, kind=kind, city_id=city_id, geom=outline, **more)


def community(
    conn: Connection,
    at: Lonlat,
    *,
    town_id: int = 1,
    code: str = "370782101201",
    name: str = "社区",
    kind: str = "rural",
) -> int:
    return insert_row(conn, Community, code=code, name=name, kind=kind, town_id=town_id, geom=point(at))


def one_town(conn: Connection, outline: str, centre: Lonlat, **town_columns: Any) -> None:
    """The frame most worlds share: a city and one town on `outline`, one rural community at `centre`."""
    city(conn, outline)
    town(conn, outline, **town_columns)
    community(conn, centre)


def village(
    conn: Connection,
    code: str,
    at: Lonlat,
    population: int,
    households: int | None = None,
    *,
    name: str | None = None,
    town_id: int = 1,
    community_id: int = 1,
    **more: Any,
) -> int:
    """A village; households default to a third of the people, the name to the code plus 村."""
    return insert_row(
        conn,
        LAYERS["villages"],
        code=code,
        name=name or f"{code}村",
        town_id=town_id,
        community_id=community_id,
        population=population,
        households=population // 3 if households is None else households,
        geom=point(at),
        **more,
    )


def facility(
    conn: Connection,
    layer: str,
    code: str,
    at: Lonlat,
    *,
    name: str,
    capacity: float | None = None,
    capacity_unit: str = "t/d",
    town_id: int | None = 1,
    **more: Any,
) -> int:
    """A facility of any point layer (collection point, station, plant, centre, farm, toilet)."""
    return insert_row(
        conn,
        LAYERS[layer],
        code=code,
        name=name,
        capacity=capacity,
        capacity_unit=capacity_unit,
        town_id=town_id,
        geom=point(at),
        **more,
    )


def farm(
    conn: Connection,
    code: str,
    at: Lonlat,
    species: str,
    head_count: int,
    *,
    name: str | None = None,
    manure_facility_type: str = "composting",
    **more: Any,
) -> int:
    """A livestock farm; its manure storage is counted in m³ unless told otherwise."""
    more.setdefault("capacity_unit", "m3")
    return facility(
        conn,
        "livestock_farms",
        code,
        at,
        name=name or f"{code}场",
        species=species,
        head_count=head_count,
        manure_facility_type=manure_facility_type,
        **more,
    )


SOURCE_COLUMN = {layer: column for column, layer in SOURCE_COLUMNS.items()}
TARGET_COLUMN = {layer: column for column, layer in TARGET_COLUMNS.items()}


def link(conn: Connection, stream: str, source: tuple[str, int], target: tuple[str, int]) -> int:
    """A chain link from (layer, id) to (layer, id); the database derives its line."""
    values = {SOURCE_COLUMN[source[0]]: source[1], TARGET_COLUMN[target[0]]: target[1]}
    return insert_row(conn, LAYERS["chain_links"], stream=stream, **values)


# The chain world: where each village and facility stands (code -> lon, lat).
CHAIN_AT = {
    "V1": (119.05, 36.05),
    "V2": (119.06, 36.05),
    "V3": (119.15, 36.15),
    "CP1": (119.051, 36.051),
    "CP2": (119.061, 36.051),
    "CP3": (119.14, 36.14),
    "S1": (119.10, 36.10),
    "P1": (119.18, 36.02),
    "P2": (119.19, 36.03),
    "M1": (119.02, 36.12),
    "B1": (119.03, 36.18),
    "F1": (119.01, 36.10),
    "F2": (119.04, 36.17),
}


def chain(conn: Connection) -> None:
    """Three villages (V3 unlinked), their collection points, a station, two plants (P2 closed), a
    manure centre passing half on, a biogas centre and two farms: the world whose flows
    tests/test_chain.py knows by hand, also played by the scenario tests."""
    at = CHAIN_AT
    one_town(conn, square(119, 36, 0.2), at["V1"], name_en="Jia")
    v1 = village(conn, "V1", at["V1"], 1000, 400, name="一村", toilets_rebuilt=300)
    v2 = village(
        conn, "V2", at["V2"], 500, 200, name="二村", toilets_rebuilt=200, waste_rate_kg_per_person_day=1
    )
    v3 = village(conn, "V3", at["V3"], 200, 80, name="三村")
    cp1, cp2, _ = (
        facility(conn, "collection_points", code, at[code], name=name, capacity=capacity, village_id=v)
        for code, name, capacity, v in (
            ("CP1", "一村收集点", 1.0, v1),
            ("CP2", "二村收集点", 0.6, v2),
            ("CP3", "三村收集点", 0.05, v3),
        )
    )
    s1 = facility(conn, "transfer_stations", "S1", at["S1"], name="甲镇中转站", capacity=10)
    p1 = facility(
        conn, "treatment_plants", "P1", at["P1"], name="焚烧厂", capacity=100, kind="incineration", phase=2
    )
    facility(
        conn, "treatment_plants", "P2", at["P2"], name="填埋场", capacity=50, kind="landfill", status="closed"
    )
    m1 = facility(conn, "manure_centers", "M1", at["M1"], name="粪污中心", capacity=5, forwarded_share=0.5)
    b1 = facility(conn, "biogas_centers", "B1", at["B1"], name="沼气中心", capacity=10)
    f1 = farm(conn, "F1", at["F1"], "pig", 730, name="猪场")
    f2 = farm(conn, "F2", at["F2"], "dairy", 150, name="奶牛场", manure_facility_type="storage_lagoon")
    for stream, source, target in (
        ("domestic_waste", ("villages", v1), ("collection_points", cp1)),
        ("domestic_waste", ("villages", v2), ("collection_points", cp2)),
        ("domestic_waste", ("collection_points", cp1), ("transfer_stations", s1)),
        ("domestic_waste", ("collection_points", cp2), ("transfer_stations", s1)),
        ("domestic_waste", ("transfer_stations", s1), ("treatment_plants", p1)),
        ("fecal_sludge", ("villages", v1), ("manure_centers", m1)),
        ("fecal_sludge", ("villages", v2), ("manure_centers", m1)),
        ("fecal_sludge", ("manure_centers", m1), ("biogas_centers", b1)),
        ("manure", ("manure_centers", m1), ("biogas_centers", b1)),
        ("manure", ("livestock_farms", f1), ("manure_centers", m1)),
        ("manure", ("livestock_farms", f2), ("biogas_centers", b1)),
    ):
        link(conn, stream, source, target)
