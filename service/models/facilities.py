"""Facility layers of the three chains. Every one shares the columns of `FacilityColumns`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    Numeric,
    SmallInteger,
    Text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from service.models.base import (
    STATUSES,
    Base,
    Timestamped,
    Versioned,
    geography_index,
    geometry,
    geometry_checks,
    identity_pk,
    sql_in,
)

# CJJ 27-2012 classes as DESIGN.md gives them (t/day).
STATION_CLASS_SQL = (
    "CASE WHEN capacity IS NULL THEN NULL "
    "WHEN capacity < 30 THEN 'collection_station' "
    "WHEN capacity < 150 THEN 'small' "
    "WHEN capacity <= 450 THEN 'medium' "
    "ELSE 'large' END"
)

SPECIES = ("pig", "dairy", "beef", "sheep", "layer", "broiler")
# MARA large-scale thresholds (from 2025-09-01): what head_count means and the minimum.
LARGE_FARM_THRESHOLDS = {
    "pig": ("sold_per_year", 500),
    "beef": ("sold_per_year", 50),
    "sheep": ("sold_per_year", 200),
    "broiler": ("sold_per_year", 10_000),
    "dairy": ("on_hand", 100),
    "layer": ("on_hand", 2_000),
}
MANURE_FACILITY_TYPES = (
    "none",
    "storage_lagoon",
    "dry_manure_shed",
    "composting",
    "anaerobic_digester",
    "fermentation_bed",
    "solid_liquid_separation",
)
PLANT_KINDS = ("incineration", "landfill")
COLLECTION_POINT_KINDS = ("bin_station", "collection_room", "container_point")
TOILET_KINDS = ("new", "rebuilt")


HEAD_COUNT_BASIS_SQL = (
    "CASE species "
    + " ".join(f"WHEN '{sp}' THEN '{basis}'" for sp, (basis, _) in LARGE_FARM_THRESHOLDS.items())
    + " END"
)
IS_LARGE_SCALE_SQL = (
    "head_count >= CASE species "
    + " ".join(f"WHEN '{sp}' THEN {minimum}" for sp, (_, minimum) in LARGE_FARM_THRESHOLDS.items())
    + " END"
)


class FacilityColumns(Timestamped, Versioned):
    """Code, Chinese name, status lifecycle, capacity with unit, commissioning, operator, town, point."""

    CAPACITY_UNITS: ClassVar[tuple[str, ...]] = ("t/d",)
    TOWN_REQUIRED: ClassVar[bool] = True
    # A GIST index on geom::geography (migration 0003). No query of the farms probes one (coverage
    # probes the lon/lat index, D114), and a bulk import would build it for nothing (D120).
    GEOGRAPHY_INDEX: ClassVar[bool] = True

    id: Mapped[int] = identity_pk(sort_order=-100)
    code: Mapped[str] = mapped_column(Text, unique=True, sort_order=-99)
    name: Mapped[str] = mapped_column(Text, sort_order=-98)
    name_en: Mapped[str | None] = mapped_column(Text, sort_order=-97)
    status: Mapped[str] = mapped_column(Text, server_default="operational", sort_order=-96)
    capacity: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), sort_order=-95)
    capacity_unit: Mapped[str] = mapped_column(Text, sort_order=-94)
    commissioned_on: Mapped[date | None] = mapped_column(Date, sort_order=-93)
    operator: Mapped[str | None] = mapped_column(Text, sort_order=-92)
    geom = geometry("POINT")

    @declared_attr
    def town_id(cls) -> Mapped[int | None]:
        return mapped_column(
            BigInteger, ForeignKey("towns.id"), index=True, nullable=not cls.TOWN_REQUIRED, sort_order=-91
        )

    @classmethod
    def facility_checks(cls) -> tuple[Any, ...]:
        return (
            CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name="code_format"),
            CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
            CheckConstraint(sql_in("status", STATUSES), name="status_known"),
            CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_non_negative"),
            CheckConstraint(sql_in("capacity_unit", cls.CAPACITY_UNITS), name="capacity_unit_known"),
            *geometry_checks(),
            *((geography_index(cls.__tablename__),) if cls.GEOGRAPHY_INDEX else ()),  # type: ignore[attr-defined]
        )


class CollectionPoint(FacilityColumns, Base):
    """Village collection point (村收集点): where sorted household waste is gathered."""

    __tablename__ = "collection_points"

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            *cls.facility_checks(),
            CheckConstraint(sql_in("kind", COLLECTION_POINT_KINDS), name="kind_known"),
            # the point serves a village of its own town
            ForeignKeyConstraint(
                ["village_id", "town_id"],
                ["villages.id", "villages.town_id"],
                name="fk_collection_points_village_id_town_id",
            ),
        )

    kind: Mapped[str] = mapped_column(Text, server_default="bin_station")
    village_id: Mapped[int] = mapped_column(BigInteger, index=True)


class TransferStation(FacilityColumns, Base):
    """Town compression transfer station (乡镇垃圾压缩中转站); class derived from capacity by CJJ 27."""

    __tablename__ = "transfer_stations"

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return cls.facility_checks()

    station_class: Mapped[str | None] = mapped_column(Text, Computed(STATION_CLASS_SQL, persisted=True))
    compression: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # The construction programme that built it, e.g. '2018-2020' for the city's campaign.
    campaign: Mapped[str | None] = mapped_column(Text)


class TreatmentPlant(FacilityColumns, Base):
    """City-level end of the domestic-waste chain: incineration power plant or landfill."""

    __tablename__ = "treatment_plants"
    TOWN_REQUIRED = False

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            *cls.facility_checks(),
            CheckConstraint(sql_in("kind", PLANT_KINDS), name="kind_known"),
            CheckConstraint("phase IS NULL OR phase >= 1", name="phase_positive"),
            CheckConstraint("power_mw IS NULL OR power_mw >= 0", name="power_non_negative"),
        )

    kind: Mapped[str] = mapped_column(Text)
    phase: Mapped[int | None] = mapped_column(SmallInteger)
    power_mw: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))


class ManureCenter(FacilityColumns, Base):
    """Fecal/manure collection and treatment centre (粪污集中收集处理中心)."""

    __tablename__ = "manure_centers"
    CAPACITY_UNITS = ("t/d", "m3/d")

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            *cls.facility_checks(),
            CheckConstraint("forwarded_share BETWEEN 0 AND 1", name="forwarded_share_range"),
        )

    accepts_fecal_sludge: Mapped[bool] = mapped_column(Boolean, server_default="true")
    accepts_manure: Mapped[bool] = mapped_column(Boolean, server_default="true")
    process: Mapped[str | None] = mapped_column(Text)
    # Share of the inflow passed on downstream (e.g. slurry to the biogas centre); the rest is treated
    # on site (composted, land-applied). 1 = everything is forwarded.
    forwarded_share: Mapped[Decimal] = mapped_column(Numeric(4, 3), server_default="1")


class BiogasCenter(FacilityColumns, Base):
    """Large biogas treatment centre (大型沼气处理中心): the end of the sludge and manure chains."""

    __tablename__ = "biogas_centers"
    CAPACITY_UNITS = ("t/d", "m3/d")
    TOWN_REQUIRED = False

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            *cls.facility_checks(),
            CheckConstraint(
                "biogas_m3_per_day IS NULL OR biogas_m3_per_day >= 0", name="biogas_non_negative"
            ),
        )

    biogas_m3_per_day: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))


class LivestockFarm(FacilityColumns, Base):
    """Livestock or poultry farm with its on-site manure facility (规模养殖场粪污处理设施).

    `head_count` means what the large-farm threshold of its species counts (animals sold per year, or
    head on hand for dairy and layers); the database derives `head_count_basis` and `is_large_scale`.
    `capacity` is the manure storage/treatment capacity of the on-site facility.
    """

    __tablename__ = "livestock_farms"
    CAPACITY_UNITS = ("m3", "t/d")
    GEOGRAPHY_INDEX = False

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            *cls.facility_checks(),
            CheckConstraint(sql_in("species", SPECIES), name="species_known"),
            CheckConstraint("head_count >= 0", name="head_count_non_negative"),
            CheckConstraint(
                sql_in("manure_facility_type", MANURE_FACILITY_TYPES), name="manure_facility_known"
            ),
        )

    species: Mapped[str] = mapped_column(Text)
    head_count: Mapped[int] = mapped_column(Integer)
    # Nullable so that an unknown species is reported by ck_livestock_farms_species_known.
    head_count_basis: Mapped[str | None] = mapped_column(Text, Computed(HEAD_COUNT_BASIS_SQL, persisted=True))
    is_large_scale: Mapped[bool | None] = mapped_column(Boolean, Computed(IS_LARGE_SCALE_SQL, persisted=True))
    manure_facility_type: Mapped[str] = mapped_column(Text, server_default="none")
    has_manure_facility: Mapped[bool] = mapped_column(
        Boolean, Computed("manure_facility_type <> 'none'", persisted=True)
    )


class PublicToilet(FacilityColumns, Base):
    """Urban public toilet (城区公厕), newly built or rebuilt; capacity counts stalls (厕位)."""

    __tablename__ = "public_toilets"
    CAPACITY_UNITS = ("stalls",)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (*cls.facility_checks(), CheckConstraint(sql_in("kind", TOILET_KINDS), name="kind_known"))

    kind: Mapped[str] = mapped_column(Text)
