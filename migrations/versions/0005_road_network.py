"""Road network (nodes, noded segments) and the pgRouting extension, for distances along roads.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LONLAT = "ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90"
ROAD_CLASSES = ("expressway", "national", "provincial", "county", "township", "village", "urban", "other")


def _geom(kind: str) -> sa.Column:
    return sa.Column(
        "geom",
        Geometry(
            geometry_type=kind, srid=4326, spatial_index=False, from_text="ST_GeomFromEWKT", name="geometry"
        ),
        nullable=False,
    )


def _geom_checks(table: str) -> list[sa.CheckConstraint]:
    return [
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f(f"ck_{table}_geom_valid")),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f(f"ck_{table}_geom_not_empty")),
        sa.CheckConstraint(LONLAT, name=op.f(f"ck_{table}_geom_lonlat_range")),
    ]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
    op.create_geospatial_table(
        "road_nodes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        _geom("POINT"),
        *_geom_checks("road_nodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road_nodes")),
    )
    op.create_geospatial_index(
        "idx_road_nodes_geom",
        "road_nodes",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_road_nodes_geog", "road_nodes", [sa.literal_column("(geom::geography)")], postgresql_using="gist"
    )
    classes = ", ".join(f"'{c}'" for c in ROAD_CLASSES)
    op.create_geospatial_table(
        "road_segments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("class", sa.Text(), nullable=False),
        sa.Column("length_m", sa.Double(), nullable=False),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        _geom("LINESTRING"),
        *_geom_checks("road_segments"),
        sa.CheckConstraint(f"class IN ({classes})", name=op.f("ck_road_segments_class_known")),
        sa.CheckConstraint("length_m > 0 AND cost >= 0", name=op.f("ck_road_segments_length_positive")),
        sa.CheckConstraint("source <> target", name=op.f("ck_road_segments_not_a_loop")),
        sa.ForeignKeyConstraint(["source"], ["road_nodes.id"], name=op.f("fk_road_segments_source")),
        sa.ForeignKeyConstraint(["target"], ["road_nodes.id"], name=op.f("fk_road_segments_target")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road_segments")),
        sa.UniqueConstraint("code", name=op.f("uq_road_segments_code")),
    )
    op.create_geospatial_index(
        "idx_road_segments_geom",
        "road_segments",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_road_segments_source"), "road_segments", ["source"], unique=False)
    op.create_index(op.f("ix_road_segments_target"), "road_segments", ["target"], unique=False)


def downgrade() -> None:
    op.drop_table("road_segments")
    op.drop_table("road_nodes")
    op.execute("DROP EXTENSION IF EXISTS pgrouting")
