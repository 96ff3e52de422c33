"""Inspection records: a visit to a facility, what was found, where the inspector stood, and photos.

Photos are kept in the database (`inspection_photos.content`), in the same transaction as their record:
a record never points at a file that is missing, and one `pg_dump` holds everything (D105 of
docs/decisions.md says why not files on disk).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, geometry, identity_pk, sql_in
from service.vocabulary import INSPECTED_LAYERS, INSPECTION_OUTCOMES, PHOTO_TYPES


class Inspection(Base):
    """One visit. `idempotency_key` is chosen by the inspector's device: a record re-sent after a lost
    answer (or by a phone coming back online) finds the first one instead of making a second."""

    __tablename__ = "inspections"
    __table_args__ = (
        CheckConstraint(sql_in("layer", INSPECTED_LAYERS), name="layer_known"),
        CheckConstraint(sql_in("outcome", INSPECTION_OUTCOMES), name="outcome_known"),
        CheckConstraint("length(notes) <= 4000", name="notes_length"),
        CheckConstraint("accuracy_m IS NULL OR accuracy_m >= 0", name="accuracy_not_negative"),
        CheckConstraint("distance_m IS NULL OR distance_m >= 0", name="distance_not_negative"),
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_inspections_facility", "layer", "feature_id", "inspected_at"),
    )

    id: Mapped[int] = identity_pk()
    layer: Mapped[str] = mapped_column(Text)
    feature_id: Mapped[int] = mapped_column(BigInteger)
    town_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("towns.id"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), index=True)
    user_name: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(Text)
    inspected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    outcome: Mapped[str] = mapped_column(Text)
    checklist: Mapped[dict[str, Any]] = mapped_column(JSONB)
    notes: Mapped[str] = mapped_column(Text, server_default="")
    accuracy_m: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    distance_m: Mapped[Decimal | None] = mapped_column(Numeric(12, 1))
    request_id: Mapped[str | None] = mapped_column(Text)
    # out of service: what depended on the facility when it was reported (inspections/outages.py)
    outage: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    position = geometry("POINT", nullable=True)


class InspectionPhoto(Base):
    """A photo of an inspection, type-checked by its first bytes and size-limited when received."""

    __tablename__ = "inspection_photos"
    __table_args__ = (
        CheckConstraint(sql_in("content_type", PHOTO_TYPES), name="type_known"),
        CheckConstraint("size_bytes > 0", name="not_empty"),
        UniqueConstraint("inspection_id", "number"),
    )

    id: Mapped[int] = identity_pk()
    inspection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("inspections.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(SmallInteger)
    content_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(Text)
    content: Mapped[bytes] = mapped_column(LargeBinary)
