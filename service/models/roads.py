"""The road network: nodes and noded segments (one edge of the routing graph each), for pgRouting."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Double, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, geography_index, geometry, geometry_checks, identity_pk, sql_in

ROAD_CLASSES = (
    "expressway",
    "national",
    "provincial",
    "county",
    "township",
    "village",
    "urban",
    "other",
)


class RoadNode(Base):
    """A junction or dead end: where segments meet; villages and facilities snap to these."""

    __tablename__ = "road_nodes"
    __table_args__ = (*geometry_checks(), geography_index("road_nodes"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    geom: Mapped[Any] = geometry("POINT")


class RoadSegment(Base):
    """A road piece between two nodes; `cost` (metres, both directions) is what pgRouting minimises."""

    __tablename__ = "road_segments"
    __table_args__ = (
        *geometry_checks(),
        CheckConstraint(sql_in("class", ROAD_CLASSES), name="class_known"),
        CheckConstraint("length_m > 0 AND cost >= 0", name="length_positive"),
        CheckConstraint("source <> target", name="not_a_loop"),
    )

    id: Mapped[int] = identity_pk()
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    road_class: Mapped[str] = mapped_column("class", Text)
    length_m: Mapped[float] = mapped_column(Double)
    source: Mapped[int] = mapped_column(ForeignKey("road_nodes.id"), index=True)
    target: Mapped[int] = mapped_column(ForeignKey("road_nodes.id"), index=True)
    cost: Mapped[float] = mapped_column(Double)
    geom: Mapped[Any] = geometry("LINESTRING")
