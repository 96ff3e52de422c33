"""chain_links' unique index on (stream, source, target) also holds the link's id, so it covers the
out-degree window.

The full chain computation reads every link grouped by stream and source to count each source's links
(D119). With the id included, the unique index holds every column that read needs: an index-only scan,
already in the window's order, with no visit to the table (451 MB of lines on national data) and no
sort (D121). Its keys, and so what it keeps unique and the conflicts it answers, are unchanged.

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

NAME = "uq_chain_links_stream_source_target"
KEYS = ["stream", "source_layer", "source_id", "target_layer", "target_id"]


def upgrade() -> None:
    op.drop_index(NAME, table_name="chain_links")
    op.create_index(NAME, "chain_links", KEYS, unique=True, postgresql_include=["id"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="chain_links")
    op.create_index(NAME, "chain_links", KEYS, unique=True)
