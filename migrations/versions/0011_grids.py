"""Responsibility grids of the built-up area (网格): polygons with their responsible people and units.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LONLAT = "ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90"


def upgrade() -> None:
    op.create_geospatial_table(
        "grids",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("town_id", sa.BigInteger(), nullable=True),
        sa.Column("community_codes", sa.Text(), nullable=True),
        sa.Column("responsible_leader", sa.Text(), nullable=True),
        sa.Column("grid_head_unit", sa.Text(), nullable=True),
        sa.Column("assisting_units", sa.Text(), nullable=True),
        sa.Column("supervisors", sa.Text(), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name=op.f("ck_grids_code_format")),
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_grids_name_not_blank")),
        sa.CheckConstraint(
            "population IS NULL OR population >= 0", name=op.f("ck_grids_population_non_negative")
        ),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_grids_geom_valid")),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f("ck_grids_geom_not_empty")),
        sa.CheckConstraint(LONLAT, name=op.f("ck_grids_geom_lonlat_range")),
        sa.ForeignKeyConstraint(["town_id"], ["towns.id"], name=op.f("fk_grids_town_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
        sa.UniqueConstraint("code", name=op.f("uq_grids_code")),
    )
    op.create_geospatial_index(
        "idx_grids_geom", "grids", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_grids_town_id"), "grids", ["town_id"], unique=False)
    op.execute(
        "CREATE TRIGGER grids_touch_updated_at BEFORE UPDATE ON grids "
        "FOR EACH ROW EXECUTE FUNCTION sanichain_touch_updated_at()"
    )
    op.execute(
        "CREATE TRIGGER grids_version BEFORE UPDATE ON grids FOR EACH ROW EXECUTE FUNCTION sanichain_bump_version()"
    )


def downgrade() -> None:
    op.drop_geospatial_table("grids")
