"""Recording and reading inspections.

A visit arrives as form fields (from the phone's form, possibly hours after it was filled in offline)
with an idempotency key chosen by the device. `record` stores it exactly once per (inspector, key):
a second arrival with the same key answers the first record, whatever happened to the first answer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from service.accounts import audit, permissions
from service.accounts.tokens import Principal
from service.errors import BadParameter, Conflict, NotFound
from service.inspections import checklists, outages
from service.inspections.photos import Photo
from service.vocabulary import FACILITY_LAYERS, INSPECTED_LAYERS, INSPECTION_OUTCOMES

FIELDS = ("layer", "feature_id", "inspected_at", "outcome", "checklist", "notes", "lon", "lat", "accuracy_m")
REQUIRED = ("layer", "feature_id", "inspected_at", "outcome")
MAX_NOTES = 4000
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")
# a phone's clock runs a little ahead; a record kept offline may arrive weeks after the visit
FUTURE_SLACK = timedelta(minutes=10)
OLDEST = timedelta(days=60)
MAX_ACCURACY_M = 100_000
MAX_LIST = 500
NOT_VISITED = ("planned", "closed")  # not (or no longer) there to inspect


@dataclass(frozen=True)
class Visit:
    """A visit as the inspector reported it, checked."""

    layer: str
    feature_id: int
    inspected_at: datetime
    outcome: str
    checklist: dict[str, bool | None]
    notes: str
    position: tuple[float, float] | None  # (lon, lat), WGS 84
    accuracy_m: float | None

    def same_as(self, stored: Mapping[str, Any]) -> bool:
        """Whether a stored record is this visit (a re-send), not another one under a reused key."""
        return (
            stored["layer"] == self.layer
            and int(stored["feature_id"]) == self.feature_id
            and stored["inspected_at"] == self.inspected_at
            and stored["outcome"] == self.outcome
        )


def idempotency_key(value: str | None) -> str:
    if value is None or not value.strip():
        raise BadParameter(
            "Idempotency-Key", "required: a key of the device's choosing, the same on every re-send"
        )
    if not KEY_PATTERN.match(value.strip()):
        raise BadParameter("Idempotency-Key", "8–100 characters of A–Z, a–z, 0–9, '.', '_', ':' or '-'")
    return value.strip()


def _number(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadParameter(name, f"{raw!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadParameter(name, f"{raw} is outside {low:g}…{high:g}")
    return value


def _instant(raw: str, now: datetime) -> datetime:
    try:
        at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(
            "inspected_at", f"{raw!r} is not an ISO 8601 time, e.g. 2026-12-03T09:30:00+08:00"
        ) from None
    if at.tzinfo is None:
        raise BadParameter("inspected_at", f"{raw!r} has no UTC offset (e.g. +08:00)")
    if at > now + FUTURE_SLACK:
        raise BadParameter("inspected_at", f"{raw} is in the future")
    if at < now - OLDEST:
        raise BadParameter("inspected_at", f"{raw} is more than {OLDEST.days} days ago")
    return at


def _checklist(layer: str, raw: str | None) -> dict[str, bool | None]:
    known = checklists.keys(layer)
    if raw is None or not raw.strip():
        return dict.fromkeys(known)
    try:
        given = json.loads(raw)
    except ValueError:
        raise BadParameter("checklist", "is not JSON: an object of item → true, false or null") from None
    if not isinstance(given, dict):
        raise BadParameter("checklist", "must be an object of item → true, false or null")
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise BadParameter("checklist", f"unknown item {unknown[0]!r} for {layer}; items: {', '.join(known)}")
    for key, answer in given.items():
        if answer is not None and not isinstance(answer, bool):
            raise BadParameter("checklist", f"{key}: {answer!r} is not true, false or null")
    return {key: given.get(key) for key in known}


def parse_visit(fields: Mapping[str, str], now: datetime | None = None) -> Visit:
    """The visit the form fields describe, or the first problem found, named by its field."""
    now = now or datetime.now(UTC)
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise BadParameter(unknown[0], f"unknown field; the fields are {', '.join(FIELDS)}")
    for name in REQUIRED:
        if not (fields.get(name) or "").strip():
            raise BadParameter(name, "required")
    layer = fields["layer"].strip()
    if layer not in INSPECTED_LAYERS:
        raise BadParameter("layer", f"{layer!r} is not inspected; one of {', '.join(INSPECTED_LAYERS)}")
    raw_id = fields["feature_id"].strip()
    if not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 18 or int(raw_id) < 1:
        raise BadParameter("feature_id", f"{raw_id!r} is not a feature id (a positive integer)")
    outcome = fields["outcome"].strip()
    if outcome not in INSPECTION_OUTCOMES:
        raise BadParameter("outcome", f"{outcome!r} is not one of {', '.join(INSPECTION_OUTCOMES)}")
    notes = fields.get("notes") or ""
    if len(notes) > MAX_NOTES:
        raise BadParameter("notes", f"{len(notes)} characters; at most {MAX_NOTES}")
    lon, lat = (fields.get(k, "").strip() for k in ("lon", "lat"))
    if bool(lon) != bool(lat):
        raise BadParameter("lon" if not lon else "lat", "required with the other coordinate")
    position = (_number("lon", lon, -180, 180), _number("lat", lat, -90, 90)) if lon else None
    accuracy_raw = (fields.get("accuracy_m") or "").strip()
    accuracy = _number("accuracy_m", accuracy_raw, 0, MAX_ACCURACY_M) if accuracy_raw else None
    if accuracy is not None and position is None:
        raise BadParameter("accuracy_m", "given without a position (lon, lat)")
    return Visit(
        layer, int(raw_id), _instant(fields["inspected_at"], now), outcome,
        _checklist(layer, fields.get("checklist")), notes, position, accuracy,
    )  # fmt: skip


def facility_of(conn: Connection, layer: str, feature_id: int, position: tuple[float, float] | None) -> Any:
    # `layer` is one of INSPECTED_LAYERS (checked): safe to name in SQL
    return conn.execute(
        text(
            f"""SELECT f.id, f.code, f.name, f.name_en, f.status, f.town_id,
                       t.code AS town_code, t.name AS town_name,
                       CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                            ELSE round(ST_Distance(f.geom::geography,
                                                   ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography
                                                   )::numeric, 1) END AS distance_m
                FROM {layer} f LEFT JOIN towns t ON t.id = f.town_id
                WHERE f.id = :id"""
        ),
        {
            "id": feature_id,
            "lon": position[0] if position else None,
            "lat": position[1] if position else None,
        },
    ).first()


@dataclass(frozen=True)
class Recorded:
    id: int
    created: bool  # False: the key had been used before, this is the first record


def record(
    conn: Connection,
    visit: Visit,
    key: str,
    photos: list[Photo],
    principal: Principal,
    actor: audit.Actor,
) -> Recorded:
    """Store the visit and its photos once per (inspector, key), with an audit entry."""
    earlier = _by_key(conn, principal.user_id, key)
    if earlier is not None:
        return _replayed(visit, earlier)
    facility = facility_of(conn, visit.layer, visit.feature_id, visit.position)
    if facility is None:
        raise BadParameter("feature_id", f"no {visit.layer} feature {visit.feature_id}")
    if facility.status in NOT_VISITED:
        raise BadParameter(
            "feature_id", f"{visit.layer} {facility.code} is {facility.status}: there is nothing to inspect"
        )
    permissions.check_town(principal, facility.town_code)
    new_id = conn.execute(
        text(
            """INSERT INTO inspections (layer, feature_id, town_id, user_id, user_name, idempotency_key,
                                        inspected_at, outcome, checklist, notes, accuracy_m, distance_m,
                                        request_id, position)
               VALUES (:layer, :fid, :town, :uid, :uname, :key, :at, :outcome, CAST(:checklist AS jsonb),
                       :notes, :accuracy, :distance, :rid,
                       CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                            ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END)
               ON CONFLICT (user_id, idempotency_key) DO NOTHING
               RETURNING id"""
        ),
        {
            "layer": visit.layer,
            "fid": visit.feature_id,
            "town": facility.town_id,
            "uid": principal.user_id,
            "uname": principal.name,
            "key": key,
            "at": visit.inspected_at,
            "outcome": visit.outcome,
            "checklist": json.dumps(visit.checklist),
            "notes": visit.notes,
            "accuracy": visit.accuracy_m,
            "distance": facility.distance_m,
            "rid": actor.request_id,
            "lon": visit.position[0] if visit.position else None,
            "lat": visit.position[1] if visit.position else None,
        },
    ).scalar()
    if new_id is None:  # the same key arrived concurrently and was stored first
        again = _by_key(conn, principal.user_id, key)
        assert again is not None
        return _replayed(visit, again)
    for number, photo in enumerate(photos, start=1):
        conn.execute(
            text(
                """INSERT INTO inspection_photos
                          (inspection_id, number, content_type, size_bytes, sha256, content)
                   VALUES (:iid, :n, :type, :size, :sha, :content)"""
            ),
            {
                "iid": new_id,
                "n": number,
                "type": photo.content_type,
                "size": len(photo.content),
                "sha": photo.sha256,
                "content": photo.content,
            },
        )
    if visit.outcome == "out_of_service" and visit.layer in FACILITY_LAYERS:
        # what now has nowhere to go, kept with the record as it stood when reported
        if outages.small_enough(conn):
            kept = outages.summary(outages.outage(conn, visit.layer, visit.feature_id))
        else:
            kept = {
                "computed": False,
                "reason": f"over {outages.RECORD_MAX_LINKS} chain links: ask /chain/outages",
            }
        conn.execute(
            text("UPDATE inspections SET outage = CAST(:o AS jsonb) WHERE id = :id"),
            {"o": json.dumps(kept), "id": new_id},
        )
    audit.record(
        conn, actor, "inspection.record", layer=visit.layer, target_id=visit.feature_id,
        after={"inspection": int(new_id), "outcome": visit.outcome},
        detail={"photos": len(photos), "distance_m": _float(facility.distance_m)},
    )  # fmt: skip
    return Recorded(int(new_id), True)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _by_key(conn: Connection, user_id: int, key: str) -> Any:
    return (
        conn.execute(
            text(
                """SELECT id, layer, feature_id, inspected_at, outcome FROM inspections
                   WHERE user_id = :uid AND idempotency_key = :key"""
            ),
            {"uid": user_id, "key": key},
        )
        .mappings()
        .first()
    )


def _replayed(visit: Visit, earlier: Mapping[str, Any]) -> Recorded:
    if not visit.same_as(earlier):
        raise Conflict(
            f"Idempotency-Key: already used for inspection {earlier['id']} of {earlier['layer']} "
            f"{earlier['feature_id']} at {earlier['inspected_at'].isoformat()}; a new visit needs a new key"
        )
    return Recorded(int(earlier["id"]), False)


# -- reading -------------------------------------------------------------------------------------------

_SELECT = """
    SELECT i.id, i.layer, i.feature_id, i.user_name, i.inspected_at, i.recorded_at, i.outcome,
           i.checklist, i.notes, i.accuracy_m, i.distance_m, i.outage, t.code AS town_code,
           ST_X(i.position) AS lon, ST_Y(i.position) AS lat,
           COALESCE((SELECT json_agg(json_build_object('number', p.number, 'content_type', p.content_type,
                                                       'size_bytes', p.size_bytes, 'sha256', p.sha256)
                                     ORDER BY p.number)
                     FROM inspection_photos p WHERE p.inspection_id = i.id), '[]') AS photos
    FROM inspections i LEFT JOIN towns t ON t.id = i.town_id
