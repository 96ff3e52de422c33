"""GeoPackage written directly with sqlite3: the OGC GeoPackage 1.2 tables, the binary geometry header
over PostGIS's WKB, and an R-tree spatial index, so QGIS/ArcGIS open it fast. No GDAL at run time
(see docs/decisions.md, D21)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import struct
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, SmallInteger, func, text

from service.export.layer_reader import LayerExport, Progress, counting
from service.features.catalogue import Field, Kind
from service.features.query import output_geometry

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10200  # GeoPackage 1.2
BATCH = 5000
SQLITE_TYPES: dict[Kind, str] = {
    "string": "TEXT",
    "integer": "INTEGER",
    "number": "REAL",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "DATETIME",
}
GEOMETRY_TYPES = {"Point": "POINT", "LineString": "LINESTRING", "MultiPolygon": "MULTIPOLYGON"}

CORE_SCHEMA = """
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
  scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
INSERT INTO gpkg_spatial_ref_sys VALUES
  ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system');
"""


def geometry_blob(wkb: bytes, srs_id: int, envelope: tuple[float, float, float, float] | None) -> bytes:
    """GeoPackage binary: magic, version 0, flags (little-endian, envelope kind), srs id, envelope, WKB."""
    if envelope is None:
        return struct.pack("<2sBBi", b"GP", 0, 0b0000_0001, srs_id) + wkb
    return struct.pack("<2sBBi4d", b"GP", 0, 0b0000_0011, srs_id, *envelope) + wkb


def _sqlite_type(field: Field) -> str:
    """GeoPackage's INTEGER is 64-bit; 32- and 16-bit columns keep their width (GDAL reads Integer)."""
    if field.kind == "integer" and isinstance(field.column.type, SmallInteger):
        return "SMALLINT"
    if field.kind == "integer" and not isinstance(field.column.type, BigInteger):
        return "MEDIUMINT"
    return SQLITE_TYPES[field.kind]


def _value(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if kind == "date":
        return value.isoformat()
    if kind == "boolean":
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


class GeoPackage:
    """An open GeoPackage file being written; add layers, then close()."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        self.db.execute(f"PRAGMA user_version = {USER_VERSION}")
        self.db.executescript(CORE_SCHEMA)
        self.srs: set[int] = set()

    def _add_srs(self, export: LayerExport, srid: int) -> None:
        if srid in self.srs:
            return
        with export.engine.connect() as conn:
            name, definition = conn.execute(
                text("SELECT split_part(srtext, '\"', 2), srtext FROM spatial_ref_sys WHERE srid = :s"),
                {"s": srid},
            ).one()
        self.db.execute(
            "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, 'EPSG', ?, ?, ?)",
            (name, srid, srid, definition, name),
        )
        self.srs.add(srid)

    def add_layer(self, export: LayerExport, progress: Progress | None = None) -> int:
        layer, crs = export.query.layer, export.query.crs
        self._add_srs(export, 4326)
        self._add_srs(export, crs.srid)
        fields = export.fields
        table = layer.name
        columns = ", ".join(f'"{f.name}" {_sqlite_type(f)}' for f in fields)
        geometry_type = GEOMETRY_TYPES[layer.geometry_type]
        self.db.execute(
            f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, geom {geometry_type}'
            + (f", {columns})" if columns else ")")
        )
        self.db.execute(f'CREATE VIRTUAL TABLE "rtree_{table}_geom" USING rtree(id, minx, maxx, miny, maxy)')
        geom = output_geometry(layer, crs, crs_axis_order=False)
        bounds = [func.ST_XMin(geom), func.ST_XMax(geom), func.ST_YMin(geom), func.ST_YMax(geom)]
        rows = export.rows([*export.attribute_columns(), func.ST_AsBinary(geom, "NDR"), *bounds])
        placeholders = ", ".join("?" * (len(fields) + 2))
        insert = f'INSERT INTO "{table}" VALUES ({placeholders})'
        insert_index = f'INSERT INTO "rtree_{table}_geom" VALUES (?, ?, ?, ?, ?)'
        kinds = [f.kind for f in fields]
        points = layer.geometry_type == "Point"
        extent = [float("inf"), float("inf"), float("-inf"), float("-inf")]
        batch: list[Sequence[Any]] = []
        index: list[Sequence[Any]] = []
        n = 0
        for n, row in enumerate(counting(rows, progress), 1):  # noqa: B007
            fid, values, wkb, box = row[0], row[1:-5], row[-5], row[-4:]
            blob = geometry_blob(bytes(wkb), crs.srid, None if points else tuple(box))
            batch.append((fid, blob, *(_value(k, v) for k, v in zip(kinds, values, strict=True))))
            index.append((fid, *box))
            extent = [
                min(extent[0], box[0]),
                min(extent[1], box[2]),
                max(extent[2], box[1]),
                max(extent[3], box[3]),
            ]
            if len(batch) >= BATCH:
                self.db.executemany(insert, batch)
                self.db.executemany(insert_index, index)
                batch, index = [], []
        self.db.executemany(insert, batch)
        self.db.executemany(insert_index, index)
        bbox = extent if n else [None, None, None, None]
        self.db.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "min_x, min_y, max_x, max_y, srs_id) VALUES (?, 'features', ?, ?, ?, ?, ?, ?, ?)",
            (table, table, layer.title, *bbox, crs.srid),
        )
        self.db.execute(
            "INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
            (table, geometry_type, crs.srid),
        )
        self.db.execute(
            "INSERT INTO gpkg_extensions VALUES (?, 'geom', 'gpkg_rtree_index', "
            "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
            (table,),
        )
        self.db.commit()
        return n

    def close(self) -> None:
        self.db.commit()
        self.db.close()


def write_gpkg(exports: Sequence[LayerExport], path: Path, progress: Progress | None = None) -> int:
    package = GeoPackage(path)
    written = 0
    try:
        for export in exports:
            written += package.add_layer(export, _offset(progress, written))
        return written
    finally:
        package.close()


def _offset(progress: Progress | None, before: int) -> Progress | None:
    """Progress over several layers: rows of the earlier layers plus this one's."""
    if progress is None:
        return None
    return lambda n: progress(before + n)
