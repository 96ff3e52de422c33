"""Administrative areas: city, town-level units, communities and administrative villages."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import (
    Base,
    Timestamped,
    Versioned,
    geography_index,
    geometry,
    geometry_checks,
    identity_pk,
    sql_in,
)

TOWN_KINDS = ("subdistrict", "town", "development_zone")
COMMUNITY_KINDS = ("rural", "urban")


class City(Timestamped, Base):
    """A county-level city (县级市); its 6-digit division code, e.g. 370782 for Zhucheng."""

    __tablename__ = "cities"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{6}$'", name="code_format"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        *geometry_checks(),
    )

    id: Mapped[int] = identity_pk()
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    geom = geometry("MULTIPOLYGON")


class Town(Timestamped, Versioned, Base):
    """Town-level unit (街道 / 镇 / 开发区) with its official 9-digit statistical code."""

    __tablename__ = "towns"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{9}$'", name="code_format"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint(sql_in("kind", TOWN_KINDS), name="kind_known"),
        *geometry_checks(),
    )

    id: Mapped[int] = identity_pk()
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    city_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("cities.id"), index=True)
    geom = geometry("MULTIPOLYGON")


class Community(Timestamped, Base):
    """Rural community (农村社区, a group of villages) or urban community (城市社区).

    Population is kept here for urban communities only; rural people are counted in their villages.
    """

    __tablename__ = "communities"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{12}$'", name="code_format"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint(sql_in("kind", COMMUNITY_KINDS), name="kind_known"),
        # target of villages' (community_id, town_id): a village's community lies in its own town
        UniqueConstraint("id", "town_id", name="uq_communities_id_town_id"),
        CheckConstraint("population IS NULL OR population >= 0", name="population_non_negative"),
        CheckConstraint("households IS NULL OR households >= 0", name="households_non_negative"),
        *geometry_checks(),
    )

    id: Mapped[int] = identity_pk()
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    town_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("towns.id"), index=True)
    population: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    geom = geometry("POINT")


class Village(Timestamped, Versioned, Base):
    """Administrative village (行政村): where households sort waste and toilets were rebuilt."""

    __tablename__ = "villages"
    __table_args__ = (
        CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name="code_format"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint("population >= 0", name="population_non_negative"),
        CheckConstraint("households >= 0", name="households_non_negative"),
        CheckConstraint("toilets_rebuilt >= 0", name="toilets_rebuilt_non_negative"),
        CheckConstraint("toilets_rebuilt <= households", name="toilets_rebuilt_le_households"),
        CheckConstraint(
            "waste_rate_kg_per_person_day IS NULL OR waste_rate_kg_per_person_day BETWEEN 0 AND 5",
            name="waste_rate_range",
        ),
        *geometry_checks(),
        ForeignKeyConstraint(
            ["community_id", "town_id"],
            ["communities.id", "communities.town_id"],
            name="fk_villages_community_id_town_id",
        ),
        UniqueConstraint("id", "town_id", name="uq_villages_id_town_id"),
        geography_index("villages"),
    )

    id: Mapped[int] = identity_pk()
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    town_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("towns.id"), index=True)
    community_id: Mapped[int] = mapped_column(BigInteger, index=True)
    population: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    toilets_rebuilt: Mapped[int] = mapped_column(Integer, server_default="0")
    # NULL means: use the city's planning default (DESIGN.md: 0.4 kg/person/day).
    waste_rate_kg_per_person_day: Mapped[Decimal | None] = mapped_column(Numeric(5, 3))
    geom = geometry("POINT")


class Grid(Timestamped, Versioned, Base):
    """A responsibility grid (网格) of the built-up area: a few urban communities under one responsible
    city leader, a grid-head unit, assisting units and supervisors (网格包靠责任制)."""

    __tablename__ = "grids"
    __table_args__ = (
        CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name="code_format"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint("population IS NULL OR population >= 0", name="population_non_negative"),
        *geometry_checks(),
    )

    id: Mapped[int] = identity_pk()
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    town_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("towns.id"), index=True)
    community_codes: Mapped[str | None] = mapped_column(Text)  # the communities it covers, comma-separated
    responsible_leader: Mapped[str | None] = mapped_column(Text)
    grid_head_unit: Mapped[str | None] = mapped_column(Text)
    assisting_units: Mapped[str | None] = mapped_column(Text)  # comma-separated
    supervisors: Mapped[str | None] = mapped_column(Text)  # comma-separated
    population: Mapped[int | None] = mapped_column(Integer)
    geom = geometry("MULTIPOLYGON")
