"""Inspection records and their photos.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LAYERS = (
    "collection_points", "transfer_stations", "treatment_plants", "manure_centers", "biogas_centers",
    "livestock_farms", "public_toilets",
)  # fmt: skip
OUTCOMES = ("ok", "defects", "out_of_service")
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "inspections",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("layer", sa.Text(), nullable=False),
        sa.Column("feature_id", sa.BigInteger(), nullable=False),
        sa.Column("town_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("checklist", postgresql.JSONB(), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("accuracy_m", sa.Numeric(10, 1), nullable=True),
        sa.Column("distance_m", sa.Numeric(12, 1), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("outage", postgresql.JSONB(), nullable=True),
        sa.Column(
            "position",
            geoalchemy2.types.Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=True,
        ),
        sa.CheckConstraint(_in("layer", LAYERS), name=op.f("ck_inspections_layer_known")),
        sa.CheckConstraint(_in("outcome", OUTCOMES), name=op.f("ck_inspections_outcome_known")),
        sa.CheckConstraint("length(notes) <= 4000", name=op.f("ck_inspections_notes_length")),
        sa.CheckConstraint(
            "accuracy_m IS NULL OR accuracy_m >= 0", name=op.f("ck_inspections_accuracy_not_negative")
        ),
        sa.CheckConstraint(
            "distance_m IS NULL OR distance_m >= 0", name=op.f("ck_inspections_distance_not_negative")
        ),
        sa.ForeignKeyConstraint(["town_id"], ["towns.id"], name=op.f("fk_inspections_town_id")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_inspections_user_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint("user_id", "idempotency_key", name=op.f("uq_inspections_user_id")),
    )
    op.create_index("ix_inspections_facility", "inspections", ["layer", "feature_id", "inspected_at"])
    op.create_index(op.f("ix_inspections_town_id"), "inspections", ["town_id"])
    op.create_index(op.f("ix_inspections_user_id"), "inspections", ["user_id"])
    op.create_index(
        "idx_inspections_position", "inspections", ["position"], postgresql_using="gist"
    )
    op.create_table(
        "inspection_photos",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("inspection_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.SmallInteger(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(_in("content_type", PHOTO_TYPES), name=op.f("ck_inspection_photos_type_known")),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_inspection_photos_not_empty")),
        sa.ForeignKeyConstraint(
            ["inspection_id"], ["inspections.id"], name=op.f("fk_inspection_photos_inspection_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_photos")),
        sa.UniqueConstraint("inspection_id", "number", name=op.f("uq_inspection_photos_inspection_id")),
    )
    op.create_index(
        op.f("ix_inspection_photos_inspection_id"), "inspection_photos", ["inspection_id"]
    )


def downgrade() -> None:
    op.drop_table("inspection_photos")
    op.drop_table("inspections")
