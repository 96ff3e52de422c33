"""Writes of features: create, replace, update (JSON Merge Patch), delete and restore, each all or nothing.

Every write runs in the caller's transaction and does, in order: read the stored feature, validate the
new one (`validation.validate`, with the stored one as `current`), check a town-limited principal
against the feature's town before the write, write with a compare-and-set on the version
(`… WHERE id = :id AND version = ANY(:expected)`: no row → stale if the feature still exists), derive
the town in SQL from the new position, check the principal against that town too, and append the
history row and the audit entry. Any refusal raises, and the caller's transaction takes everything
back. `run` wraps a list of operations in a transaction of its own, rolled back for a dry run.

The version is raised by the database (migration 0008) whenever a row really changes; history rows
carry the version a feature had after the operation (a deletion takes the next number, a restore the
one after it), so a version number never means two different contents.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, NoReturn

from sqlalchemy import Connection, Engine, Table, select, text
from sqlalchemy.exc import DBAPIError

from service.accounts import audit, permissions
from service.accounts.tokens import Principal
from service.chain import stored
from service.editing import consequences, fields, history, validation
from service.editing.validation import FieldError, ValidationFailed
from service.errors import (
    BadParameter,
    Conflict,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    SanichainError,
    UnsupportedMedia,
)
from service.features import catalogue
from service.features.params import feature_query
from service.features.query import feature_json, feature_source
from service.models import LAYERS, Base

OperationKind = Literal["create", "replace", "update", "delete", "restore"]
OPERATIONS: tuple[str, ...] = ("create", "replace", "update", "delete", "restore")
# What a request body may be: a GeoJSON Feature, or for an update its JSON Merge Patch (RFC 7396).
FEATURE_MEDIA = ("application/geo+json", "application/json")
PATCH_MEDIA = ("application/merge-patch+json", *FEATURE_MEDIA)
# what the validator hands over: JSON scalars, and the Decimal and dates it converted them to
SCALARS = (str, int, float, bool, Decimal, date, datetime, type(None))
# PostgreSQL error classes a write can meet that say "this value does not fit", not "a bug"
_VALUE_ERRORS = {"23502", "23514", "42804", "22P02", "22003", "22007", "22008", "22023", "22001"}


@dataclass(frozen=True)
class Operation:
    """One write. `expected`: the versions an If-Match names (None: it named none); `version`: the
    version a restore brings back."""

    op: OperationKind
    layer: str
    feature_id: int | None = None
    feature: dict[str, Any] | None = None
    expected: tuple[int, ...] | None = None
    version: int | None = None
    accept_outside: bool = False


@dataclass(frozen=True)
class Written:
    layer: str
    feature_id: int
    version: int | None  # None once deleted
    feature: dict[str, Any] | None  # the stored feature as GeoJSON; None once deleted
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    written: list[Written]
    dry_run: bool
    consequences: dict[str, Any] | None = None  # only for a dry run, when the module is there


# -- request bodies ----------------------------------------------------------------------------------


def parse_body(raw: bytes, content_type: str | None, accepted: Sequence[str]) -> dict[str, Any]:
    """The JSON object of a request body; 415 for another media type, 400 for anything but an object."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in accepted:
        raise UnsupportedMedia(
            f"Content-Type: send {' or '.join(accepted)}, got {media or 'none'}", accepted=list(accepted)
        )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadParameter("body", f"not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise BadParameter("body", "must be a JSON object (a GeoJSON Feature)")
    return body


def check_feature(body: dict[str, Any], *, patch: bool = False) -> None:
    """The frame of a Feature (or of its merge patch); its contents are the validator's."""
    if body.get("type", "Feature" if patch else None) != "Feature":
        raise BadParameter("type", "must be 'Feature'")
    if patch and not ({"properties", "geometry"} & set(body)):
        raise BadParameter("body", "a patch changes `properties` or `geometry`; this one changes nothing")
    if "properties" in body and body["properties"] is not None and not isinstance(body["properties"], dict):
        raise BadParameter("properties", "must be an object")
    if patch and "geometry" in body and body["geometry"] is None:
        raise BadParameter("geometry", "cannot be removed (a feature has a position)")


def parse_if_match(header: str | None) -> tuple[int, ...] | None:
    """The versions an If-Match header names (`"3"`, or a list); None without one. `*` names none."""
    if header is None:
        return None
    versions = []
    for tag in (t.strip() for t in header.split(",")):
        if tag == "*":
            raise PreconditionRequired(
                "If-Match: `*` names no version; send the ETag of the feature as you read it"
            )
        inner = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else ""
        if not (inner.isascii() and inner.isdigit()) or len(inner) > 9:
            raise BadParameter("If-Match", f'not an ETag of this service ({tag!r}); e.g. "3"')
        versions.append(int(inner))
    return tuple(versions)


def etag(version: int) -> str:
    return f'"{version}"'


# -- reading -----------------------------------------------------------------------------------------


def editable(layer_name: str) -> catalogue.Layer:
    found = catalogue.layer(layer_name)  # UnknownLayer (404) for a name that is not a layer
    if layer_name not in fields.EDITABLE_LAYERS:
        raise NotFound(f"layer {layer_name!r} cannot be edited")
    return found


def read(conn: Connection, layer_name: str, feature_id: int) -> dict[str, Any] | None:
    """The stored feature as the API serves it (GeoJSON, CRS84), read in `conn`'s transaction."""
    found = catalogue.layer(layer_name)
    q = feature_query(found, {})
    stmt = select(feature_json(q)).select_from(feature_source(q)).where(found.id_column == feature_id)
    raw = conn.execute(stmt).scalar_one_or_none()
    return None if raw is None else dict(json.loads(raw))


def _table(layer_name: str) -> Table:
    table = LAYERS[layer_name].__table__
    assert isinstance(table, Table)
    return table


def _town_code(conn: Connection, layer_name: str, feature: dict[str, Any] | None) -> list[str | None]:
    """The towns a feature lies in, as the database derived them (never as the request said)."""
    if feature is None:
        return []
    props = feature.get("properties") or {}
    if layer_name == "towns":
        return [props.get("code")]
    if layer_name == "chain_links":  # a link belongs to the towns of both its ends
        ends = []
        for side in ("source", "target"):
            end_layer, end_id = props.get(f"{side}_layer"), props.get(f"{side}_id")
            end = read(conn, end_layer, end_id) if end_layer in LAYERS and end_id is not None else None
            ends.extend(_town_code(conn, str(end_layer), end) or [None])
        return ends
    return [props.get("town_code")]


def _check_towns(conn: Connection, principal: Principal | None, layer_name: str, feature: Any) -> None:
    if principal is None or principal.town is None:
        return
    for code in _town_code(conn, layer_name, feature):
        permissions.check_town(principal, code)


def _town_at(conn: Connection, geom_ewkt: str) -> int | None:
    """The town whose outline covers the point (the lowest id where outlines overlap)."""
    found = conn.execute(
        text("SELECT t.id FROM towns t WHERE ST_Covers(t.geom, ST_GeomFromEWKT(:g)) ORDER BY t.id LIMIT 1"),
        {"g": geom_ewkt},
    ).scalar()
    return None if found is None else int(found)


# -- writing -----------------------------------------------------------------------------------------


def _assignments(layer_name: str, values: dict[str, Any], reset_others: bool) -> tuple[list[str], dict]:
    """SET/VALUES pieces for the validator's values: `col = :p_col`, the geometry from EWKT. A replace
    sets every writable column it does not give back to its default."""
    table = _table(layer_name)
    pieces, params = [], {}
    for name, value in values.items():
        if name == "geom_ewkt":
            continue
        if name not in table.c or name in fields.DERIVED:
            raise ValidationFailed([FieldError(f"properties.{name}", "not a property of this layer")])
        if not isinstance(value, SCALARS):
            raise ValidationFailed([FieldError(f"properties.{name}", "must be a string, number or boolean")])
        pieces.append(f'"{name}" = :p_{name}')
        params[f"p_{name}"] = value
    if reset_others:
        for name in fields.writable(layer_name):
            if name not in values and name in table.c:
                pieces.append(f'"{name}" = DEFAULT')
    if "geom_ewkt" in values:
        pieces.append("geom = ST_GeomFromEWKT(:geom_ewkt)")
        params["geom_ewkt"] = values["geom_ewkt"]
    return pieces, params


def _town_assignment(conn: Connection, layer_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """town_id from the new position, for layers that have one (and only when the position is given)."""
    if "town_id" not in _table(layer_name).c or "geom_ewkt" not in values:
        return {}
    town_id = _town_at(conn, values["geom_ewkt"])
    required = not _table(layer_name).c.town_id.nullable
    if town_id is None and required:
        raise ValidationFailed([FieldError("geometry", "lies in no town of the city")])
    return {"town_id": town_id}


def _insert(
    conn: Connection, layer_name: str, values: dict[str, Any], feature_id: int | None, version: int
) -> int:
    pieces, params = _assignments(layer_name, values, reset_others=False)
    columns = [p.split(" = ", 1)[0] for p in pieces]
    exprs = [p.split(" = ", 1)[1] for p in pieces]
    for name, value in _town_assignment(conn, layer_name, values).items():
        columns.append(name)
        exprs.append(f":d_{name}")
        params[f"d_{name}"] = value
    columns.append("version")
    exprs.append(":version")
    params["version"] = version
    if feature_id is not None:  # an undelete keeps the feature's id
        columns.append("id")
        exprs.append(":id")
        params["id"] = feature_id
    sql = f"INSERT INTO {layer_name} ({', '.join(columns)}) VALUES ({', '.join(exprs)}) RETURNING id"
    return int(conn.execute(text(sql), params).scalar_one())


def _update(
    conn: Connection,
    layer_name: str,
    feature_id: int,
    values: dict[str, Any],
    expected: tuple[int, ...],
    reset_others: bool,
) -> int:
    """Compare-and-set: the row is written only while its version is one of `expected`."""
    pieces, params = _assignments(layer_name, values, reset_others)
    for name, value in _town_assignment(conn, layer_name, values).items():
        pieces.append(f"{name} = :d_{name}")
        params[f"d_{name}"] = value
    if not pieces:
        pieces = ["version = version"]  # nothing to change: the compare still decides
    sql = (
        f"UPDATE {layer_name} SET {', '.join(pieces)} "
        "WHERE id = :id AND version = ANY(:expected) RETURNING version"
    )
    found = conn.execute(text(sql), {**params, "id": feature_id, "expected": list(expected)}).scalar()
    if found is None:
        _stale_or_missing(conn, layer_name, feature_id, expected)
    return int(found)


def _stale_or_missing(
    conn: Connection, layer_name: str, feature_id: int, expected: tuple[int, ...]
) -> NoReturn:
    stored = conn.execute(
        text(f"SELECT version FROM {layer_name} WHERE id = :id"), {"id": feature_id}
    ).scalar()
    if stored is None:
        raise NotFound(f"no feature {feature_id} in {layer_name}")
    raise PreconditionFailed(
        f"feature {feature_id} of {layer_name} is at version {stored}, not "
        f"{' or '.join(map(str, expected))}: it changed since it was read; read it again",
        current_version=int(stored),
    )


def _references(conn: Connection, layer_name: str, feature_id: int) -> list[dict[str, Any]]:
    """The rows that point at this feature through a foreign key, by table (at most 5 ids each)."""
    target = _table(layer_name)
    found = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_key_constraints:
            if fk.referred_table is not target:
                continue
            own = [c.name for c in fk.columns]
            referred = [e.column.name for e in fk.elements]
            if "id" not in referred:
                continue
            column = own[referred.index("id")]
            ids = (
                conn.execute(
                    text(f'SELECT id FROM {table.name} WHERE "{column}" = :id ORDER BY id LIMIT 6'),
                    {"id": feature_id},
                )
                .scalars()
                .all()
            )
            if ids:
                count = conn.execute(
                    text(f'SELECT count(*) FROM {table.name} WHERE "{column}" = :id'), {"id": feature_id}
                ).scalar_one()
                found.append({"layer": table.name, "column": column, "count": count, "ids": list(ids[:5])})
    return found


def _writable_feature(layer_name: str, stored: dict[str, Any]) -> dict[str, Any]:
    """A stored (served) feature as a client would send it: without what the database derives."""
    hidden = fields.read_only(layer_name)
    properties = {k: v for k, v in (stored.get("properties") or {}).items() if k not in hidden}
    return {"type": "Feature", "geometry": stored.get("geometry"), "properties": properties}


def _require_expected(operation: Operation) -> tuple[int, ...]:
    if operation.expected is None:
        raise PreconditionRequired(
            "If-Match required: send the ETag of the feature as you read it (GET answers it), "
            "so that a change made since is not overwritten"
        )
    return operation.expected


def _db_refusal(exc: DBAPIError, operation: Operation) -> SanichainError | None:
    """A database refusal of the written values, said as the domain's error (None: not one of those)."""
    code = getattr(exc.orig, "pgcode", None)
    diag = getattr(exc.orig, "diag", None)
    message = (getattr(diag, "message_primary", None) or str(exc.orig)).strip()
    constraint = getattr(diag, "constraint_name", None)
    where = f" ({constraint})" if constraint else ""
    if code == "23505":
        return Conflict(f"{message}{where}: a value that must be unique is taken")
    if code == "23503":
        if operation.op == "delete":
            return Conflict(f"feature {operation.feature_id} of {operation.layer} is still referenced{where}")
        return ValidationFailed([FieldError("properties", f"{message}{where}")])
    if code in _VALUE_ERRORS or (code or "").startswith("22"):
        return ValidationFailed([FieldError("properties", f"{message}{where}")])
    return None


# -- the operations ----------------------------------------------------------------------------------


def apply_one(
    conn: Connection, operation: Operation, actor: audit.Actor, principal: Principal | None = None
) -> Written:
    """One write in the caller's transaction (see the module's docstring); raises on any refusal."""
    editable(operation.layer)
    if operation.op not in OPERATIONS:
        raise BadParameter("op", f"must be one of {', '.join(OPERATIONS)}")
    try:
        with conn.begin_nested():  # a refused statement is answered, and the transaction stays usable
            return _apply(conn, operation, actor, principal)
    except DBAPIError as exc:
        refusal = _db_refusal(exc, operation)
        if refusal is None:
            raise
        raise refusal from exc


def _apply(
    conn: Connection, operation: Operation, actor: audit.Actor, principal: Principal | None
) -> Written:
    layer_name, op = operation.layer, operation.op
    if op == "create":
        return _create(conn, operation, actor, principal)
    if operation.feature_id is None:
        raise BadParameter("id", f"a {op} names the feature's id")
    feature_id = operation.feature_id
    before = read(conn, layer_name, feature_id)
    if op == "restore":
        return _restore(conn, operation, actor, principal, before)
    if before is None:
        raise NotFound(f"no feature {feature_id} in {layer_name}")
    expected = _require_expected(operation)
    if before["properties"]["version"] not in expected:
        _stale_or_missing(conn, layer_name, feature_id, expected)
    _check_towns(conn, principal, layer_name, before)
    if op == "delete":
        return _delete(conn, operation, actor, before, expected)
    body = operation.feature or {}
    mode: validation.Mode = "patch" if op == "update" else "replace"
    prepared = validation.validate(
        conn,
        layer_name,
        body,
        mode=mode,
        current=before["properties"],
        accept_outside=operation.accept_outside,
    )
    version = _update(conn, layer_name, feature_id, prepared.values, expected, reset_others=op == "replace")
    after = read(conn, layer_name, feature_id)
    _check_towns(conn, principal, layer_name, after)
    _record(conn, actor, layer_name, feature_id, version, "update", before, after, f"feature.{op}")
    return Written(layer_name, feature_id, version, after, prepared.warnings)


def _create(
    conn: Connection, operation: Operation, actor: audit.Actor, principal: Principal | None
) -> Written:
    layer_name = operation.layer
    prepared = validation.validate(
        conn, layer_name, operation.feature or {}, mode="create", accept_outside=operation.accept_outside
    )
    feature_id = _insert(conn, layer_name, prepared.values, None, 1)
    after = read(conn, layer_name, feature_id)
    _check_towns(conn, principal, layer_name, after)
    _record(conn, actor, layer_name, feature_id, 1, "create", None, after, "feature.create")
    return Written(layer_name, feature_id, 1, after, prepared.warnings)


def _delete(
    conn: Connection,
    operation: Operation,
    actor: audit.Actor,
    before: dict[str, Any],
    expected: tuple[int, ...],
) -> Written:
    layer_name, feature_id = operation.layer, int(operation.feature_id or 0)
    referenced = _references(conn, layer_name, feature_id)
    if referenced:
        named = ", ".join(
            f"{r['count']} in {r['layer']} (ids {', '.join(map(str, r['ids']))})" for r in referenced
        )
        raise Conflict(
            f"feature {feature_id} of {layer_name} is referenced: {named}; change or delete those first",
            references=referenced,
        )
    deleted = conn.execute(
        text(f"DELETE FROM {layer_name} WHERE id = :id AND version = ANY(:expected) RETURNING version"),
        {"id": feature_id, "expected": list(expected)},
    ).scalar()
    if deleted is None:
        _stale_or_missing(conn, layer_name, feature_id, expected)
    tombstone = max(int(deleted), history.last_version(conn, layer_name, feature_id) or 0) + 1
    _record(conn, actor, layer_name, feature_id, tombstone, "delete", before, None, "feature.delete")
    return Written(layer_name, feature_id, None, None)


def _restore(
    conn: Connection, operation: Operation, actor: audit.Actor, principal: Principal | None, before: Any
) -> Written:
    layer_name, feature_id = operation.layer, int(operation.feature_id or 0)
    if operation.version is None:
        raise BadParameter("version", "a restore names the version to bring back")
    content = _writable_feature(
        layer_name, history.version_content(conn, layer_name, feature_id, operation.version)
    )
    if before is not None:  # the feature exists: replace it, naming the version read
        expected = _require_expected(operation)
        if before["properties"]["version"] not in expected:
            _stale_or_missing(conn, layer_name, feature_id, expected)
        _check_towns(conn, principal, layer_name, before)
        prepared = validation.validate(
            conn, layer_name, content, mode="replace", current=before["properties"], accept_outside=True
        )
        version = _update(conn, layer_name, feature_id, prepared.values, expected, reset_others=True)
    else:  # deleted: back with its id, at the version after its deletion
        prepared = validation.validate(conn, layer_name, content, mode="create", accept_outside=True)
        version = (history.last_version(conn, layer_name, feature_id) or 0) + 1
        _insert(conn, layer_name, prepared.values, feature_id, version)
    after = read(conn, layer_name, feature_id)
    _check_towns(conn, principal, layer_name, after)
    _record(conn, actor, layer_name, feature_id, version, "restore", before, after, "feature.restore",
            restored=operation.version)  # fmt: skip
    return Written(layer_name, feature_id, version, after, prepared.warnings)


def _record(
    conn: Connection, actor: audit.Actor, layer_name: str, feature_id: int, version: int, operation: str,
    before: Any, after: Any, action: str, **detail: Any,
) -> None:  # fmt: skip
    """The history row (when something changed) and the audit entry of one write."""
    unchanged = before is not None and after is not None and before["properties"]["version"] == version
    if not unchanged:
        history.append(conn, actor, layer_name, feature_id, version, operation, before, after)
    audit.record(
        conn, actor, action, layer=layer_name, target_id=feature_id, before=before, after=after,
        detail={"version": version, **({"unchanged": True} if unchanged else {}), **detail},
    )  # fmt: skip


def apply(
    conn: Connection, operations: Sequence[Operation], actor: audit.Actor, principal: Principal | None = None
) -> list[Written]:
    """Several writes in the caller's transaction, in order; the first refusal stops them all."""
    return [apply_one(conn, operation, actor, principal) for operation in operations]


def _touched(operations: Sequence[Operation]) -> list[tuple[str, int]]:
    return [(o.layer, o.feature_id) for o in operations if o.feature_id is not None]


def run(
    engine: Engine,
    operations: Sequence[Operation],
    actor: audit.Actor,
    principal: Principal | None = None,
    *,
    dry_run: bool = False,
) -> Outcome:
    """`apply` in a transaction of its own: committed, or for a dry run rolled back after measuring
    what the edit would do to the chain (`consequences.compare` of the snapshots before and after)."""
    with engine.connect() as conn, conn.begin() as transaction:
        touched = _touched(operations)
        snapshot = consequences.snapshot(conn, touched) if dry_run else None
        written = apply(conn, operations, actor, principal)
        if not dry_run:
            stored.settle(conn)  # the stored chain moves with the edit, in its transaction
            return Outcome(written, dry_run=False)
        result = None
        if snapshot is not None:
            after = consequences.snapshot(conn, touched + [(w.layer, w.feature_id) for w in written])
            result = consequences.compare(snapshot, after)
        transaction.rollback()
        return Outcome(written, dry_run=True, consequences=result)
