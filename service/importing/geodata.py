"""GIS files read through GDAL (pyogrio): KML and KMZ, GeoPackage, Shapefile (bare or zipped), GeoJSON.

A file is recognised by its first bytes, not only its name, and an archive is checked and unpacked into
a temporary directory first (`archives`). Features come out in the file's order, numbered from 1 over
every layer read (a KML's folders one after the other), with their attributes by field name and their
geometry as GeoJSON in the file's own CRS: positions are the caller's (`rows`), as for a CSV.
Features are read in batches, so a large GeoPackage or Shapefile is never held whole.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import BadParameter
from service.importing import archives

SUFFIXES = (".kml", ".kmz", ".gpkg", ".shp", ".zip", ".geojson", ".json")
# What an archive may hold that GDAL reads; everything else in it is left packed.
_DATASETS = (".shp", ".gpkg", ".geojson", ".json", ".kml")
_SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg"}
BATCH = 5_000
# What LIBKML adds to every Placemark for its drawing: no attribute of the clerk's, left out of the fields.
_KML_DRAWING = frozenset({"altitudeMode", "tessellate", "extrude", "visibility", "drawOrder", "icon"})
SEEKABLE = (".gpkg", ".shp")

_SQLITE = b"SQLite format 3\x00"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_SHP = b"\x00\x00\x27\x0a"
_KNOWN = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive",
    _SQLITE: "an SQLite database",
    b"\xd0\xcf\x11\xe0": "an old Office document (.xls/.doc)",
}


def is_geodata(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def looks_like(head: bytes) -> str:
    """What the first bytes of a file say it is, for error messages."""
    for magic, what in _KNOWN.items():
        if head.startswith(magic):
            return what
    if b"\x00" in head:
        return "binary data"
    return "text"


@dataclass(frozen=True)
class Feature:
    number: int
    properties: dict[str, Any]
    geometry: dict[str, Any] | None  # GeoJSON, in the file's CRS


@dataclass(frozen=True)
class GeoFile:
    """A dataset GDAL opened, with the layers to read (several for a KML's folders)."""

    path: Path  # what GDAL opens (inside the temporary directory for an archive)
    name: str  # the file the user gave, for messages
    layers: tuple[str, ...]
    crs: str | None  # as GDAL read it (EPSG code or WKT); None when the file names none
    encoding: str | None  # a Shapefile's DBF encoding when we chose it
    fields: tuple[str, ...]  # every attribute of every layer read, in order of appearance
    kind: str = "geojson"  # the format, as a report names it: kml, kmz, gpkg, shapefile, geojson
    cpg: str | None = None  # the encoding a Shapefile's .cpg names (GDAL reads the DBF in it)

    def features(self) -> Iterator[Feature]:
        number = 0
        for layer in self.layers:
            for properties, geometry in _layer_features(self, layer):
                number += 1
                yield Feature(number, properties, geometry)


def _gdal() -> Any:
    import pyogrio  # imported when a GIS file is read: the service starts without GDAL loaded

    # ExtendedData fields keep their Chinese names (LIBKML would replace them with underscores).
    pyogrio.set_gdal_config_options({"LIBKML_LAUNDER_FIELD_NAMES": "NO"})
    return pyogrio


def _unreadable(name: str, error: Exception) -> BadParameter:
    reason = " ".join(str(error).split())[:300]
    return BadParameter("file", f"{name}: GDAL cannot read it ({reason})")


def _head(path: Path, size: int = 512) -> bytes:
    with path.open("rb") as file:
        return file.read(size)


def _check_kind(path: Path, name: str) -> None:
    """A wrong format behind a right name is refused here, before GDAL guesses at it."""
    head = _head(path)
    suffix = path.suffix.lower()
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    expected = {
        ".gpkg": ("a GeoPackage", head.startswith(_SQLITE)),
        ".shp": ("a Shapefile", head.startswith(_SHP)),
        ".kml": ("a KML document", text.startswith(b"<")),
        ".geojson": ("a GeoJSON document", text.startswith(b"{")),
        ".json": ("a GeoJSON document", text.startswith(b"{")),
    }
    if suffix in expected and not expected[suffix][1]:
        raise BadParameter("file", f"{name} is not {expected[suffix][0]}: it holds {looks_like(head)}")


def dbf_encoding(dbf: Path) -> str | None:
    """UTF-8 when the DBF's field names and records decode as UTF-8, GB18030 (GBK's superset) when
    they do not, None when they are plain ASCII (GDAL's own reading is right)."""
    with dbf.open("rb") as file:
        header = file.read(32)
        if len(header) < 32:
            return None
        header_length = struct.unpack("<H", header[8:10])[0]
        names = file.read(max(header_length - 32, 0))
        body = names + file.read(1 << 22)  # the first 4 MB of records tell
    if body.isascii():
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(body) - 4:  # not merely a character cut by the 4 MB window
            return "GB18030"
    return "UTF-8"


def _layers(pyogrio: Any, path: Path, name: str, wanted: str | None) -> tuple[str, ...]:
    try:
        found = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as error:  # GDAL raises its own kinds for a damaged file; all mean "cannot read"
        raise _unreadable(name, error) from error
    if not found:
        raise BadParameter("file", f"{name} holds no layer")
    if wanted is not None:
        if wanted not in found:
            raise BadParameter("sheet", f"no layer {wanted!r} in {name} (it has {', '.join(found)})")
        return (wanted,)
    if path.suffix.lower() == ".kml":  # a field app's folders are parts of one survey: read them all
        return tuple(found)
    if len(found) > 1:
        raise BadParameter(
            "file", f"{name} holds {len(found)} layers ({', '.join(found)}): choose one with --sheet"
        )
    return (found[0],)


def _dataset(unpacked: list[Path], name: str, wanted: str | None) -> tuple[Path, str | None]:
    """The dataset in an unpacked archive, and the layer option left for it."""
    shapefiles = sorted(p for p in unpacked if p.suffix.lower() == ".shp")
    if shapefiles:
        stems = [p.stem for p in shapefiles]
        if wanted is not None and wanted not in stems:
            raise BadParameter("sheet", f"no shapefile {wanted!r} in {name} (it has {', '.join(stems)})")
        if wanted is None and len(shapefiles) > 1:
            raise BadParameter(
                "file", f"{name} holds {len(stems)} shapefiles ({', '.join(stems)}): choose one with --sheet"
            )
        return shapefiles[stems.index(wanted) if wanted is not None else 0], None
    others = [p for p in unpacked if p.suffix.lower() in _DATASETS]
    if len(others) == 1:
        return others[0], wanted
    listed = ", ".join(p.name for p in unpacked) or "nothing GDAL reads"
    if not others:
        raise BadParameter("file", f"{name} holds no .shp shapefile (it has {listed})")
    raise BadParameter("file", f"{name} holds several datasets ({listed}): send one per file")


def _unpack(path: Path, name: str, into: Path, wanted: str | None) -> tuple[Path, str | None]:
    if not _head(path, 4).startswith(_ZIP):
        raise BadParameter("file", f"{name} is not a zip archive: it holds {looks_like(_head(path))}")
    if path.suffix.lower() == ".kmz":
        kmls = sorted(archives.extract(path, into, {".kml"}, name=name))
        if not kmls:
            raise BadParameter("file", f"{name} holds no KML document")
        main = [p for p in kmls if p.name.lower() == "doc.kml"] or kmls
        return main[0], wanted
    unpacked = archives.extract(path, into, _SHAPEFILE_PARTS | set(_DATASETS), name=name)
    return _dataset(unpacked, name, wanted)


def _kind(given: Path, target: Path) -> str:
    """The format of the dataset read: a KML inside a KMZ is a kmz, a zip is what it holds."""
    if given.suffix.lower() == ".kmz":
        return "kmz"
    suffix = target.suffix.lower()
    return {".kml": "kml", ".gpkg": "gpkg", ".shp": "shapefile"}.get(suffix, "geojson")


def _cpg(shp: Path) -> str | None:
    """The encoding a Shapefile's .cpg names ("CP936", "UTF-8"), None without one."""
    found = _sibling(shp, ".cpg")
    if found is None:
        return None
    named = found.read_bytes()[:64].decode("ascii", errors="replace").strip()
    return named or None


def _sibling(shp: Path, suffix: str) -> Path | None:
    """A Shapefile's part, whatever the case of its suffix (FARMS.DBF beside farms.shp)."""
    return next((p for p in shp.parent.iterdir() if p.stem == shp.stem and p.suffix.lower() == suffix), None)


@contextmanager
def opened(path: Path, *, layer: str | None = None, encoding: str | None = None) -> Iterator[GeoFile]:
    """The GIS file at `path`, ready to read; BadParameter("file", …) naming it when it cannot be.

    `layer` chooses a GeoPackage's layer, a KML folder or a shapefile of a zip; `encoding` overrides a
    Shapefile's DBF encoding (its .cpg, else detected).
    """
    name = path.name
    if not path.is_file():
        raise BadParameter("file", f"{name} is not a file")
    with tempfile.TemporaryDirectory(prefix="sanichain-import-") as tmp:
        target, wanted = path, layer
        if path.suffix.lower() in (".zip", ".kmz"):
            target, wanted = _unpack(path, name, Path(tmp), layer)
        _check_kind(target, name)
        pyogrio = _gdal()
        chosen = cpg = None  # only a Shapefile's DBF has an encoding of its own; the others are UTF-8
        if target.suffix.lower() == ".shp":
            chosen, cpg = encoding, _cpg(target)
            if chosen is None and cpg is None:
                dbf = _sibling(target, ".dbf")
                chosen = dbf_encoding(dbf) if dbf is not None else None
        layers = _layers(pyogrio, target, name, wanted)
        fields: list[str] = []
        crs: str | None = None
        for one in layers:
            try:
                meta = pyogrio.read_info(target, layer=one, encoding=chosen)
            except Exception as error:
                raise _unreadable(name, error) from error
            crs = crs or meta.get("crs")
            drawing = _KML_DRAWING if target.suffix.lower() == ".kml" else frozenset()
            fields.extend(str(f) for f in meta["fields"] if str(f) not in fields and str(f) not in drawing)
        yield GeoFile(target, name, layers, crs, chosen, tuple(fields), _kind(path, target), cpg)


def _value(value: Any) -> Any:
    """A plain Python value from GDAL's arrays: None for nulls (NaN, NaT, masked)."""
    if value is None:
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, bytes):
        return None  # binary fields carry nothing a layer's field takes
    return value


