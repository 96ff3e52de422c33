"""Chain links: which source feeds which downstream facility, per stream.

A link has exactly one source column and one target column set (an "exclusive arc"), so every
endpoint is a real foreign key. `source_layer`/`source_id` and `target_layer`/`target_id` are
derived by the database for querying; `geom` (source → target line) is set by a trigger.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Computed, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, Timestamped, Versioned, geometry, identity_pk, sql_in
from service.vocabulary import STREAMS

# column -> layer it points at. Order matters only for readability.
SOURCE_COLUMNS = {
    "source_village_id": "villages",
    "source_farm_id": "livestock_farms",
    "source_collection_point_id": "collection_points",
    "source_transfer_station_id": "transfer_stations",
    "source_manure_center_id": "manure_centers",
}
TARGET_COLUMNS = {
    "target_collection_point_id": "collection_points",
    "target_transfer_station_id": "transfer_stations",
    "target_treatment_plant_id": "treatment_plants",
    "target_manure_center_id": "manure_centers",
    "target_biogas_center_id": "biogas_centers",
}


def _layer_case(columns: dict[str, str]) -> str:
    whens = " ".join(f"WHEN {col} IS NOT NULL THEN '{layer}'" for col, layer in columns.items())
    return f"CASE {whens} END"


def _coalesce(columns: dict[str, str]) -> str:
    return "COALESCE(" + ", ".join(columns) + ")"


class ChainLink(Timestamped, Versioned, Base):
    __tablename__ = "chain_links"
    __table_args__ = (
        CheckConstraint(sql_in("stream", STREAMS), name="stream_known"),
        CheckConstraint(f"num_nonnulls({', '.join(SOURCE_COLUMNS)}) = 1", name="one_source"),
        CheckConstraint(f"num_nonnulls({', '.join(TARGET_COLUMNS)}) = 1", name="one_target"),
        # a facility never feeds itself (only these layers can be both source and target)
        CheckConstraint(
            "NOT (source_collection_point_id = target_collection_point_id "
            "OR source_transfer_station_id = target_transfer_station_id "
            "OR source_manure_center_id = target_manure_center_id)",
            name="not_self",
        ),
        Index(
            "uq_chain_links_stream_source_target",
            "stream",
            "source_layer",
            "source_id",
            "target_layer",
            "target_id",
            unique=True,
            postgresql_include=["id"],  # covers the full computation's out-degree window (D121)
        ),
        Index("ix_chain_links_target", "target_layer", "target_id"),
        Index("ix_chain_links_source", "source_layer", "source_id"),  # the stored chain's refresh (D113)
    )

    id: Mapped[int] = identity_pk()
    stream: Mapped[str] = mapped_column(Text)

    source_village_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("villages.id"), index=True)
    source_farm_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("livestock_farms.id"), index=True
    )
    source_collection_point_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("collection_points.id"), index=True
    )
    source_transfer_station_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("transfer_stations.id"), index=True
    )
    source_manure_center_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("manure_centers.id"), index=True
    )

    target_collection_point_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("collection_points.id"), index=True
    )
    target_transfer_station_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("transfer_stations.id"), index=True
    )
    target_treatment_plant_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("treatment_plants.id"), index=True
    )
    target_manure_center_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("manure_centers.id"), index=True
    )
    target_biogas_center_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("biogas_centers.id"), index=True
    )

    # Derived; nullable so that a missing endpoint is reported by ck_chain_links_one_source/one_target.
    source_layer: Mapped[str | None] = mapped_column(
        Text, Computed(_layer_case(SOURCE_COLUMNS), persisted=True)
    )
    source_id: Mapped[int | None] = mapped_column(
        BigInteger, Computed(_coalesce(SOURCE_COLUMNS), persisted=True)
    )
    target_layer: Mapped[str | None] = mapped_column(
        Text, Computed(_layer_case(TARGET_COLUMNS), persisted=True)
    )
    target_id: Mapped[int | None] = mapped_column(
        BigInteger, Computed(_coalesce(TARGET_COLUMNS), persisted=True)
    )

    note: Mapped[str | None] = mapped_column(Text)
    geom = geometry("LINESTRING", nullable=True)
