"""The history of edited features: one row per version (who, when, how, the feature before and after),
appended in the edit's transaction; the table is append-only (migration 0008).

Version numbers: a history row carries the version the feature had after the operation; a deletion
takes the next number and a restore the one after it, so no number ever names two contents.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, text

from service.accounts import audit
from service.editing import fields
from service.errors import Conflict, NotFound


def append(
    conn: Connection, actor: audit.Actor, layer_name: str, feature_id: int, version: int, operation: str,
    before: Any, after: Any,
) -> None:  # fmt: skip
    """One version of a feature, in the caller's transaction."""
    conn.execute(
        text(
            """INSERT INTO feature_history (layer, feature_id, version, operation, user_id, user_name,
                                            request_id, before, after)
               VALUES (:layer, :id, :version, :operation, :user_id, :user_name, :request_id,
                       CAST(:before AS jsonb), CAST(:after AS jsonb))"""
        ),
        {
            "layer": layer_name,
            "id": feature_id,
            "version": version,
            "operation": operation,
            "user_id": actor.user_id,
            "user_name": actor.user_name,
            "request_id": actor.request_id,
            "before": None if before is None else json.dumps(before, ensure_ascii=False),
            "after": None if after is None else json.dumps(after, ensure_ascii=False),
        },
    )


def last_version(conn: Connection, layer_name: str, feature_id: int) -> int | None:
    found = conn.execute(
        text("SELECT max(version) FROM feature_history WHERE layer = :l AND feature_id = :id"),
        {"l": layer_name, "id": feature_id},
    ).scalar()
    return None if found is None else int(found)


def version_content(conn: Connection, layer_name: str, feature_id: int, version: int) -> dict[str, Any]:
    """The feature as it was at `version`: that version's `after`, or the next one's `before` (a feature
    loaded before editing began has its first versions only as the `before` of a later one)."""
    rows = conn.execute(
        text(
            """SELECT version, operation, after, before FROM feature_history
               WHERE layer = :l AND feature_id = :id AND version IN (:v, :v + 1) ORDER BY version"""
        ),
        {"l": layer_name, "id": feature_id, "v": version},
    ).all()
    for row in rows:
        if row.version == version:
            if row.after is None:
                raise Conflict(
                    f"version {version} of feature {feature_id} is its deletion; restore an earlier one"
                )
            return dict(row.after)
    for row in rows:
        if row.before is not None and (row.before.get("properties") or {}).get("version") == version:
            return dict(row.before)
    raise NotFound(f"feature {feature_id} of {layer_name} has no version {version} in its history")


def _absent(conn: Connection, layer_name: str, feature_id: int) -> bool:
    found = conn.execute(text(f"SELECT 1 FROM {layer_name} WHERE id = :id"), {"id": feature_id}).scalar()
    return found is None


def listing(conn: Connection, layer_name: str, feature_id: int) -> list[dict[str, Any]]:
    """Every recorded version of a feature, newest first; NotFound when there is neither the feature
    nor any history of it."""
    if layer_name not in fields.EDITABLE_LAYERS:
        raise NotFound(f"layer {layer_name!r} cannot be edited")
    rows = conn.execute(
        text(
            """SELECT version, operation, at, user_name, request_id, before, after FROM feature_history
               WHERE layer = :l AND feature_id = :id ORDER BY version DESC"""
        ),
        {"l": layer_name, "id": feature_id},
    ).all()
    if not rows and _absent(conn, layer_name, feature_id):
        raise NotFound(f"no feature {feature_id} in {layer_name}")
    return [
        {
            "version": r.version,
            "operation": r.operation,
            "at": r.at.isoformat(),
            "user": r.user_name,
            "request_id": r.request_id,
            "before": r.before,
            "after": r.after,
        }
        for r in rows
    ]
