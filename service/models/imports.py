"""Import jobs of the API: one row per upload (and per confirmation of a dry run), with its progress,
its report and its rejected rows, so that any worker process can answer for any job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, identity_pk, sql_in

IMPORT_STATUSES = ("queued", "running", "done", "failed")


class ImportJob(Base):
    """An import through the API. `confirms` names the dry run a real import confirms (at most one
    confirmation per dry run: the unique index is the compare-and-set). `upload_path` is the kept file
    of a dry run until it is confirmed or expires; `fingerprint` is the layer's state when the dry run
    began, compared again on confirmation."""

    __tablename__ = "imports"
    __table_args__ = (
        CheckConstraint(sql_in("status", IMPORT_STATUSES), name="status_known"),
        CheckConstraint("rows >= 0", name="rows_not_negative"),
        CheckConstraint("size_bytes >= 0", name="size_not_negative"),
    )

    id: Mapped[int] = identity_pk()
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), index=True)
    user_name: Mapped[str] = mapped_column(Text)
    layer: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(Text, server_default=text("'queued'"))
    stage: Mapped[str | None] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    bytes_read: Mapped[int | None] = mapped_column(BigInteger)
    total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    report: Mapped[Any | None] = mapped_column(JSONB)
    rejected_csv: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[Any | None] = mapped_column(JSONB)
    upload_path: Mapped[str | None] = mapped_column(Text)
    fingerprint: Mapped[str | None] = mapped_column(Text)
    confirms: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("imports.id", ondelete="SET NULL"), unique=True
    )
    request_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
