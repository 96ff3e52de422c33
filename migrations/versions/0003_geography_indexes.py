"""Geography GIST indexes on point layers: geodesic coverage queries (ST_DWithin on geography) use them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LAYERS = (
    "biogas_centers",
    "collection_points",
    "livestock_farms",
    "manure_centers",
    "public_toilets",
    "transfer_stations",
    "treatment_plants",
    "villages",
)


def upgrade() -> None:
    for table in LAYERS:
        op.create_index(
            f"ix_{table}_geog", table, [sa.literal_column("(geom::geography)")], postgresql_using="gist"
        )


def downgrade() -> None:
    for table in LAYERS:
        op.drop_index(f"ix_{table}_geog", table_name=table, postgresql_using="gist")
