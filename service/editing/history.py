"""The history of edited features: one row per version (who, when, how, the feature before and after),
appended in the edit's transaction; the table is append-only (migration 0008).

Version numbers: a history row carries the version the feature had after the operation; a deletion
takes the next number and a restore the one after it, so no number ever names two contents.

A feature created by an import has a `create` row without its after-state (D102): that state is the
stored feature until its next version, whose history row holds it as its before-state. Reading a
history fills it in from there.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select, text

from service.accounts import audit
from service.editing import fields
from service.errors import Conflict, NotFound
from service.features import catalogue
from service.features.params import feature_query
from service.features.query import feature_json, feature_source


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
            if row.after is not None:
                return dict(row.after)
            if row.operation != "create":
                raise Conflict(
                    f"version {version} of feature {feature_id} is its deletion; restore an earlier one"
                )
            # an imported creation: its after-state is the next version's before-state, or the stored row
            if len(rows) == 1:
                stored = _stored_at(conn, layer_name, feature_id, version)
                if stored is not None:
                    return stored
    for row in rows:
        if row.before is not None and (row.before.get("properties") or {}).get("version") == version:
            return dict(row.before)
    raise NotFound(f"feature {feature_id} of {layer_name} has no version {version} in its history")


def _stored_at(conn: Connection, layer_name: str, feature_id: int, version: int) -> dict[str, Any] | None:
    """The stored feature as the API serves it, when it is at `version`."""
    described = catalogue.layer(layer_name)
    q = feature_query(described, {})
    stmt = select(feature_json(q)).select_from(feature_source(q)).where(described.id_column == feature_id)
    raw = conn.execute(stmt).scalar_one_or_none()
    if raw is None:
        return None
    feature = dict(json.loads(raw))
    return feature if (feature.get("properties") or {}).get("version") == version else None


def _filled(conn: Connection, layer_name: str, feature_id: int, rows: list[Any]) -> list[Any]:
    """Each row's after-state, an imported creation's read from the next version or the stored row
    (`rows` newest first)."""
    afters: list[Any] = []
    for i, r in enumerate(rows):
        after = r.after
        if after is None and r.operation == "create":
            later = rows[i - 1] if i > 0 else None
            if later is not None and later.before is not None:
                if (later.before.get("properties") or {}).get("version") == r.version:
                    after = later.before
            elif later is None:
                after = _stored_at(conn, layer_name, feature_id, r.version)
        afters.append(after)
    return afters


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
    afters = _filled(conn, layer_name, feature_id, list(rows))
    return [
        {
            "version": r.version,
            "operation": r.operation,
            "at": r.at.isoformat(),
            "user": r.user_name,
            "request_id": r.request_id,
            "before": r.before,
            "after": after,
        }
        for r, after in zip(rows, afters, strict=True)
    ]