"""


def _facility_names(conn: Connection, rows: list[Any]) -> dict[tuple[str, int], Any]:
    names: dict[tuple[str, int], Any] = {}
    for layer in {r["layer"] for r in rows}:
        ids = [int(r["feature_id"]) for r in rows if r["layer"] == layer]
        for f in conn.execute(
            text(f"SELECT id, code, name, name_en FROM {layer} WHERE id = ANY(:ids)"), {"ids": ids}
        ):
            names[(layer, int(f.id))] = f
    return names


def _as_json(row: Any, facility: Any, lang: str) -> dict[str, Any]:
    labels = {item["key"]: item["label"] for item in checklists.described(lang)[row["layer"]]}
    return {
        "id": int(row["id"]),
        "layer": row["layer"],
        "feature_id": int(row["feature_id"]),
        "facility": None
        if facility is None
        else {
            "code": facility.code,
            "name": (facility.name_en if lang == "en" else None) or facility.name,
        },
        "town_code": row["town_code"],
        "inspector": row["user_name"],
        "inspected_at": row["inspected_at"].isoformat(),
        "recorded_at": row["recorded_at"].isoformat(),
        "outcome": row["outcome"],
        "checklist": [  # in the form's order (jsonb keeps keys in its own)
            {"key": key, "label": label, "answer": row["checklist"].get(key)} for key, label in labels.items()
        ],
        "notes": row["notes"],
        "position": None if row["lon"] is None else {"lon": row["lon"], "lat": row["lat"]},
        "accuracy_m": None if row["accuracy_m"] is None else float(row["accuracy_m"]),
        "distance_m": None if row["distance_m"] is None else float(row["distance_m"]),
        "photos": list(row["photos"]),
        "outage": row["outage"],
    }


def read(conn: Connection, inspection_id: int, lang: str = "zh") -> dict[str, Any]:
    row = conn.execute(text(_SELECT + " WHERE i.id = :id"), {"id": inspection_id}).mappings().first()
    if row is None:
        raise NotFound(f"no inspection {inspection_id}")
    facility = _facility_names(conn, [row]).get((row["layer"], int(row["feature_id"])))
    return _as_json(row, facility, lang)


def listed(
    conn: Connection,
    *,
    layer: str | None = None,
    feature_id: int | None = None,
    town: str | None = None,
    limit: int = 100,
    lang: str = "zh",
) -> list[dict[str, Any]]:
    """Inspections newest first, of one facility, one layer or one town."""
    if layer is not None and layer not in INSPECTED_LAYERS:
        raise BadParameter("layer", f"{layer!r} is not inspected; one of {', '.join(INSPECTED_LAYERS)}")
    if feature_id is not None and layer is None:
        raise BadParameter("feature_id", "given without its layer")
    rows = list(
        conn.execute(
            text(
                _SELECT
                + """ WHERE (CAST(:layer AS text) IS NULL OR i.layer = :layer)
                        AND (CAST(:fid AS bigint) IS NULL OR i.feature_id = :fid)
                        AND (CAST(:town AS text) IS NULL OR t.code = :town)
                      ORDER BY i.inspected_at DESC, i.id DESC LIMIT :limit"""
            ),
            {"layer": layer, "fid": feature_id, "town": town, "limit": limit},
        ).mappings()
    )
    names = _facility_names(conn, rows)
    return [_as_json(r, names.get((r["layer"], int(r["feature_id"]))), lang) for r in rows]


def photo(conn: Connection, inspection_id: int, number: int) -> tuple[str, bytes]:
    found = conn.execute(
        text(
            """SELECT content_type, content FROM inspection_photos
               WHERE inspection_id = :id AND number = :n"""
        ),
        {"id": inspection_id, "n": number},
    ).first()
    if found is None:
        raise NotFound(f"no photo {number} of inspection {inspection_id}")
    return str(found.content_type), bytes(found.content)


HISTORY_ON_PAGE = 10


def facility_summary(
    conn: Connection, layer: str, feature_id: int, lang: str = "zh"
) -> dict[str, Any] | None:
    """A facility's page: its latest inspections, and for a chain facility that is stopped (by its status
    or its latest inspection) what depends on it. None for a layer that is not inspected."""
    if layer not in INSPECTED_LAYERS:
        return None
    latest = listed(conn, layer=layer, feature_id=feature_id, limit=HISTORY_ON_PAGE, lang=lang)
    status = conn.execute(text(f"SELECT status FROM {layer} WHERE id = :id"), {"id": feature_id}).scalar()
    stopped = status in ("suspended", "closed") or (bool(latest) and latest[0]["outcome"] == "out_of_service")
    outage = None
    if stopped and layer in FACILITY_LAYERS and outages.small_enough(conn):
        outage = outages.summary(outages.outage(conn, layer, feature_id))
    return {"layer": layer, "id": feature_id, "inspections": latest, "outage": outage}
