"""Editing: a version on every editable layer (raised by the database on each real change) and the
append-only history of every edited feature.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The editable layers (service.editing.fields.EDITABLE_LAYERS when this was written), each with its
# generated columns: BEFORE triggers see those unset, and they follow from the others anyway.
GENERATED = {
    "towns": (),
    "villages": (),
    "collection_points": (),
    "transfer_stations": ("station_class",),
    "treatment_plants": (),
    "manure_centers": (),
    "biogas_centers": (),
    "livestock_farms": ("head_count_basis", "is_large_scale", "has_manure_facility"),
    "public_toilets": (),
    "chain_links": ("source_layer", "source_id", "target_layer", "target_id"),
}
OPERATIONS = ("create", "update", "delete", "restore")

# The version moves only when what the row holds changes: an UPDATE that writes the same values (a
# reload of unchanged data, a recompute) keeps it, so a client's If-Match stays good. updated_at is
# left out (its own trigger touches it on every UPDATE), and so is the version itself, which no
# writer sets: whatever an UPDATE puts there is replaced. The trigger's name sorts after the other
# BEFORE UPDATE triggers (PostgreSQL fires them by name), so a chain link's redrawn line counts.
BUMP_VERSION = """
CREATE FUNCTION sanichain_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'version' - 'updated_at' - coalesce(TG_ARGV, '{}')) IS DISTINCT FROM
       (to_jsonb(OLD) - 'version' - 'updated_at' - coalesce(TG_ARGV, '{}')) THEN
        NEW.version := OLD.version + 1;
    ELSE
        NEW.version := OLD.version;
    END IF;
    RETURN NEW;
END $$;
"""

REFUSE_CHANGES = """
CREATE FUNCTION sanichain_feature_history_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'feature_history is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER feature_history_no_update_or_delete BEFORE UPDATE OR DELETE ON feature_history
    FOR EACH ROW EXECUTE FUNCTION sanichain_feature_history_is_append_only();
CREATE TRIGGER feature_history_no_truncate BEFORE TRUNCATE ON feature_history
    FOR EACH STATEMENT EXECUTE FUNCTION sanichain_feature_history_is_append_only();
"""


def upgrade() -> None:
    op.execute(BUMP_VERSION)
    for table, generated in GENERATED.items():
        op.add_column(table, sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        args = ", ".join(f"'{column}'" for column in generated)
        op.execute(
            f"CREATE TRIGGER {table}_version BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION sanichain_bump_version({args})"
        )
    operations = ", ".join(f"'{o}'" for o in OPERATIONS)
    op.create_table(
        "feature_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("layer", sa.Text(), nullable=False),
        sa.Column("feature_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("user_name", sa.Text(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        sa.CheckConstraint(f"operation IN ({operations})", name=op.f("ck_feature_history_operation_known")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_feature_history_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_history")),
        sa.UniqueConstraint("layer", "feature_id", "version", name="uq_feature_history_layer_feature_version"),
    )
    op.execute(REFUSE_CHANGES)


def downgrade() -> None:
    op.drop_table("feature_history")
    op.execute("DROP FUNCTION sanichain_feature_history_is_append_only()")
    for table in GENERATED:
        op.execute(f"DROP TRIGGER {table}_version ON {table}")
        op.drop_column(table, "version")
    op.execute("DROP FUNCTION sanichain_bump_version()")
