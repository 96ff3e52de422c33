"""A GIS file's geometry made fit for a layer: the layer's type, WGS 84, the same checks as a CSV's columns.

A Point layer takes a Point (or a MultiPoint of one point), a MultiPolygon layer a Polygon or
MultiPolygon (a Polygon is wrapped); anything else is a problem naming its type. Every vertex goes
through `coordinates.locate`, so (0, 0), swapped axes, metres without a CRS and a zone prefix that does
not fit the CRS are named as they are for a CSV; heights are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.importing import coordinates

# Layers whose geometry the database draws itself (a chain link's line joins its two ends).
DERIVED = frozenset({"chain_links"})


@dataclass
class Fitted:
    geometry: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _depth(kind: str) -> int:
    return {"Point": 0, "MultiPoint": 1, "LineString": 1, "Polygon": 2, "MultiPolygon": 3}.get(kind, -1)


def fit(
    geometry: dict[str, Any] | None,
    layer: str,
    layer_type: str,
    crs: str | None,
    area: tuple[float, float, float, float] | None,
) -> Fitted:
    """The geometry as the layer stores it, in WGS 84 GeoJSON, or None with the problems."""
    if layer in DERIVED:
        return Fitted(None, warnings=["geometry ignored: the line is drawn between the link's ends"])
    if geometry is None:
        return Fitted(None, ["no geometry"])
    kind = str(geometry.get("type"))
    coords = geometry.get("coordinates")
    if layer_type == "Point":
        if kind == "MultiPoint" and isinstance(coords, list) and len(coords) == 1:
            kind, coords = "Point", coords[0]
        if kind != "Point":
            return Fitted(None, [f"geometry is a {kind}: {layer} holds points"])
    elif layer_type == "MultiPolygon":
        if kind == "Polygon":
            kind, coords = "MultiPolygon", [coords]
        if kind != "MultiPolygon":
            return Fitted(None, [f"geometry is a {kind}: {layer} holds polygons"])
    elif kind != layer_type:
        return Fitted(None, [f"geometry is a {kind}: {layer} holds {layer_type}s"])
    if not coords:
        return Fitted(None, [f"the {kind} is empty"])
    fitted = Fitted(None)
    moved = _transform(coords, _depth(kind), crs, fitted)
    if fitted.problems:
        return fitted
    fitted.geometry = {"type": kind, "coordinates": moved}
    if area is not None:
        _outside(moved, _depth(kind), area, fitted)
    return fitted


def _transform(coords: Any, depth: int, crs: str | None, fitted: Fitted) -> Any:
    if depth > 0:
        return [_transform(part, depth - 1, crs, fitted) for part in coords]
    if fitted.problems:  # one problem per geometry is enough to act on
        return coords
    x, y = float(coords[0]), float(coords[1])
    position, problems = coordinates.locate(x, y, crs)
    if position is None:
        fitted.problems.extend(problems)
        return coords
    return [position.lon, position.lat]


def _outside(coords: Any, depth: int, area: tuple[float, float, float, float], fitted: Fitted) -> None:
    if depth > 0:
        for part in coords:
            _outside(part, depth - 1, area, fitted)
        return
    if fitted.warnings:
        return
    warning = coordinates.outside(coordinates.Position(coords[0], coords[1]), area)
    if warning is not None:
        fitted.warnings.append(warning)


def wkt(geometry: dict[str, Any] | None) -> str | None:
    """A file's geometry as WKT, in the file's own crs, for the clerk's rejected-rows CSV."""
    if geometry is None:
        return None
    import shapely.geometry

    try:
        return str(shapely.geometry.shape(geometry).wkt)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
        return None  # a geometry GEOS cannot build: the row's problem says what is wrong with it
