"""chain_links' source index covers the out-degree window: (source_layer, source_id, stream) with the
link's id and target as included columns.

The full chain computation reads every link in source order to count each source's links of a
stream (D119). With the stream in the key and the other columns it reads included, that is an index-only
scan already grouped for the window: no visit to the table (451 MB of lines on national data) and no
sort by stream inside each source (D121). Lookups by source, which the old index served, it serves too.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_chain_links_source", table_name="chain_links")
    op.create_index(
        "ix_chain_links_source",
        "chain_links",
        ["source_layer", "source_id", "stream"],
        postgresql_include=["id", "target_layer", "target_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_chain_links_source", table_name="chain_links")
    op.create_index("ix_chain_links_source", "chain_links", ["source_layer", "source_id"])
