"""livestock_farms without its GIST index on geom::geography: no query of the farms probes it.

Coverage finds a facility's farms through the lon/lat index (`idx_livestock_farms_geom`) and tests
the geodesic distance without index support (D114); the road reach's off-road count probes the road
nodes' index with each farm; siting copies the farms into a table with an index of its own. Every
load and bulk import of the farms built it for nothing (D120).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_livestock_farms_geog", table_name="livestock_farms", postgresql_using="gist")


def downgrade() -> None:
    op.create_index(
        "ix_livestock_farms_geog",
        "livestock_farms",
        [sa.literal_column("(geom::geography)")],
        postgresql_using="gist",
    )
