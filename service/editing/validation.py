"""Validation of a feature before anything is written: one validator for the API, the command line
and the import, which lists every error by field.

Contract (used by `service.editing.store`, the import and the map's edit form):

    prepared = validate(conn, layer_name, feature, mode="create" | "replace" | "patch",
                        current=<the stored feature's properties or None>, accept_outside=False)

- `feature` is a GeoJSON Feature as a dict (`type`, `geometry`, `properties`; `id` ignored), or for
  "patch" a partial one (only the members to change; `geometry` may be absent).
- Returns `Prepared(values, warnings)`: `values` maps column names to values ready for SQL (the
  geometry as `geom_ewkt`, an EWKT string with SRID=4326), including for "patch" only the columns that
  change; `warnings` are messages the caller shows but that did not refuse the feature (a position
  outside the city outline that the caller accepted).
- Raises `ValidationFailed` (a 422 problem with `errors`: [{"field", "message"}], every error found,
  not only the first) when anything is wrong. Nothing is written here; queries only read.
- Values the database derives (the town, a station's class, a farm's large-scale flag, ids, versions,
  timestamps) are read-only: a feature that sets them is refused by field name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import shapely
from shapely.geometry import shape
from sqlalchemy import Connection

from service.editing import fields
from service.errors import Unprocessable
from service.features import catalogue

Mode = Literal["create", "replace", "patch"]


@dataclass(frozen=True)
class FieldError:
    field: str  # "geometry", "properties.capacity", "properties" (the whole object) …
    message: str


class ValidationFailed(Unprocessable):
    """The feature was refused; `errors` lists every problem found, by field."""

    def __init__(self, errors: list[FieldError]) -> None:
        listed = [{"field": e.field, "message": e.message} for e in errors]
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"the feature was refused: {summary}", errors=listed)
        self.errors = errors


@dataclass(frozen=True)
class Prepared:
    values: dict[str, Any]  # column → value; the geometry as "geom_ewkt"
    warnings: list[str] = field(default_factory=list)


def validate(
    conn: Connection,
    layer_name: str,
    feature: dict[str, Any],
    *,
    mode: Mode,
    current: dict[str, Any] | None = None,
    accept_outside: bool = False,
) -> Prepared:
    """See the module's contract. (First version: field names and geometry type only.)"""
    layer = catalogue.layer(layer_name)
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        raise ValidationFailed([FieldError("properties", "must be an object")])
    allowed = fields.writable(layer_name)
    for name, value in properties.items():
        if name in fields.read_only(layer_name):
            errors.append(FieldError(f"properties.{name}", "read-only: the database derives it"))
        elif name not in allowed:
            errors.append(FieldError(f"properties.{name}", "unknown property of this layer"))
        else:
            values[name] = value
    geometry = feature.get("geometry")
    if geometry is not None and layer_name not in fields.DERIVED_GEOMETRY:
        try:
            geom = shape(geometry)
        except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
            errors.append(FieldError("geometry", f"not a GeoJSON geometry ({exc})"))
        else:
            if geom.geom_type != layer.geometry_type:
                errors.append(
                    FieldError("geometry", f"must be a {layer.geometry_type}, got {geom.geom_type}")
                )
            else:
                values["geom_ewkt"] = f"SRID=4326;{geom.wkt}"
    elif mode != "patch" and layer_name not in fields.DERIVED_GEOMETRY:
        errors.append(FieldError("geometry", "required"))
    if errors:
        raise ValidationFailed(errors)
    return Prepared(values)
