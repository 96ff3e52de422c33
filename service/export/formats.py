"""The export formats: one registry that the API, the command line and the OpenAPI document read.

A new format is one `ExportFormat` in `FORMATS`: its media type, whether it is streamed (a `stream`
writer) or needs a file (a `write` writer), and its CRS rule.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.export.layer_reader import LayerExport, Progress

Chunks = Generator[bytes, None, None]


# The writers load their modules (and the database layer) when first called: the command line reads
# this registry to build its parser, and starting it should not cost a second of imports.
def _geojson(one: LayerExport, _: str, progress: Progress | None) -> Chunks:
    from service.export import geojson

    return geojson.feature_collection(one, progress)


def _geojsonseq(one: LayerExport, _: str, progress: Progress | None) -> Chunks:
    from service.export import geojson

    return geojson.sequence(one, progress)


def _csv(one: LayerExport, geometry: str, progress: Progress | None) -> Chunks:
    from service.export import tabular

    return tabular.csv_chunks(one, geometry, progress)


def _kml(one: LayerExport, _: str, progress: Progress | None) -> Chunks:
    from service.export import kml

    return kml.kml_chunks(one, progress)


def _xlsx(layers: list[LayerExport], geometry: str, path: Path, progress: Progress | None) -> object:
    from service.export import tabular

    return tabular.write_xlsx(layers[0], geometry, path, progress)


def _gpkg(layers: list[LayerExport], _: str, path: Path, progress: Progress | None) -> object:
    from service.export import gpkg

    return gpkg.write_gpkg(layers, path, progress)


@dataclass(frozen=True)
class ExportFormat:
    """One export format: everything the API, the command line and the OpenAPI document say about it."""

    name: str  # the file extension, and the value of `format`
    title: str
    media_type: str
    wgs84_only: bool  # RFC 7946 and KML 2.2 fix the CRS: `crs` is refused
    # streamed formats are written as they are read: (layer, geometry mode, progress) → bytes
    stream: Callable[[LayerExport, str, Progress | None], Chunks] | None = None
    # the others need a file (a zip or a database): (layers, geometry mode, path, progress)
    write: Callable[[list[LayerExport], str, Path, Progress | None], object] | None = None
    every_layer: bool = False  # can hold all layers in one file (all.gpkg)

    @property
    def streamed(self) -> bool:
        return self.stream is not None


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "geojson",
            "GeoJSON",
            "application/geo+json",
            wgs84_only=True,
            stream=_geojson,
        ),
        ExportFormat(
            "geojsonseq",
            "GeoJSON Sequence",
            "application/geo+json-seq",
            wgs84_only=True,
            stream=_geojsonseq,
        ),
        ExportFormat("csv", "CSV", "text/csv; charset=utf-8", wgs84_only=False, stream=_csv),
        ExportFormat(
            "xlsx",
            "XLSX",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            wgs84_only=False,
            write=_xlsx,
        ),
        ExportFormat(
            "kml",
            "KML",
            "application/vnd.google-earth.kml+xml",
            wgs84_only=True,
            stream=_kml,
        ),
        ExportFormat(
            "gpkg",
            "GeoPackage",
            "application/geopackage+sqlite3",
            wgs84_only=False,
            write=_gpkg,
            every_layer=True,
        ),
    )
}
ALL_LAYERS = "all"  # /export/all.gpkg: every layer in one GeoPackage
ALL_LAYER_PARAMETERS = ("bbox", "bbox-crs", "crs", "datetime")


def titles() -> str:
    """Every format's title ("GeoJSON, CSV or KML"), for summaries and help texts."""
    names = [f.title for f in FORMATS.values()]
    return ", ".join(names[:-1]) + " or " + names[-1]


def with_crs() -> str:
    """The formats whose CRS can be chosen, as "csv/xlsx/gpkg"."""
    return "/".join(f.name for f in FORMATS.values() if not f.wgs84_only)
