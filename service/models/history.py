"""Every version of every edited feature: who, when, how, and the feature before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Integer, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, identity_pk, sql_in

HISTORY_OPERATIONS = ("create", "update", "delete", "restore")


class FeatureHistory(Base):
    """One row per version of a feature (`after` NULL for a deletion). Append-only like the audit log:
    a trigger (migration 0008) refuses UPDATE, DELETE and TRUNCATE. `request_id` links the row to the
    audit entry of the same write."""

    __tablename__ = "feature_history"
    __table_args__ = (
        CheckConstraint(sql_in("operation", HISTORY_OPERATIONS), name="operation_known"),
        CheckConstraint("version >= 1", name="version_positive"),
        UniqueConstraint("layer", "feature_id", "version", name="uq_feature_history_layer_feature_version"),
    )

    id: Mapped[int] = identity_pk()
    layer: Mapped[str] = mapped_column(Text)
    feature_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.clock_timestamp())
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    user_name: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    before: Mapped[Any | None] = mapped_column(JSONB)
    after: Mapped[Any | None] = mapped_column(JSONB)
