"""Import a road network and build its routing topology in PostGIS.

Lines (GeoJSON; GeoPackage, Shapefile and other GDAL formats through `ogr2ogr`) are checked, staged and
noded in SQL: a node is wherever a line ends or a vertex is shared by two or more lines (OSM ways
meet at shared vertices; lines that cross without one, e.g. on a bridge, stay unconnected), and each
line is split at its nodes. Every segment gets its geodesic length as the routing cost. The import
replaces the whole network in one transaction: a failed import changes nothing.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from service.models import ROAD_CLASSES

GEOJSON_SUFFIXES = {".geojson", ".json"}
WGS84_NAMES = {"EPSG:4326", "urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:EPSG::4326", "OGC:CRS84"}
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
GRID_DEG = 1e-7  # vertices closer than ~1 cm are the same node
MAX_ERRORS = 5


class RoadImportError(ValueError):
    """The file cannot be imported; the message says where and why."""


def read_features(path: Path, layer: str | None = None) -> list[dict[str, Any]]:
    """GeoJSON features of the file, in EPSG:4326 (other formats converted by ogr2ogr)."""
    if not path.is_file():
        raise RoadImportError(f"{path}: no such file")
    if path.suffix.lower() in GEOJSON_SUFFIXES and layer is None:
        return _read_geojson(path)
    return _read_with_ogr2ogr(path, layer)


def _read_geojson(path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RoadImportError(f"{path}: not valid GeoJSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise RoadImportError(f"{path}: not a GeoJSON FeatureCollection")
    crs = doc.get("crs")
    if crs is not None:  # pre-RFC 7946 files name their CRS; RFC 7946 ones are WGS84 by definition
        name = str((crs.get("properties") or {}).get("name", "")) if isinstance(crs, dict) else ""
        if name not in WGS84_NAMES:
            raise RoadImportError(
                f"{path}: CRS {name or crs!r} is not WGS84 lon/lat (EPSG:4326); reproject first, e.g. "
                f"ogr2ogr -t_srs EPSG:4326 roads.geojson {path.name}"
            )
    features = doc.get("features")
    if not isinstance(features, list):
        raise RoadImportError(f"{path}: 'features' is not a list")
    return features


def _read_with_ogr2ogr(path: Path, layer: str | None) -> list[dict[str, Any]]:
    """GDAL reads the format and reprojects to EPSG:4326; a source without a CRS is refused."""
    if shutil.which("ogr2ogr") is None or shutil.which("ogrinfo") is None:
        raise RoadImportError(
            "reading GeoPackage, Shapefile and other formats needs GDAL's ogr2ogr (gdal-bin)"
        )
    if layer is None:
        info = subprocess.run(
            ["ogrinfo", "-ro", "-q", str(path)], capture_output=True, text=True, check=False
        )
        if info.returncode != 0:
            raise RoadImportError(f"{path}: GDAL cannot read it: {' '.join(info.stderr.split())[:300]}")
        layers = re.findall(r"^\d+: (.+?)(?: \(.*\))?$", info.stdout, flags=re.MULTILINE)
        if len(layers) != 1:
            raise RoadImportError(f"{path}: {len(layers)} layers {layers}; name the one to import (--layer)")
    with tempfile.TemporaryDirectory(prefix="sanichain-roads-") as tmp:
        out = Path(tmp) / "roads.geojson"
        cmd = ["ogr2ogr", "-f", "GeoJSON", "-t_srs", "EPSG:4326", str(out), str(path)]
        result = subprocess.run(
            [*cmd, *([layer] if layer else [])], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            reason = " ".join(result.stderr.split())
            if "no coordinate system" in reason:
                reason = "the layer has no coordinate reference system; assign one first (ogr2ogr -a_srs)"
            raise RoadImportError(f"{path}: {reason[:300]}")
        return _read_geojson(out)


def _lines(geometry: Any) -> list[list[list[float]]]:
    if not isinstance(geometry, dict):
        raise ValueError("no geometry")
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    parts: Any
    if kind == "LineString":
        parts = [coords]
    elif kind == "MultiLineString":
        parts = coords
    else:
        raise ValueError(f"geometry is {kind}, not a LineString or MultiLineString")
    out = []
    for part in parts or []:
        points = [p[:2] for p in part or []]
        for x, y in points:
            if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
                raise ValueError(f"coordinate ({x}, {y}) is not lon/lat in degrees (EPSG:4326)")
        if len({(x, y) for x, y in points}) < 2:
            raise ValueError("a line needs two distinct points")
        out.append(points)
    if not out:
        raise ValueError("empty geometry")
    return out


def validate(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows to stage: one per line part, with code, name and class; raises with the first problems."""
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    codes: set[str] = set()
    for i, feature in enumerate(features):
        if not isinstance(feature, dict) or not isinstance(feature.get("properties") or {}, dict):
            errors.append(f"feature {i}: not a GeoJSON Feature with properties")
            continue
        props = feature.get("properties") or {}
        code = str(props.get("code") or feature.get("id") or f"R{i + 1}")
        road_class = props.get("class") or props.get("highway_class") or "other"
        try:
            if not CODE_RE.match(code):
                raise ValueError(f"code {code!r}: letters, digits, '_', '.', '-' only")
            if code in codes:
                raise ValueError(f"code {code!r} is not unique")
            if road_class not in ROAD_CLASSES:
                raise ValueError(f"class {road_class!r} is not one of {', '.join(ROAD_CLASSES)}")
            parts = _lines(feature.get("geometry"))
        except (ValueError, TypeError) as exc:
            errors.append(f"feature {i}: {exc}")
            if len(errors) >= MAX_ERRORS:
                break
            continue
        codes.add(code)
        for k, points in enumerate(parts):
            rows.append(
                {
                    "code": code if len(parts) == 1 else f"{code}.{k + 1}",
                    "name": props.get("name"),
                    "class": road_class,
                    "geometry": {"type": "LineString", "coordinates": points},
                }
            )
    if errors:
        raise RoadImportError("; ".join(errors))
    if not rows:
        raise RoadImportError("no road lines in the file")
    return rows


