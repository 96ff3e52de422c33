"""Accounts: users with a role (optionally limited to one town) and their API tokens (stored hashed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, identity_pk, sql_in
from service.vocabulary import ROLES

# api: a long-lived token for scripts; access: an OAuth2 bearer token from the password flow;
# session: a browser's sign-in, held in an HttpOnly cookie. One table, so one revocation path.
TOKEN_KINDS = ("api", "access", "session")
AUDIT_OUTCOMES = ("ok", "refused", "failed")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint(sql_in("role", ROLES), name="role_known"),
    )

    id: Mapped[int] = identity_pk()
    name: Mapped[str] = mapped_column(Text, unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    # a role limited to one town (a town clerk); NULL: the whole city
    town_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("towns.id"), index=True)
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiToken(Base):
    """A long-lived token for scripts: only its SHA-256 is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("token_hash ~ '^[0-9a-f]{64}$'", name="token_hash_sha256"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint(sql_in("kind", TOKEN_KINDS), name="kind_known"),
    )

    id: Mapped[int] = identity_pk()
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(Text, server_default=text("'api'"))


class AuditEntry(Base):
    """One write, sign-in or refusal: who, when, what, from where. Append-only: a trigger (migration
    0007) refuses UPDATE, DELETE and TRUNCATE. Names are copied, not referenced, so the record stays
    true after a user is renamed or an unknown name tried to sign in."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("length(btrim(action)) > 0", name="action_not_blank"),
        CheckConstraint(sql_in("outcome", AUDIT_OUTCOMES), name="outcome_known"),
        Index("ix_audit_log_user_name_at", "user_name", "at"),
        Index("ix_audit_log_address_at", "address", "at"),
        Index("ix_audit_log_layer_at", "layer", "at"),
    )

    id: Mapped[int] = identity_pk()
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp(), index=True
    )
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    user_name: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text, server_default=text("'ok'"))
    route: Mapped[str | None] = mapped_column(Text)
    layer: Mapped[str | None] = mapped_column(Text)
    target_id: Mapped[str | None] = mapped_column(Text)
    before: Mapped[Any | None] = mapped_column(JSONB)
    after: Mapped[Any | None] = mapped_column(JSONB)
    detail: Mapped[Any | None] = mapped_column(JSONB)
    address: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
