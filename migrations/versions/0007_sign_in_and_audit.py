"""Sign-in: token kinds (API tokens, OAuth2 access tokens, browser sessions) and the append-only audit log.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKEN_KINDS = ("api", "access", "session")

# The audit log only grows: the database itself refuses to change or remove a row, whoever asks
# (a trigger binds every role, the table's owner included; only dropping the trigger would lift it).
REFUSE_CHANGES = """
CREATE FUNCTION sanichain_audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION sanichain_audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION sanichain_audit_log_is_append_only();
"""


def upgrade() -> None:
    kinds = ", ".join(f"'{kind}'" for kind in TOKEN_KINDS)
    op.add_column("api_tokens", sa.Column("kind", sa.Text(), server_default="api", nullable=False))
    op.create_check_constraint(op.f("ck_api_tokens_kind_known"), "api_tokens", f"kind IN ({kinds})")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("user_name", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), server_default="ok", nullable=False),
        sa.Column("route", sa.Text(), nullable=True),
        sa.Column("layer", sa.Text(), nullable=True),
        sa.Column("target_id", sa.Text(), nullable=True),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        sa.Column("detail", postgresql.JSONB(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.CheckConstraint("length(btrim(action)) > 0", name=op.f("ck_audit_log_action_not_blank")),
        sa.CheckConstraint("outcome IN ('ok', 'refused', 'failed')", name=op.f("ck_audit_log_outcome_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(op.f("ix_audit_log_user_name_at"), "audit_log", ["user_name", "at"], unique=False)
    op.create_index(op.f("ix_audit_log_address_at"), "audit_log", ["address", "at"], unique=False)
    op.create_index(op.f("ix_audit_log_layer_at"), "audit_log", ["layer", "at"], unique=False)
    op.execute(REFUSE_CHANGES)


def downgrade() -> None:
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION sanichain_audit_log_is_append_only()")
    op.drop_column("api_tokens", "kind")  # its check constraint goes with it
