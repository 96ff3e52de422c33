"""The public layers as feature collections: their properties, types and geometry, read from the models.

Every column of a layer except `id` (the feature id) and `geom` is a property; layers with a town get
the town's official code as `town_code` too. Property names are the only identifiers that ever reach
SQL from a request, and only after they were found here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    FromClause,
    Integer,
    Numeric,
    SmallInteger,
    Table,
    Text,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from service.features.errors import UnknownLayer
from service.models import LAYERS, SOURCE_COLUMNS, STATUSES, STREAMS, TARGET_COLUMNS, Town
from service.models.areas import TOWN_KINDS, Community
from service.models.facilities import (
    COLLECTION_POINT_KINDS,
    LARGE_FARM_THRESHOLDS,
    MANURE_FACILITY_TYPES,
    PLANT_KINDS,
    SPECIES,
    TOILET_KINDS,
)

Kind = Literal["string", "integer", "number", "boolean", "date", "datetime"]

_KINDS: tuple[tuple[type, Kind], ...] = (
    (Boolean, "boolean"),
    (SmallInteger, "integer"),
    (BigInteger, "integer"),
    (Integer, "integer"),
    (Numeric, "number"),
    (DateTime, "datetime"),
    (Date, "date"),
    (Text, "string"),
)

TITLES = {
    "towns": "Town-level units 乡镇（街道）",
    "grids": "Urban responsibility grids 城区网格",
    "villages": "Administrative villages 行政村",
    "collection_points": "Village collection points 村收集点",
    "transfer_stations": "Town compression transfer stations 乡镇垃圾压缩中转站",
    "treatment_plants": "Incineration plants and landfills 垃圾焚烧发电厂/填埋场",
    "manure_centers": "Fecal/manure treatment centres 粪污集中处理中心",
    "biogas_centers": "Biogas centres 大型沼气处理中心",
    "livestock_farms": "Livestock and poultry farms 畜禽养殖场",
    "public_toilets": "Urban public toilets 城区公厕",
    "chain_links": "Chain links 收运链路",
}

# Main attributes a map or export is usually filtered by; every property can be filtered, these are
# the ones listed first in the queryables and in the API documentation.
MAIN_ATTRIBUTES = ("town", "status", "kind", "species", "stream", "station_class", "is_large_scale")


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    column: ColumnElement[Any]
    vocabulary: tuple[str, ...] | None = None  # the values the database allows, when it is a list
    derived: bool = False  # read from another table or computed here: served, never written


@dataclass(frozen=True)
class Layer:
    name: str
    title: str
    table: Table
    geometry_type: str  # Point, LineString, MultiPolygon
    fields: tuple[Field, ...]
    has_town: bool

    @property
    def id_column(self) -> Column[Any]:
        return self.table.c.id

    @property
    def geom(self) -> Column[Any]:
        return self.table.c.geom

    @property
    def updated_at(self) -> Column[Any]:
        return self.table.c.updated_at

    def field(self, name: str) -> Field | None:
        return self.field_map().get(name)

    def field_map(self) -> dict[str, Field]:
        return _field_map(self.name)

    def source(self) -> FromClause:
        """The layer's table, joined to its town when it has one (for `town_code`)."""
        if not self.has_town:
            return self.table
        return self.table.outerjoin(TOWN_ALIAS, TOWN_ALIAS.c.id == self.table.c.town_id)


TOWN_ALIAS = Town.__table__.alias("town_of_feature")
GEOGRAPHY = Geography()


def _kind(column: Column[Any]) -> Kind:
    for sql_type, kind in _KINDS:
        if isinstance(column.type, sql_type):
            return kind
    raise TypeError(f"no property kind for column {column} of type {column.type}")