NODING_SQL = [
    # every vertex, on a 1e-7° grid so that shared vertices compare equal
    """CREATE TEMP TABLE road_vertex ON COMMIT DROP AS
       SELECT s.n, (d.path)[1] AS i, ST_SnapToGrid(d.geom, :grid) AS pt, ST_NPoints(s.geom) AS nv,
              ST_IsClosed(s.geom) AS closed
       FROM road_stage s, ST_DumpPoints(s.geom) d""",
    # nodes: line ends, vertices that two or more lines share, and the middle of a closed line (a ring
    # road would otherwise be one segment from a node to itself)
    """CREATE TEMP TABLE road_node_pt ON COMMIT DROP AS
       SELECT row_number() OVER (ORDER BY ST_X(pt), ST_Y(pt)) AS id, pt
       FROM road_vertex GROUP BY pt
       HAVING count(DISTINCT n) > 1 OR bool_or(i = 1 OR i = nv OR (closed AND i = nv / 2 + 1))""",
    # vertex k of a line belongs to segment (nodes before k) as its end or inside, and a node vertex
    # also starts segment (nodes before k) + 1
    """CREATE TEMP TABLE road_piece ON COMMIT DROP AS
       WITH v AS (
           SELECT v.n, v.i, v.nv, v.pt, p.id AS node,
                  count(p.id) OVER (PARTITION BY v.n ORDER BY v.i ROWS BETWEEN UNBOUNDED PRECEDING
                                    AND 1 PRECEDING) AS before
           FROM road_vertex v LEFT JOIN road_node_pt p ON p.pt = v.pt
       )
       SELECT n, before AS seg, i, pt, node FROM v WHERE i > 1
       UNION ALL
       SELECT n, before + 1, i, pt, node FROM v WHERE node IS NOT NULL AND i < nv""",
    """CREATE TEMP TABLE road_new ON COMMIT DROP AS
       SELECT s.code, count(*) OVER (PARTITION BY s.n) AS pieces,
              row_number() OVER (PARTITION BY s.n ORDER BY p.seg) AS k,
              s.name, s.class, p.geom, p.source, p.target
       FROM (SELECT n, seg, ST_MakeLine(pt ORDER BY i) AS geom,
                    (array_agg(node ORDER BY i))[1] AS source,
                    (array_agg(node ORDER BY i DESC))[1] AS target
             FROM road_piece GROUP BY n, seg) p
       JOIN road_stage s ON s.n = p.n
       WHERE p.source <> p.target""",
]

REPLACE_SQL = [
    "DELETE FROM road_segments",
    "DELETE FROM road_nodes",
    "INSERT INTO road_nodes (id, geom) SELECT id, pt FROM road_node_pt "
    "WHERE id IN (SELECT source FROM road_new UNION SELECT target FROM road_new)",
    """INSERT INTO road_segments (code, name, class, length_m, source, target, cost, geom)
       SELECT CASE WHEN pieces = 1 THEN code ELSE code || '-' || k END, name, class,
              ST_Length(geom::geography), source, target, ST_Length(geom::geography), geom
       FROM road_new ORDER BY code, k""",
]


def import_network(conn: Connection, features: list[dict[str, Any]]) -> dict[str, Any]:
    """Replace the network with `features` inside the caller's transaction; returns counts."""
    rows = validate(features)
    for table in ("road_stage", "road_vertex", "road_node_pt", "road_piece", "road_new"):
        conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
    conn.execute(
        text(
            """
            CREATE TEMP TABLE road_stage ON COMMIT DROP AS
            SELECT row_number() OVER () AS n, d.code, d.name, d.class,
                   ST_RemoveRepeatedPoints(ST_SetSRID(ST_GeomFromGeoJSON(d.geometry::text), 4326)) AS geom
            FROM json_to_recordset(CAST(:rows AS json)) AS d(code text, name text, class text, geometry json)
            """
        ),
        {"rows": json.dumps(rows, ensure_ascii=False)},
    )
    for sql in NODING_SQL:
        conn.execute(text(sql), {"grid": GRID_DEG})
    zero = conn.execute(
        text("SELECT code FROM road_new WHERE ST_Length(geom::geography) = 0 LIMIT 5")
    ).scalars()
    if bad := list(zero):
        raise RoadImportError(f"zero-length road pieces in {bad}")
    for sql in REPLACE_SQL:
        conn.execute(text(sql))
    return summary(conn)


def summary(conn: Connection) -> dict[str, Any]:
    """Segments, nodes, total length and connected components (pgr_connectedComponents)."""
    segments, nodes, length = conn.execute(
        text(
            "SELECT count(*), (SELECT count(*) FROM road_nodes), coalesce(sum(length_m), 0) "
            "FROM road_segments"
        )
    ).one()
    components = 0
    if segments:
        components = conn.execute(
            text(
                "SELECT count(DISTINCT component) FROM pgr_connectedComponents("
                "'SELECT id, source, target, cost, cost AS reverse_cost FROM road_segments')"
            )
        ).scalar_one()
    return {
        "segments": segments,
        "nodes": nodes,
        "length_km": round(float(length) / 1000, 3),
        "components": components,
    }


def import_file(engine: Engine, path: Path, layer: str | None = None) -> dict[str, Any]:
    features = read_features(path, layer)
    with engine.begin() as conn:
        return import_network(conn, features)


def loaded(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM road_segments)")).scalar())
