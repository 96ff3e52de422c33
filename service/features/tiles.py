"""Mapbox vector tiles of a layer, made by PostGIS (ST_AsMVT over ST_AsMVTGeom in ST_TileEnvelope).

Web Mercator tiles (z/x/y, XYZ scheme). A tile holds at most MAX_FEATURES features, like tipg's
default: at small zooms a layer of a million farms is a sample, not all of it (TileJSON says so).
"""

from __future__ import annotations

from sqlalchemy import Engine, func, literal, literal_column, select

from service.features.catalogue import Field, Layer
from service.features.errors import ParameterError

EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
MAX_FEATURES = 10_000
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
# What a map styles, labels and filters by; every other attribute is one click away in
# /collections/{layer}/items/{id}. Fewer properties make tiles smaller and faster to build.
TILE_PROPERTIES = (
    "code",
    "name",
    "status",
    "kind",
    "species",
    "stream",
    "capacity",
    "capacity_unit",
    "station_class",
    "head_count",
    "is_large_scale",
    "population",
    "town_id",  # not town_code: the join to towns would cost every tile more than it is worth
    "source_layer",
    "target_layer",
)


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise ParameterError("z", f"zoom must be between 0 and {MAX_ZOOM}")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise ParameterError(
            "x" if not 0 <= x < 2**z else "y", f"outside the {2**z}×{2**z} tiles of zoom {z}"
        )


def tile_fields(layer: Layer) -> list[Field]:
    return [f for f in layer.fields if f.name in TILE_PROPERTIES]


def tile(engine: Engine, layer: Layer, z: int, x: int, y: int) -> bytes:
    check_tile(z, x, y)
    envelope = func.ST_TileEnvelope(z, x, y)
    # features whose point/line/polygon touches the tile or its buffer, found with the GIST index
    margin = func.ST_Transform(
        func.ST_TileEnvelope(z, x, y, literal_column(f"margin => {BUFFER / EXTENT}")), 4326
    )
    properties = [f.column.label(f.name) for f in tile_fields(layer)]
    geom = func.ST_AsMVTGeom(func.ST_Transform(layer.geom, 3857), envelope, EXTENT, BUFFER, True).label(
        "geom"
    )
    rows = (
        select(layer.id_column.label("id"), *properties, geom)
        .select_from(layer.table)
        .where(layer.geom.op("&&")(margin))
        .limit(MAX_FEATURES)
        .subquery("tile_rows")
    )
    stmt = select(
        func.ST_AsMVT(literal_column("tile_rows"), literal(layer.name), EXTENT, "geom", "id")
    ).select_from(rows)
    with engine.connect() as conn:
        # a tile is a small, latency-bound query: parallel workers cost more to start than they save
        # and take the CPU of the tile requests running next to it
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        data = conn.execute(stmt).scalar()
    return bytes(data) if data is not None else b""
