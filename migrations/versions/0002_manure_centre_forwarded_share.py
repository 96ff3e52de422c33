"""Manure centres: share of the inflow forwarded downstream (the rest is treated on site).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "manure_centers",
        sa.Column("forwarded_share", sa.Numeric(precision=4, scale=3), server_default="1", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_manure_centers_forwarded_share_range"), "manure_centers", "forwarded_share BETWEEN 0 AND 1"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_manure_centers_forwarded_share_range"), "manure_centers", type_="check")
    op.drop_column("manure_centers", "forwarded_share")
