"""Autogenerate-style comparison of the live schema with the models ("no drift")."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers

from service.db import make_engine
from service.models import Base


def _include_object(obj: Any, name: str | None, obj_type: str, reflected: bool, compare_to: Any) -> bool:
    if obj_type == "table" and reflected and compare_to is None and name not in Base.metadata.tables:
        return False  # PostGIS's spatial_ref_sys, alembic_version...
    return bool(alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to))


def schema_drift(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"include_object": _include_object, "compare_type": True}
            )
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()
