"""Declarative base, naming convention and the column/constraint pieces every layer shares."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, Integer, MetaData, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names: migrations, error messages and tests refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

SRID = 4326

STATUSES = ("planned", "under_construction", "operational", "suspended", "closed")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def sql_in(column: str, values: tuple[str, ...]) -> str:
    """`column IN ('a', 'b')` for CHECK constraints over a fixed vocabulary."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


def geometry(kind: str, nullable: bool = False) -> Any:
    """A typed geometry column (type and SRID enforced by the column's typmod) with a GIST index."""
    return mapped_column(Geometry(kind, srid=SRID, spatial_index=True), nullable=nullable, sort_order=100)


def geometry_checks() -> tuple[CheckConstraint, ...]:
    """What PostGIS typmods do not enforce: validity, emptiness and lon/lat range (projected
    coordinates stored as degrees by mistake, e.g. Gauss-Krüger metres, are refused)."""
    checks = [
        CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        CheckConstraint("NOT ST_IsEmpty(geom)", name="geom_not_empty"),
    ]
    checks.append(
        CheckConstraint(
            "ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90",
            name="geom_lonlat_range",
        )
    )
    return tuple(checks)


def geography_index(table: str) -> Index:
    """GIST index on geom::geography: makes geodesic ST_DWithin/ST_Distance on the spheroid indexable."""
    return Index(f"ix_{table}_geog", text("(geom::geography)"), postgresql_using="gist")


class Timestamped:
    """created_at / updated_at; a trigger (see the first migration) keeps updated_at current."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), sort_order=101
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), sort_order=102
    )


class Versioned:
    """The feature's version: 1 when created, raised by a trigger (migration 0008) on every UPDATE that
    changes what the row holds; an edit names the version it read (If-Match) and loses if it moved."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1", sort_order=103)


def identity_pk(sort_order: int = -100) -> Mapped[int]:
    return mapped_column(BigInteger, Identity(), primary_key=True, sort_order=sort_order)
