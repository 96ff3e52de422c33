"""Vector tiles: /tiles/{layer}/{z}/{x}/{y}.mvt and their TileJSON at /tiles/{layer}.json."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from service.api.deps import engine_of
from service.api.headers import base_url
from service.features import catalogue, fetch, tiles

router = APIRouter(tags=["Vector tiles"])


@router.get("/tiles/{layer}.json", summary="TileJSON 3.0 of a layer's vector tiles")
def tilejson(request: Request, layer: str) -> Response:
    found = catalogue.layer(layer)
    base = base_url(request)
    doc: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": found.name,
        "description": f"{found.title}; at most {tiles.MAX_FEATURES:,} features per tile",
        "scheme": "xyz",
        "tiles": [f"{base}/tiles/{found.name}/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": 0,
        "maxzoom": tiles.MAX_ZOOM,
        "vector_layers": [
            {
                "id": found.name,
                "fields": {"id": "Number", **{f.name: _field_type(f.kind) for f in tiles.tile_fields(found)}},
                "minzoom": 0,
                "maxzoom": tiles.MAX_ZOOM,
            }
        ],
    }
    extent = fetch.spatial_extent(engine_of(request), found.table.name)
    if extent is not None:
        doc["bounds"] = extent
        doc["center"] = [(extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2, 8]
    return JSONResponse(doc)


def _field_type(kind: str) -> str:
    return {"integer": "Number", "number": "Number", "boolean": "Boolean"}.get(kind, "String")


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.mvt",
    summary="One Mapbox vector tile (Web Mercator, XYZ)",
    response_class=Response,
    responses={200: {"content": {tiles.MEDIA_TYPE: {}}}},
)
def tile(request: Request, layer: str, z: int, x: int, y: int) -> Response:
    data = tiles.tile(engine_of(request), catalogue.layer(layer), z, x, y)
    return Response(data, media_type=tiles.MEDIA_TYPE, headers={"Cache-Control": "public, max-age=60"})