def _layer_features(geofile: GeoFile, layer: str) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    pyogrio = _gdal()
    # GeoPackage and Shapefile seek to a feature; GDAL parses GeoJSON and KML whole on every opening,
    # so those are read in one go rather than opened again per batch.
    batch = BATCH if geofile.path.suffix.lower() in SEEKABLE else None
    skip = 0
    while True:
        try:
            meta, _, geometries, columns = pyogrio.raw.read(
                geofile.path,
                layer=layer,
                encoding=geofile.encoding,
                skip_features=skip,
                max_features=batch,
                datetime_as_string=True,
            )
        except Exception as error:  # a file cut short fails here, part way through
            raise _unreadable(geofile.name, error) from error
        names = [str(f) for f in meta["fields"]]
        count = len(geometries) if geometries is not None else (len(columns[0]) if columns else 0)
        shapes = _shapes(geometries) if geometries is not None else [None] * count
        for i in range(count):
            properties = {n: _value(column[i]) for n, column in zip(names, columns, strict=True)}
            yield properties, _plain(shapes[i])
        if batch is None or count < batch:
            return
        skip += count


def _shapes(geometries: Any) -> list[Any]:
    """GeoJSON-like mappings of a batch's WKB geometries (None stays None); decoded in one call."""
    import shapely

    try:
        decoded = shapely.from_wkb(geometries)
    except shapely.errors.GEOSException:  # one broken geometry: decode one by one to spare the rest
        decoded = [_one(wkb) for wkb in geometries]
    return [None if g is None else shapely.geometry.mapping(g) for g in decoded]


def _one(wkb: Any) -> Any:
    import shapely

    try:
        return None if wkb is None else shapely.from_wkb(wkb)
    except shapely.errors.GEOSException:
        return shapely.GeometryCollection()  # reads as "geometry is a GeometryCollection"


def _plain(geometry: Any) -> dict[str, Any] | None:
    """Shapely's mapping with lists for tuples (GeoJSON as json.loads would give it)."""
    if geometry is None:
        return None

    def lists(value: Any) -> Any:
        return [lists(v) for v in value] if isinstance(value, list | tuple) else value

    if geometry.get("type") == "GeometryCollection":
        return {"type": "GeometryCollection", "geometries": [_plain(g) for g in geometry["geometries"]]}
    return {"type": geometry["type"], "coordinates": lists(geometry.get("coordinates", []))}