KINDS_OF_LAYER = {
    "towns": TOWN_KINDS,
    "collection_points": COLLECTION_POINT_KINDS,
    "treatment_plants": PLANT_KINDS,
    "public_toilets": TOILET_KINDS,
}
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "status": STATUSES,
    "stream": STREAMS,
    "species": SPECIES,
    "manure_facility_type": MANURE_FACILITY_TYPES,
    "station_class": ("collection_station", "small", "medium", "large"),
    "head_count_basis": tuple(sorted({basis for basis, _ in LARGE_FARM_THRESHOLDS.values()})),
    "source_layer": tuple(dict.fromkeys(SOURCE_COLUMNS.values())),
    "target_layer": tuple(dict.fromkeys(TARGET_COLUMNS.values())),
}


def _vocabulary(layer_name: str, column: str) -> tuple[str, ...] | None:
    if column == "kind":
        return KINDS_OF_LAYER.get(layer_name)
    if column == "capacity_unit":
        return tuple(LAYERS[layer_name].CAPACITY_UNITS)  # type: ignore[attr-defined]
    return VOCABULARIES.get(column)


def _end_values(table: Table, columns: dict[str, str], attribute: str) -> ColumnElement[Any]:
    """The code (or name) of a chain link's end, whichever of its id columns is set."""
    whens = []
    for column, layer_name in columns.items():
        end: Table = LAYERS[layer_name].__table__  # type: ignore[assignment]
        value = (
            select(end.c[attribute])
            .where(end.c.id == table.c[column])
            .correlate_except(end)
            .scalar_subquery()
        )
        whens.append((table.c[column].is_not(None), value))
    return case(*whens, else_=literal(None, Text))


def _link_fields(table: Table) -> list[Field]:
    """What a reader of a link needs besides its ids: its ends' codes and names, and its length."""
    return [
        Field(f"{end}_{attribute}", "string", _end_values(table, columns, attribute), derived=True)
        for end, columns in (("source", SOURCE_COLUMNS), ("target", TARGET_COLUMNS))
        for attribute in ("code", "name")
    ] + [
        Field(
            "length_m",
            "number",
            func.round(cast(func.ST_Length(cast(table.c.geom, GEOGRAPHY)), Numeric), 1),
            derived=True,
        )
    ]


def _community_fields(table: Table) -> list[Field]:
    community = Community.__table__
    return [
        Field(
            f"community_{attribute}",
            "string",
            select(community.c[attribute])
            .where(community.c.id == table.c.community_id)
            .correlate_except(community)
            .scalar_subquery(),
            derived=True,
        )
        for attribute in ("code", "name")
    ]


def _build(name: str) -> Layer:
    table: Table = LAYERS[name].__table__  # type: ignore[assignment]
    columns = [c for c in table.columns if c.name not in ("id", "geom")]
    fields = [Field(c.name, _kind(c), c, _vocabulary(name, c.name)) for c in columns]
    has_town = "town_id" in table.c
    if has_town:
        at = next(i for i, f in enumerate(fields) if f.name == "town_id") + 1
        fields[at:at] = [
            Field("town_code", "string", TOWN_ALIAS.c.code, derived=True),
            Field("town_name", "string", TOWN_ALIAS.c.name, derived=True),
        ]
    if "community_id" in table.c and name != "communities":
        at = next(i for i, f in enumerate(fields) if f.name == "community_id") + 1
        fields[at:at] = _community_fields(table)
    if name == "chain_links":
        fields += _link_fields(table)
    geometry_type = {"POINT": "Point", "LINESTRING": "LineString", "MULTIPOLYGON": "MultiPolygon"}[
        table.c.geom.type.geometry_type  # type: ignore[attr-defined]
    ]
    return Layer(name, TITLES[name], table, geometry_type, tuple(fields), has_town)


@cache
def _field_map(name: str) -> dict[str, Field]:
    return {f.name: f for f in layer(name).fields}


@cache
def layer(name: str) -> Layer:
    """The layer of that public name; UnknownLayer when there is none."""
    if name not in LAYERS:
        raise UnknownLayer(f"no layer {name!r}")
    return _build(name)


def layers() -> list[Layer]:
    return [layer(name) for name in LAYERS]
