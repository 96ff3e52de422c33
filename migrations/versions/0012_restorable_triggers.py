"""Triggers a restore can recreate: compare geometries as bytes.

pg_restore recreates triggers with an empty search_path, where `geometry = geometry` (PostGIS's
operator, in public) is ambiguous, so the `*_refresh_links` triggers of 0001 could not be restored.
Comparing the EWKB bytes says the same ("the position changed") with pg_catalog's bytea operator.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BY_VALUE = "(old.geom IS DISTINCT FROM new.geom)"
BY_BYTES = "((old.geom)::bytea IS DISTINCT FROM (new.geom)::bytea)"


def _rewrite(old: str, new: str) -> None:
    bind = op.get_bind()
    triggers = bind.execute(
        text(
            """SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t
               JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE '%\\_refresh\\_links' ORDER BY 1"""
        )
    ).all()
    for name, table, definition in triggers:
        assert old in definition, definition
        op.execute(f'DROP TRIGGER "{name}" ON "{table}"')
        op.execute(definition.replace(old, new))


def upgrade() -> None:
    _rewrite(BY_VALUE, BY_BYTES)


def downgrade() -> None:
    _rewrite(BY_BYTES, BY_VALUE)
